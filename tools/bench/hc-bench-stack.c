// SPDX-License-Identifier: MIT
/*
 * hc-bench-stack: what the card stack (hc-emud + libhc + zero-copy streams) costs on top of
 * the model. Times the same prompt and greedy decode three ways:
 *   direct  in-process hc_forward + hc_sample (no stack at all)
 *   card    hc-emud running the model, tokens read through libhc
 *   null    hc-emud --null-model (benchmark only: tokens made without computing), the
 *           stack's ceiling in tokens/s
 * For each: time to first token and wall time per token (whole job / tokens), plus CPU time
 * per token of the application and of the card (hc-emud, from /proc schedstat). CPU time is
 * what the stack adds per token and, unlike wall time, barely moves with machine load.
 * Direct and card repetitions alternate so both see the same load. Not a test.
 */
#include <dirent.h>
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

#define MAX_REPS 64

struct opts {
	const char *rom;
	const char *emud;
	uint32_t n_tokens;
	uint32_t n_prompt;
	uint32_t null_tokens;	/* --null-model run: far more tokens than a ring holds */
	int reps;
	int spin;		/* consumer spins on peek instead of sleeping in hc_stream_wait */
};

/* One repetition. */
struct sample {
	double ttft_ms;		/* prompt submitted -> first token readable */
	double wall_us;		/* whole job / tokens */
	double app_cpu_us;	/* this process's CPU / tokens */
	double card_cpu_us;	/* hc-emud's CPU / tokens (0 in-process) */
};

