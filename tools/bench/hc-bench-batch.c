// SPDX-License-Identifier: MIT
/*
 * hc-bench-batch: batched decode through hc-emud. For each N of --contexts (default 1,4,16,32)
 * N contexts of one client are prefilled (each with its own prompt) and then all decode
 * --decode tokens at once, read by one thread in hc_stream_wait_any(); hc-emud batches every
 * decoding context into one forward pass per round (hc_forward_batch). Reported per N: the
 * aggregate decode rate (N x tokens / wall time from the first DECODE to the last token), per
 * stream rate, and the ratio to N = 1. Then each of the largest N's contexts is run alone
 * (same prompt, same card) and its tokens are compared with its batched run: "streams equal
 * solo: k/N". With --join P, a prompt of P tokens is then prefilled alone, and again while
 * the largest N decode (from another thread): its prefill time both ways and the others'
 * aggregate during it show what riding in their passes costs and saves. Not a test: the
 * comparison is reported, nothing is asserted (the exactness of batching is tested by
 * tests/emu, batch_equals_solo, items_equal_solo).
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include "hc/hc.h"
#include "bench_emud.h"

#define MAX_N 64
#define MAX_LIST 16

static double mono(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* Context @i's prompt: BOS then a sequence of its own. */
static void make_prompt(int32_t *p, uint32_t n, uint32_t vocab, unsigned i)
{
	p[0] = 1 % vocab;
	for (uint32_t k = 1; k < n; k++)
		p[k] = (int32_t)((k * 7919u + i * 104729u + 13) % vocab);
}

/* A prompt prefilled while the others decode (--join), from its own thread */
struct join {
	struct hc_ctx *ctx;
	const int32_t *prompt;
	uint32_t n;
	double secs;		/* the prefill's wall time */
	int rc;
	pthread_t thread;
};

/* Reset the joiner's context and prefill its prompt; the time in j->secs. */
static void *join_prefill(void *arg)
{
	struct join *j = arg;
	double t0;

	j->rc = hc_ctx_reset(j->ctx);
	t0 = mono();
	if (!j->rc)
		j->rc = hc_ctx_prefill_tokens(j->ctx, j->prompt, j->n);
	j->secs = mono() - t0;
	return NULL;
}

/*
 * Prefill contexts @first..@first+@n-1, then decode @nt tokens on all of them at once; tokens
 * land in @out[ctx][k]. With @join, its prompt is prefilled meanwhile. Return: decode wall
 * seconds, or < 0 on error.
 */
static double run(struct hc_ctx **ctx, unsigned first, unsigned n, int32_t **prompts,
		  uint32_t np, uint32_t nt, uint32_t **out, struct join *join)
{
	struct hc_decode_params dp = { .max_tokens = nt };
	struct hc_stream *st[MAX_N] = { 0 };
	uint32_t got[MAX_N] = { 0 };
	unsigned ready[MAX_N], live = n;
	double t0;
	int rc = 0;

	for (unsigned i = 0; i < n && !rc; i++) {
		rc = hc_ctx_reset(ctx[first + i]);
		if (!rc)
			rc = hc_ctx_prefill_tokens(ctx[first + i], prompts[first + i], np);
	}
	t0 = mono();
	for (unsigned i = 0; i < n && !rc; i++)
		rc = hc_ctx_decode(ctx[first + i], &dp, &st[i]);
	if (!rc && join && pthread_create(&join->thread, NULL, join_prefill, join))
		join = NULL, rc = -EAGAIN;
	while (!rc && live) {
		int r = hc_stream_wait_any(st, n, -1, ready);

		if (r < 0) {
			rc = r;
			break;
		}
		for (int j = 0; j < r; j++) {
			unsigned i = ready[j];
			const uint32_t *t;
			unsigned k;

			while ((k = hc_stream_peek(st[i], &t))) {
				for (unsigned q = 0; q < k && got[i] < nt; q++)
					out[first + i][got[i]++] = t[q];
				hc_stream_advance(st[i], k);
			}
			if (hc_stream_status(st[i], NULL)) {
				hc_stream_free(st[i]);
				st[i] = NULL;
				live--;
			}
		}
	}
	t0 = mono() - t0;
	if (join) {
		pthread_join(join->thread, NULL);
		if (!rc)
			rc = join->rc;
	}
	for (unsigned i = 0; i < n; i++) {
		if (st[i])
			hc_stream_free(st[i]);
		if (!rc && got[i] != nt)
			rc = -EIO;
	}
	if (rc) {
		fprintf(stderr, "hc-bench-batch: %s\n", hc_strerror(rc));
		return -1;
	}
	return t0;
}

