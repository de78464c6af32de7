// SPDX-License-Identifier: MIT
/*
 * hc-bench-stack: what the card stack (hc-emud + libhc + zero-copy streams) costs on top of
 * the model. Times the same prompt and greedy decode three ways:
 *   direct  in-process hc_forward + hc_sample (no stack at all)
 *   card    hc-emud running the model, tokens read through libhc
 *   null    hc-emud --null-model (benchmark only: tokens made without computing), the
 *           stack's ceiling in tokens/s
 * and reports time to first token, wall time per generated token (whole job, prompt included,
 * divided by the tokens) and the per-token stack overhead. Direct and card repetitions
 * alternate so both see the same machine load.
 * Not a test: numbers depend on the machine and its load.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include "hc/hc.h"
#include "model.h"
#include "rom.h"

struct opts {
	const char *rom;
	const char *emud;
	uint32_t n_tokens;
	uint32_t n_prompt;
	uint32_t null_tokens;	/* --null-model run: far more tokens than a ring holds */
	int reps;
	int spin;	/* consumer spins on peek instead of sleeping in hc_stream_wait */
};

struct result {
	double ttft_ms;		/* prompt submitted -> first token readable */
	double per_tok_us;	/* steady-state time per further token */
	double tok_s;
};

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static int cmp_d(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static double median(double *v, int n)
{
	qsort(v, n, sizeof(*v), cmp_d);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static void make_prompt(int32_t *p, uint32_t n, uint32_t vocab)
{
	uint32_t i;

	p[0] = 1 % vocab;
	for (i = 1; i < n; i++)
		p[i] = (int32_t)((i * 7919u + 13) % vocab);
}

struct direct {
	struct hc_model *m;
	struct hc_rom *rom;
	struct hc_kv *kv;
	float *logits;
	int32_t *prompt;
	uint32_t vocab;
};

static int direct_open(const struct opts *o, struct direct *d)
{
	char err[256];

	if (hc_rom_open(o->rom, &d->rom, err, sizeof(err)) ||
	    hc_model_new(d->rom, 1, HC_PATH_AUTO, &d->m, err, sizeof(err))) {
		fprintf(stderr, "hc-bench-stack: %s\n", err);
		return -1;
	}
	d->vocab = hc_model_arch(d->m)->vocab_size;
	d->logits = malloc(d->vocab * sizeof(*d->logits));
	d->prompt = malloc(o->n_prompt * sizeof(*d->prompt));
	make_prompt(d->prompt, o->n_prompt, d->vocab);
	d->kv = hc_kv_new(d->m, 0);
	return d->logits && d->prompt && d->kv ? 0 : -1;
}

static void direct_close(struct direct *d)
{
	hc_kv_free(d->kv);
	free(d->prompt);
	free(d->logits);
	hc_model_free(d->m);
	hc_rom_close(d->rom);
}

/* One repetition in-process: TTFT and time per further token. */
static void direct_rep(const struct opts *o, struct direct *d, double *ttft, double *per)
{
	struct hc_sampling greedy = { 0 };
	struct hc_model *m = d->m;
	struct hc_kv *kv = d->kv;
	float *logits = d->logits;
	int32_t *prompt = d->prompt, tok;
	uint32_t vocab = d->vocab, i;
	double t0, t1, t2;

	{
		hc_kv_reset(kv);
		t0 = now();
		hc_forward(m, kv, prompt, o->n_prompt, logits);
		tok = hc_sample(logits, vocab, &greedy, 0, NULL);
		t1 = now();
		for (i = 1; i < o->n_tokens; i++) {
			if (hc_forward(m, kv, &tok, 1, logits))
				break;
			tok = hc_sample(logits, vocab, &greedy, i, NULL);
		}
		t2 = now();
		*ttft = (t1 - t0) * 1e3;
		*per = (t2 - t0) / i * 1e6;
	}
}

static pid_t start_emud(const struct opts *o, const char *sock, int null_model)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	pid_t pid = fork();
	int i, fd;

	if (pid == 0) {
		fd = open("/dev/null", O_WRONLY);
		if (fd >= 0)
			dup2(fd, 2);
		if (null_model)
			execl(o->emud, o->emud, "--rom", o->rom, "--socket", sock, "--null-model",
			      (char *)NULL);
		else
			execl(o->emud, o->emud, "--rom", o->rom, "--socket", sock, (char *)NULL);
		_exit(127);
	}
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", sock);
	for (i = 0; i < 3000; i++) {
		int st;

		fd = socket(AF_UNIX, SOCK_STREAM, 0);
		if (fd >= 0 && connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0) {
			close(fd);
			return pid;
		}
		if (fd >= 0)
			close(fd);
		if (waitpid(pid, &st, WNOHANG) == pid)
			return -1;
		usleep(10000);
	}
	kill(pid, SIGTERM);
	waitpid(pid, NULL, 0);
	return -1;
}

static void stop_emud(pid_t pid)
{
	kill(pid, SIGTERM);
	waitpid(pid, NULL, 0);
}

struct card {
	struct hc_card *card;
	struct hc_ctx *ctx;
	int32_t *prompt;
};

static int card_open(const struct opts *o, const char *uri, struct card *c)
{
	struct hc_card_info info;
	int rc;

	rc = hc_open(uri, &c->card);
	if (rc) {
		fprintf(stderr, "hc-bench-stack: %s: %s\n", uri, hc_strerror(rc));
		return -1;
	}
	hc_card_info(c->card, &info);
	c->prompt = malloc(o->n_prompt * sizeof(*c->prompt));
	make_prompt(c->prompt, o->n_prompt, info.vocab_size);
	rc = hc_ctx_create(c->card, &c->ctx);
	if (rc) {
		fprintf(stderr, "hc-bench-stack: context: %s\n", hc_strerror(rc));
		return -1;
	}
	return 0;
}

static void card_close(struct card *c)
{
	hc_ctx_destroy(c->ctx);
	free(c->prompt);
	hc_close(c->card);
}

/* One repetition through the card: prompt submitted -> first token readable, then the rest. */
static int card_rep(const struct opts *o, struct card *c, uint32_t n_tokens, double *ttft,
		    double *per)
{
	struct hc_decode_params dp = { .max_tokens = n_tokens };
	struct hc_stream *s;
	const uint32_t *t;
	double t0, t1 = 0, t2;
	uint64_t got = 0;
	unsigned k;
	int rc;

	rc = hc_ctx_reset(c->ctx);
	if (rc)
		goto fail;
	t0 = now();
	rc = hc_ctx_prefill_tokens(c->ctx, c->prompt, o->n_prompt);
	if (!rc)
		rc = hc_ctx_decode(c->ctx, &dp, &s);
	if (rc)
		goto fail;
	for (;;) {
		k = hc_stream_peek(s, &t);
		if (k) {
			if (!got)
				t1 = now();
			got += k;
			hc_stream_advance(s, k);
			continue;
		}
		if (hc_stream_status(s, NULL))
			break;
		if (!o->spin)
			hc_stream_wait(&s, 1, -1);
	}
	t2 = now();
	hc_stream_free(s);
	if (got < 2) {
		rc = -EIO;
		goto fail;
	}
	*ttft = (t1 - t0) * 1e3;
	/* whole job / tokens: tokens arrive in bursts after a late wake-up, so the time
	 * between first and last token alone would flatter the stack */
	*per = (t2 - t0) / got * 1e6;
	return 0;
fail:
	fprintf(stderr, "hc-bench-stack: card: %s\n", hc_strerror(rc));
	return -1;
}

static void summarize(double *ttft, double *per, int n, struct result *r)
{
	r->ttft_ms = median(ttft, n);
	r->per_tok_us = median(per, n);
	r->tok_s = 1e6 / r->per_tok_us;
}

static int emud_has_null_model(const char *emud)
{
	char cmd[600], line[512];
	FILE *f;
	int found = 0;

	snprintf(cmd, sizeof(cmd), "'%s' --help 2>&1", emud);
	f = popen(cmd, "r");
	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f))
		found |= strstr(line, "--null-model") != NULL;
	pclose(f);
	return found;
}

