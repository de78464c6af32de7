// SPDX-License-Identifier: MIT
/*
 * hc-bench-stack: what the card stack (hc-emud + libhc + zero-copy streams) costs on top of
 * the model. Times the same prompt and greedy decode three ways:
 *   direct  in-process hc_forward + hc_sample (no stack at all)
 *   card    hc-emud running the model, tokens read through libhc
 *   null    hc-emud --null-model (benchmark only: tokens made without computing), the
 *           stack's ceiling in tokens/s
 * and reports time to first token, time per token and the per-token stack overhead.
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

static int bench_direct(const struct opts *o, struct result *r)
{
	struct hc_sampling greedy = { 0 };
	struct hc_model *m;
	struct hc_rom *rom;
	struct hc_kv *kv;
	char err[256];
	float *logits;
	int32_t *prompt, tok;
	double t0, t1, t2, ttft[64], per[64];
	uint32_t vocab, i;
	int rep;

	if (hc_rom_open(o->rom, &rom, err, sizeof(err)) ||
	    hc_model_new(rom, 1, HC_PATH_AUTO, &m, err, sizeof(err))) {
		fprintf(stderr, "hc-bench-stack: %s\n", err);
		return -1;
	}
	vocab = hc_model_arch(m)->vocab_size;
	logits = malloc(vocab * sizeof(*logits));
	prompt = malloc(o->n_prompt * sizeof(*prompt));
	make_prompt(prompt, o->n_prompt, vocab);
	kv = hc_kv_new(m, 0);
	for (rep = 0; rep < o->reps; rep++) {
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
		ttft[rep] = (t1 - t0) * 1e3;
		per[rep] = (t2 - t1) / (i - 1) * 1e6;
	}
	r->ttft_ms = median(ttft, o->reps);
	r->per_tok_us = median(per, o->reps);
	r->tok_s = 1e6 / r->per_tok_us;
	hc_kv_free(kv);
	free(prompt);
	free(logits);
	hc_model_free(m);
	hc_rom_close(rom);
	return 0;
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

static int bench_card(const struct opts *o, const char *uri, struct result *r)
{
	struct hc_decode_params dp = { 0 };
	struct hc_card_info info;
	struct hc_card *card;
	struct hc_stream *s;
	struct hc_ctx *ctx;
	const uint32_t *t;
	double t0, t1 = 0, t2, ttft[64], per[64];
	int32_t *prompt;
	uint64_t got;
	unsigned k;
	int rep, rc;

	rc = hc_open(uri, &card);
	if (rc) {
		fprintf(stderr, "hc-bench-stack: %s: %s\n", uri, hc_strerror(rc));
		return -1;
	}
	hc_card_info(card, &info);
	prompt = malloc(o->n_prompt * sizeof(*prompt));
	make_prompt(prompt, o->n_prompt, info.vocab_size);
	dp.max_tokens = o->n_tokens;
	rc = hc_ctx_create(card, &ctx);
	for (rep = 0; !rc && rep < o->reps; rep++) {
		rc = hc_ctx_reset(ctx);
		if (rc)
			break;
		t0 = now();
		rc = hc_ctx_prefill_tokens(ctx, prompt, o->n_prompt);
		if (!rc)
			rc = hc_ctx_decode(ctx, &dp, &s);
		if (rc)
			break;
		got = 0;
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
			break;
		}
		ttft[rep] = (t1 - t0) * 1e3;
		per[rep] = (t2 - t1) / (got - 1) * 1e6;
	}
	if (rc) {
		fprintf(stderr, "hc-bench-stack: %s: %s\n", uri, hc_strerror(rc));
	} else {
		r->ttft_ms = median(ttft, o->reps);
		r->per_tok_us = median(per, o->reps);
		r->tok_s = 1e6 / r->per_tok_us;
	}
	hc_ctx_destroy(ctx);
	free(prompt);
	hc_close(card);
	return rc ? -1 : 0;
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
		"  --spin         consumer spins on hc_stream_peek instead of sleeping\n");
}

int main(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "rom", required_argument, NULL, 'r' },
		{ "emud", required_argument, NULL, 'e' },
		{ "prompt", required_argument, NULL, 'p' },
		{ "reps", required_argument, NULL, 'R' },
		{ "spin", no_argument, NULL, 's' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 }
	};
	struct opts o = { .emud = "build/hc-emud", .n_tokens = 256, .n_prompt = 16, .reps = 5 };
	struct result direct, card, null;
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
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (!o.rom || o.n_tokens < 2 || !o.n_prompt || o.reps < 1 || o.reps > 64) {
		usage(stderr);
		return 2;
	}
	if (bench_direct(&o, &direct))
		return 1;
	if (!mkdtemp(dir)) {
		perror("hc-bench-stack: mkdtemp");
		return 1;
	}
	snprintf(sock, sizeof(sock), "%s/emud.sock", dir);
	snprintf(uri, sizeof(uri), "emu:%s", sock);
	pid = start_emud(&o, sock, 0);
	if (pid < 0 || bench_card(&o, uri, &card)) {
		fprintf(stderr, "hc-bench-stack: %s did not serve %s\n", o.emud, sock);
		if (pid > 0)
			stop_emud(pid);
		rmdir(dir);
		return 1;
	}
	stop_emud(pid);
	have_null = emud_has_null_model(o.emud);
	if (have_null) {
		pid = start_emud(&o, sock, 1);
		if (pid < 0 || bench_card(&o, uri, &null))
			have_null = 0;
		if (pid > 0)
			stop_emud(pid);
	}
	unlink(sock);
	rmdir(dir);

	printf("hc-bench-stack: %s, prompt %u tokens, %u generated (greedy), median of %d, "
	       "consumer %s\n", o.rom, o.n_prompt, o.n_tokens, o.reps,
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