static double now(clockid_t clk)
{
	struct timespec ts;

	clock_gettime(clk, &ts);
	return ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* CPU seconds of every thread of @pid (schedstat: ns on CPU, first field). */
static double proc_cpu(pid_t pid)
{
	char path[64], line[128];
	struct dirent *de;
	double sum = 0;
	DIR *d;

	snprintf(path, sizeof(path), "/proc/%d/task", (int)pid);
	d = opendir(path);
	if (!d)
		return 0;
	while ((de = readdir(d))) {
		FILE *f;

		if (de->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "/proc/%d/task/%.16s/schedstat", (int)pid, de->d_name);
		f = fopen(path, "r");
		if (f && fgets(line, sizeof(line), f))
			sum += strtod(line, NULL) * 1e-9;
		if (f)
			fclose(f);
	}
	closedir(d);
	return sum;
}

static int cmp_d(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/* Median of each field over @n samples. */
static struct sample median(const struct sample *s, int n)
{
	double v[MAX_REPS];
	struct sample m;
	int f, i;

	for (f = 0; f < 4; f++) {
		for (i = 0; i < n; i++)
			v[i] = ((const double *)&s[i])[f];
		qsort(v, n, sizeof(*v), cmp_d);
		((double *)&m)[f] = n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
	}
	return m;
}

static void make_prompt(int32_t *p, uint32_t n, uint32_t vocab)
{
	uint32_t i;

	p[0] = 1 % vocab;
	for (i = 1; i < n; i++)
		p[i] = (int32_t)((i * 7919u + 13) % vocab);
}

/* ---- in-process ---- */

struct direct {
	struct hc_rom *rom;
	struct hc_model *m;
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
	d->kv = hc_kv_new(d->m, 0);
	if (!d->logits || !d->prompt || !d->kv)
		return -1;
	make_prompt(d->prompt, o->n_prompt, d->vocab);
	return 0;
}

static void direct_close(struct direct *d)
{
	hc_kv_free(d->kv);
	free(d->prompt);
	free(d->logits);
	hc_model_free(d->m);
	hc_rom_close(d->rom);
}

static void direct_rep(const struct opts *o, struct direct *d, struct sample *s)
{
	struct hc_sampling greedy = { 0 };
	double t0, t1, t2, c0;
	int32_t tok;
	uint32_t i;

	hc_kv_reset(d->kv);
	c0 = now(CLOCK_PROCESS_CPUTIME_ID);
	t0 = now(CLOCK_MONOTONIC);
	hc_forward(d->m, d->kv, d->prompt, o->n_prompt, d->logits);
	tok = hc_sample(d->logits, d->vocab, &greedy, 0, NULL);
	t1 = now(CLOCK_MONOTONIC);
	for (i = 1; i < o->n_tokens; i++) {
		if (hc_forward(d->m, d->kv, &tok, 1, d->logits))
			break;
		tok = hc_sample(d->logits, d->vocab, &greedy, i, NULL);
	}
	t2 = now(CLOCK_MONOTONIC);
	s->ttft_ms = (t1 - t0) * 1e3;
	s->wall_us = (t2 - t0) / i * 1e6;
	s->app_cpu_us = (now(CLOCK_PROCESS_CPUTIME_ID) - c0) / i * 1e6;
	s->card_cpu_us = 0;
}

/* ---- through the card ---- */

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
	if (pid < 0)
		return -1;
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", sock);
	for (i = 0; i < 3000; i++) {
		fd = socket(AF_UNIX, SOCK_STREAM, 0);
		if (fd >= 0 && connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0) {
			close(fd);
			return pid;
		}
		if (fd >= 0)
			close(fd);
		if (waitpid(pid, NULL, WNOHANG) == pid)
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
	pid_t emud;
	struct hc_card *card;
	struct hc_ctx *ctx;
	int32_t *prompt;
};

static int card_open(const struct opts *o, const char *uri, pid_t emud, struct card *c)
{
	struct hc_card_info info;
	int rc;

	c->emud = emud;
	rc = hc_open(uri, &c->card);
	if (!rc) {
		hc_card_info(c->card, &info);
		c->prompt = malloc(o->n_prompt * sizeof(*c->prompt));
		if (!c->prompt)
			rc = -ENOMEM;
		else
			make_prompt(c->prompt, o->n_prompt, info.vocab_size);
	}
	if (!rc)
		rc = hc_ctx_create(c->card, &c->ctx);
	if (rc)
		fprintf(stderr, "hc-bench-stack: %s: %s\n", uri, hc_strerror(rc));
	return rc;
}

static void card_close(struct card *c)
{
	hc_ctx_destroy(c->ctx);
	free(c->prompt);
	hc_close(c->card);
}

static int card_rep(const struct opts *o, struct card *c, uint32_t n_tokens, struct sample *s)
{
	struct hc_decode_params dp = { .max_tokens = n_tokens };
	double t0, t1 = 0, t2, c0, e0;
	struct hc_stream *st;
	const uint32_t *t;
	uint64_t got = 0;
	unsigned k;
	int rc;

	rc = hc_ctx_reset(c->ctx);
	if (rc)
		goto fail;
	e0 = proc_cpu(c->emud);
	c0 = now(CLOCK_PROCESS_CPUTIME_ID);
	t0 = now(CLOCK_MONOTONIC);
	rc = hc_ctx_prefill_tokens(c->ctx, c->prompt, o->n_prompt);
	if (!rc)
		rc = hc_ctx_decode(c->ctx, &dp, &st);
	if (rc)
		goto fail;
	for (;;) {
		k = hc_stream_peek(st, &t);
		if (k) {
			if (!got)
				t1 = now(CLOCK_MONOTONIC);
			got += k;
			hc_stream_advance(st, k);
			continue;
		}
		if (hc_stream_status(st, NULL))
			break;
		if (!o->spin)
			hc_stream_wait(&st, 1, -1);
	}
	t2 = now(CLOCK_MONOTONIC);
	s->app_cpu_us = (now(CLOCK_PROCESS_CPUTIME_ID) - c0) / got * 1e6;
	s->card_cpu_us = (proc_cpu(c->emud) - e0) / got * 1e6;
	hc_stream_free(st);
	if (got < 2) {
		rc = -EIO;
		goto fail;
	}
	s->ttft_ms = (t1 - t0) * 1e3;
	/* whole job / tokens: after a late wake-up tokens come in bursts, so first-to-last
	 * alone would flatter the stack */
	s->wall_us = (t2 - t0) / got * 1e6;
	return 0;
fail:
	fprintf(stderr, "hc-bench-stack: card: %s\n", hc_strerror(rc));
	return -1;
}

static int emud_has_null_model(const char *emud)
{
	char cmd[600], line[512];
	int found = 0;
	FILE *f;

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
		"usage: hc-bench-stack --rom ROM [--emud PATH] [-n TOKENS] [--prompt N] [--reps R]\n"
		"                      [--null-tokens N] [--spin]\n"
		"  --rom ROM         model to time (in-process and on hc-emud)\n"
		"  --emud PATH       hc-emud binary (default build/hc-emud)\n"
		"  -n TOKENS         tokens per decode (default 256; at most max_ctx - prompt)\n"
		"  --prompt N        prompt tokens (default 16)\n"
		"  --reps R          repetitions, medians reported (default 5, max %d)\n"
		"  --null-tokens N   tokens per decode on hc-emud --null-model (default 200000)\n"
		"  --spin            consumer spins on hc_stream_peek instead of sleeping\n"
		"  -V, --version     print the version and exit\n",
		MAX_REPS);
}

static void row(const char *name, const struct sample *m)
{
	printf("%-32s %9.3f %9.2f %10.0f %9.2f %9.2f\n", name, m->ttft_ms, m->wall_us,
	       1e6 / m->wall_us, m->app_cpu_us, m->card_cpu_us);
}

int main(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "rom", required_argument, NULL, 'r' },
		{ "emud", required_argument, NULL, 'e' },
		{ "prompt", required_argument, NULL, 'p' },
		{ "reps", required_argument, NULL, 'R' },
		{ "null-tokens", required_argument, NULL, 'N' },
		{ "spin", no_argument, NULL, 's' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ 0 }
	};
	struct opts o = { .emud = "build/hc-emud", .n_tokens = 256, .n_prompt = 16, .reps = 5,
			  .null_tokens = 200000 };
	struct sample ds[MAX_REPS], cs[MAX_REPS], ns[MAX_REPS], dm, cm, nm;
	char dir[] = "/tmp/hc-bench-XXXXXX", sock[128], uri[160];
	struct direct d = { 0 };
	struct card c = { 0 };
	int ch, rep, have_null, ok = 1;
	pid_t pid;

	while ((ch = getopt_long(argc, argv, "n:hV", lo, NULL)) != -1) {
		switch (ch) {
		case 'r': o.rom = optarg; break;
		case 'e': o.emud = optarg; break;
		case 'n': o.n_tokens = (uint32_t)atoi(optarg); break;
		case 'p': o.n_prompt = (uint32_t)atoi(optarg); break;
		case 'R': o.reps = atoi(optarg); break;
		case 'N': o.null_tokens = (uint32_t)atoi(optarg); break;
		case 's': o.spin = 1; break;
		case 'h': usage(stdout); return 0;
		case 'V': printf("hc-bench-stack " HC_VERSION_STRING "\n"); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (!o.rom || o.n_tokens < 2 || !o.n_prompt || o.reps < 1 || o.reps > MAX_REPS ||
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
	if (pid < 0 || card_open(&o, uri, pid, &c)) {
		fprintf(stderr, "hc-bench-stack: %s did not serve %s\n", o.emud, sock);
		if (pid > 0)
			stop_emud(pid);
		rmdir(dir);
		return 1;
	}
	for (rep = 0; ok && rep < o.reps; rep++) {
		direct_rep(&o, &d, &ds[rep]);
		ok = !card_rep(&o, &c, o.n_tokens, &cs[rep]);
	}
	card_close(&c);
	stop_emud(pid);
	direct_close(&d);
	if (!ok) {
		rmdir(dir);
		return 1;
	}

	have_null = emud_has_null_model(o.emud);
	if (have_null) {
		memset(&c, 0, sizeof(c));
		pid = start_emud(&o, sock, 1);
		have_null = pid > 0 && !card_open(&o, uri, pid, &c);
		for (rep = 0; have_null && rep < o.reps; rep++)
			have_null = !card_rep(&o, &c, o.null_tokens, &ns[rep]);
		if (pid > 0) {
			card_close(&c);
			stop_emud(pid);
		}
	}
	unlink(sock);
	rmdir(dir);

	dm = median(ds, o.reps);
	cm = median(cs, o.reps);
	printf("hc-bench-stack: %s, prompt %u, %u tokens greedy (null model: %u), median of %d,"
	       " consumer %s\n", o.rom, o.n_prompt, o.n_tokens, o.null_tokens, o.reps,
	       o.spin ? "spinning" : "sleeping in hc_stream_wait");
	printf("%-32s %9s %9s %10s %9s %9s\n", "path", "TTFT ms", "wall us", "tokens/s",
	       "app CPU", "card CPU");
	printf("%-32s %9s %9s %10s %9s %9s\n", "", "", "/token", "", "us/token", "us/token");
	row("in-process forward+sample", &dm);
	row("hc-emud + libhc", &cm);
	if (have_null) {
		nm = median(ns, o.reps);
		row("hc-emud --null-model + libhc", &nm);
	} else {
		printf("%-32s (hc-emud has no --null-model)\n", "hc-emud --null-model + libhc");
	}
	/*
	 * The stack's own cost per token: the application's CPU with the real model (its
	 * wake-ups and ring reads) plus the card's CPU when it computes nothing (scheduler,
	 * rings, interrupts). The model's compute is the rest of the card's CPU.
	 */
	printf("model compute per token: %.2f us CPU in-process, %.2f us on the card\n",
	       dm.app_cpu_us, cm.card_cpu_us);
	printf("stack cost per token: %.2f us application CPU", cm.app_cpu_us);
	if (have_null)
		printf(" + %.2f us card CPU (null model)", nm.card_cpu_us);
	printf("; time to first token %+.3f ms vs in-process\n", cm.ttft_ms - dm.ttft_ms);
	if (have_null)
		printf("stack ceiling (null model): %.0f tokens/s\n", 1e6 / nm.wall_us);
	return 0;
}