/*
 * --join: a prompt of @jn tokens prefilled alone, then while @n contexts decode; the best of
 * @reps each. Prints both times and the decoders' aggregate. 0, or -1 on error.
 */
static int join_report(struct hc_card *card, const struct hc_card_info *info,
		       struct hc_ctx **ctx, unsigned n, int32_t **prompts, uint32_t np,
		       uint32_t nt, uint32_t **out, uint32_t jn, unsigned reps)
{
	struct join j = { .n = jn };
	double alone = 0, joined = 0, dec = 0;
	int32_t *p = malloc(jn * sizeof(int32_t));
	int rc = -1;

	if (!p || hc_ctx_create(card, &j.ctx))
		goto out;
	make_prompt(p, jn, info->vocab_size, 1000);
	j.prompt = p;
	for (unsigned r = 0; r < reps; r++) {
		double s;

		join_prefill(&j);
		if (j.rc)
			goto out;
		alone = !alone || j.secs < alone ? j.secs : alone;
		s = run(ctx, 0, n, prompts, np, nt, out, &j);
		if (s < 0)
			goto out;
		joined = !joined || j.secs < joined ? j.secs : joined;
		dec = !dec || s < dec ? s : dec;
	}
	printf("join: a %u-token prompt prefills in %.3f s alone, %.3f s while %u contexts "
	       "decode (their aggregate %.1f t/s)\n", jn, alone, joined, n, n * nt / dec);
	rc = 0;
out:
	if (j.ctx)
		hc_ctx_destroy(j.ctx);
	free(p);
	return rc;
}

static void usage(void)
{
	fprintf(stderr,
		"usage: hc-bench-batch --rom ROM [--emud PATH] [--threads T] [--path NAME]\n"
		"                      [--contexts 1,4,16,32] [--prompt N] [--decode N]\n"
		"                      [--repeat R] [--no-solo] [--join P]\n"
		"       hc-bench-batch --version\n");
	exit(2);
}