static void usage(FILE *f)
{
	fprintf(f,
		"usage: hc-bench-stack --rom ROM [--emud PATH] [-n TOKENS] [--prompt N] [--reps R]"
		" [--spin]\n"
		"  --rom ROM      model to time (in-process and on hc-emud)\n"
		"  --emud PATH    hc-emud binary (default build/hc-emud)\n"
		"  -n TOKENS      tokens per decode (default 256; at most max_ctx - prompt)\n"
		"  --prompt N     prompt tokens (default 16)\n"
		"  --reps R       repetitions, the median is reported (default 5, max 64)\n"
		"  --spin         consumer spins on hc_stream_peek instead of sleeping\n"
		"  --null-tokens N  tokens per decode on hc-emud --null-model (default 200000)\n");
}

int main(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "rom", required_argument, NULL, 'r' },
		{ "emud", required_argument, NULL, 'e' },
		{ "prompt", required_argument, NULL, 'p' },
		{ "reps", required_argument, NULL, 'R' },
		{ "spin", no_argument, NULL, 's' },
		{ "null-tokens", required_argument, NULL, 'N' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 }
	};
	struct opts o = { .emud = "build/hc-emud", .n_tokens = 256, .n_prompt = 16, .reps = 5,
			  .null_tokens = 200000 };
	struct result direct, card, null;
	double dt[64], dp[64], ct[64], cp[64];
	struct direct d = { 0 };
	struct card c = { 0 };
	int rep;
	char dir[] = "/tmp/hc-bench-XXXXXX", sock[128], uri[160];
	int ch, have_null;
	pid_t pid;

	while ((ch = getopt_long(argc, argv, "n:h", lo, NULL)) != -1) {
		switch (ch) {
		case 'r': o.rom = optarg; break;
		case 'e': o.emud = optarg; break;
		case 'n': o.n_tokens = (uint32_t)atoi(optarg); break;
		case 'p': o.n_prompt = (uint32_t)atoi(optarg); break;
		case 'R': o.reps = atoi(optarg); break;
		case 's': o.spin = 1; break;
		case 'N': o.null_tokens = (uint32_t)atoi(optarg); break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (!o.rom || o.n_tokens < 2 || !o.n_prompt || o.reps < 1 || o.reps > 64 ||
	    o.null_tokens < 2) {
		usage(stderr);
		return 2;
	}
	if (direct_open(&o, &d))
		return 1;
	if (!mkdtemp(dir)) {
		perror("hc-bench-stack: mkdtemp");
		return 1;
	}
	snprintf(sock, sizeof(sock), "%s/emud.sock", dir);
	snprintf(uri, sizeof(uri), "emu:%s", sock);
	pid = start_emud(&o, sock, 0);
	if (pid < 0 || card_open(&o, uri, &c)) {
		fprintf(stderr, "hc-bench-stack: %s did not serve %s\n", o.emud, sock);
		if (pid > 0)
			stop_emud(pid);
		rmdir(dir);
		return 1;
	}
	/* alternate the two so both see the same machine load */
	for (rep = 0; rep < o.reps; rep++) {
		direct_rep(&o, &d, &dt[rep], &dp[rep]);
		if (card_rep(&o, &c, o.n_tokens, &ct[rep], &cp[rep]))
			break;
	}
	card_close(&c);
	stop_emud(pid);
	direct_close(&d);
	if (rep < o.reps)
		return 1;
	summarize(dt, dp, o.reps, &direct);
	summarize(ct, cp, o.reps, &card);
	have_null = emud_has_null_model(o.emud);
	if (have_null) {
		pid = start_emud(&o, sock, 1);
		have_null = pid > 0 && !card_open(&o, uri, &c);
		for (rep = 0; have_null && rep < o.reps; rep++)
			have_null = !card_rep(&o, &c, o.null_tokens, &ct[rep], &cp[rep]);
		if (pid > 0) {
			card_close(&c);
			stop_emud(pid);
		}
		if (have_null)
			summarize(ct, cp, o.reps, &null);
	}
	unlink(sock);
	rmdir(dir);

	printf("hc-bench-stack: %s, prompt %u tokens, %u generated (greedy; null model %u), "
	       "median of %d, consumer %s\n", o.rom, o.n_prompt, o.n_tokens, o.null_tokens, o.reps,
	       o.spin ? "spinning" : "sleeping in hc_stream_wait");
	printf("%-34s %12s %14s %12s\n", "path", "TTFT ms", "us/token", "tokens/s");
	printf("%-34s %12.3f %14.2f %12.0f\n", "in-process hc_forward+hc_sample", direct.ttft_ms,
	       direct.per_tok_us, direct.tok_s);
	printf("%-34s %12.3f %14.2f %12.0f\n", "hc-emud + libhc (model)", card.ttft_ms,
	       card.per_tok_us, card.tok_s);
	if (have_null)
		printf("%-34s %12.3f %14.2f %12.0f\n", "hc-emud --null-model + libhc", null.ttft_ms,
		       null.per_tok_us, null.tok_s);
	else
		printf("%-34s %12s\n", "hc-emud --null-model + libhc", "(hc-emud has no --null-model)");
	printf("stack overhead per token: %.2f us (card - in-process); TTFT overhead %.3f ms\n",
	       card.per_tok_us - direct.per_tok_us, card.ttft_ms - direct.ttft_ms);
	return 0;
}