int main(int argc, char **argv)
{
	const char *rom = NULL, *emud = "build/hc-emud", *threads = "1";
	const char *path = "auto";
	unsigned list[MAX_LIST], n_list = 0, maxn = 0, reps = 1, solo = 1;
	uint32_t np = 8, nt = 32, jn = 0;
	char dir[] = "/tmp/hc-bench-batch-XXXXXX", sock[96], uri[112], maxctx[32];
	static const struct option lo[] = {
		{ "rom", 1, 0, 'r' }, { "emud", 1, 0, 'e' }, { "threads", 1, 0, 't' },
		{ "path", 1, 0, 'P' }, { "contexts", 1, 0, 'c' }, { "prompt", 1, 0, 'p' }, { "decode", 1, 0, 'n' },
		{ "repeat", 1, 0, 'R' }, { "no-solo", 0, 0, 'S' },
		{ "join", 1, 0, 'J' }, { "version", 0, 0, 'V' },
		{ 0, 0, 0, 0 }
	};
	struct hc_card_info info;
	struct hc_ctx *ctx[MAX_N];
	int32_t *prompts[MAX_N];
	uint32_t *tok[MAX_N], *ref[MAX_N];
	struct hc_card *card;
	double base = 0;
	int o, rc = 1;
	pid_t pid;

	while ((o = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		switch (o) {
		case 'r': rom = optarg; break;
		case 'e': emud = optarg; break;
		case 't': threads = optarg; break;
		case 'P': path = optarg; break;
		case 'p': np = (uint32_t)atoi(optarg); break;
		case 'n': nt = (uint32_t)atoi(optarg); break;
		case 'R': reps = (unsigned)atoi(optarg); break;
		case 'S': solo = 0; break;
		case 'J': jn = (uint32_t)atoi(optarg); break;
		case 'V': printf("hc-bench-batch " HC_VERSION_STRING "\n"); return 0;
		case 'c':
			for (char *s = strtok(optarg, ","); s && n_list < MAX_LIST;
			     s = strtok(NULL, ","))
				list[n_list++] = (unsigned)atoi(s);
			break;
		default: usage();
		}
	}
	if (!n_list) {
		list[0] = 1, list[1] = 4, list[2] = 16, list[3] = 32;
		n_list = 4;
	}
	for (unsigned i = 0; i < n_list; i++) {
		if (!list[i] || list[i] > MAX_N)
			usage();
		if (list[i] > maxn)
			maxn = list[i];
	}
	if (!rom || !np || !nt || !reps)
		usage();
	if (!mkdtemp(dir))
		return 1;
	snprintf(sock, sizeof(sock), "%s/emud.sock", dir);
	snprintf(uri, sizeof(uri), "emu:%s", sock);
	snprintf(maxctx, sizeof(maxctx), "%u", (np + nt > jn ? np + nt : jn) + 8); /* small KV */
	{
		char *argv[] = { (char *)emud, "--rom", (char *)rom, "--socket", sock, "--threads",
				 (char *)threads, "--path", (char *)path, "--max-ctx", maxctx,
				 NULL };

		pid = bench_emud_start(argv, BENCH_EMUD_READY_MS);
	}
	if (pid < 0) {
		fprintf(stderr, "hc-bench-batch: %s did not start\n", emud);
		rmdir(dir);
		return 1;
	}
	if (hc_open(uri, &card))
		goto out_emud;
	hc_card_info(card, &info);
	for (unsigned i = 0; i < maxn; i++) {
		prompts[i] = malloc(np * sizeof(int32_t));
		tok[i] = calloc(nt, sizeof(uint32_t));
		ref[i] = calloc(nt, sizeof(uint32_t));
		if (!prompts[i] || !tok[i] || !ref[i] || hc_ctx_create(card, &ctx[i]))
			goto out_card;
		make_prompt(prompts[i], np, info.vocab_size, i);
	}
	printf("hc-bench-batch: %s, hc-emud --threads %s --path %s, prompt %u, decode %u tokens "
	       "per context, best of %u\n", rom, threads, path, np, nt, reps);
	printf("%9s %14s %16s %9s\n", "contexts", "aggregate t/s", "per-stream t/s", "vs 1 ctx");
	for (unsigned l = 0; l < n_list; l++) {
		unsigned n = list[l];
		double best = 0;

		for (unsigned r = 0; r < reps; r++) {
			double s = run(ctx, 0, n, prompts, np, nt, tok, NULL);

			if (s < 0)
				goto out_card;
			if (!best || s < best)
				best = s;
		}
		double agg = n * nt / best;

		if (n == 1)
			base = agg;
		printf("%9u %14.1f %16.1f %8.2fx\n", n, agg, agg / n, base ? agg / base : 0);
		fflush(stdout);
	}
	if (solo) {
		unsigned same = 0;

		/* the batched tokens of the largest N are still in tok[] (it ran last if the list
		 * ascends; run it again to be sure) */
		if (run(ctx, 0, maxn, prompts, np, nt, tok, NULL) < 0)
			goto out_card;
		for (unsigned i = 0; i < maxn; i++) {
			if (run(ctx, i, 1, prompts, np, nt, ref, NULL) < 0)
				goto out_card;
			same += !memcmp(tok[i], ref[i], nt * sizeof(uint32_t));
		}
		printf("streams equal solo: %u/%u (%u tokens each, batched with %u contexts"
		       " vs alone)\n", same, maxn, nt, maxn);
	}
	if (jn && join_report(card, &info, ctx, maxn, prompts, np, nt, tok, jn, reps))
		goto out_card;
	rc = 0;
out_card:
	hc_close(card);
out_emud:
	kill(pid, SIGTERM);
	waitpid(pid, NULL, 0);
	unlink(sock);
	rmdir(dir);
	return rc;
}
