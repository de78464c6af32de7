// SPDX-License-Identifier: MIT
/*
 * hc-bench: prefill and decode speed of the emulator's forward pass, per ROM, thread count
 * and code path: a prefill, then a decode from an empty context (as llama-bench's pp and tg).
 * Prints a table; the numbers are only comparable within one run.
 *   hc-bench [--prefill N] [--decode N] [--threads 1,2] [--path auto,avx2,...] [--reference]
 *            [--repeat R] ROM...
 * Each figure is the best of R runs (default 3).
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "hc/hc_version.h"
#include "model.h"
#include "quant.h"
#include "rom.h"

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

struct result {
	double prefill_tps, decode_tps;
};

static int bench_one(const struct hc_rom *rom, int threads, enum hc_path path, uint32_t n_pre,
		     uint32_t n_dec, int reps, struct result *r)
{
	struct hc_model *m = NULL;
	struct hc_kv *kv = NULL;
	int32_t *ids = NULL;
	float *logits = NULL;
	char err[256];
	uint32_t vocab;
	double t0, t1, t2;
	int rc;

	rc = hc_model_new(rom, threads, path, &m, err, sizeof(err));
	if (rc) {
		fprintf(stderr, "hc-bench: %s\n", err);
		return rc;
	}
	vocab = hc_model_arch(m)->vocab_size;
	kv = hc_kv_new(m, n_pre + n_dec);
	ids = malloc(n_pre * sizeof(*ids));
	logits = malloc((size_t)vocab * sizeof(*logits));
	rc = -ENOMEM;
	if (!kv || !ids || !logits)
		goto out;
	if (hc_kv_capacity(kv) < n_pre + n_dec) {
		fprintf(stderr, "hc-bench: %s: context %u < %u tokens\n", hc_rom_path(rom),
			hc_kv_capacity(kv), n_pre + n_dec);
		rc = -ENOSPC;
		goto out;
	}
	for (uint32_t i = 0; i < n_pre; i++)
		ids[i] = (int32_t)((i * 2654435761u + 7) % vocab);
	r->prefill_tps = r->decode_tps = 0;
	rc = 0;
	/* best of @reps: other load on the machine only ever slows a run down */
	for (int rep = 0; rep < reps && !rc; rep++) {
		int32_t id = ids[0];

		hc_kv_reset(kv);
		t0 = now();
		rc = hc_forward(m, kv, ids, n_pre, logits);
		t1 = now();
		/* decode from an empty context, as llama-bench's tg test does */
		hc_kv_reset(kv);
		t1 = now();
		for (uint32_t i = 0; i < n_dec && !rc; i++) {
			rc = hc_forward(m, kv, &id, 1, logits);
			id = hc_sample(logits, vocab, &(struct hc_sampling){ 0 }, i, NULL);
		}
		t2 = now();
		if (n_pre / (t1 - t0) > r->prefill_tps)
			r->prefill_tps = n_pre / (t1 - t0);
		if (n_dec / (t2 - t1) > r->decode_tps)
			r->decode_tps = n_dec / (t2 - t1);
	}
out:
	if (rc)
		fprintf(stderr, "hc-bench: %s: %s\n", hc_rom_path(rom), strerror(-rc));
	free(logits);
	free(ids);
	hc_kv_free(kv);
	hc_model_free(m);
	return rc;
}

/* A comma-separated list of path names into @paths (at most 4); their count, or -1. */
static int parse_paths(char *list, enum hc_path *paths)
{
	int n = 0;
	char *tok;

	while ((tok = strsep(&list, ","))) {
		if (n == 4 || hc_path_from_name(tok, &paths[n])) {
			fprintf(stderr, "hc-bench: --path: unknown or too many: '%s' (auto, avx2, "
				"generic, reference)\n", tok);
			return -1;
		}
		n++;
	}
	return n;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "prefill", required_argument, NULL, 'p' },
		{ "decode", required_argument, NULL, 'n' },
		{ "threads", required_argument, NULL, 't' },
		{ "reference", no_argument, NULL, 'r' },
		{ "path", required_argument, NULL, 'P' },
		{ "repeat", required_argument, NULL, 'R' },
		{ "version", no_argument, NULL, 'V' },
		{ 0 }
	};
	uint32_t n_pre = 64, n_dec = 32;
	int threads[8] = { 1, 2 }, n_threads = 2, reps = 3, ch, failed = 0;
	enum hc_path paths[5] = { HC_PATH_AUTO };
	int n_paths = 1;

	while ((ch = getopt_long(argc, argv, "p:n:t:rP:R:V", opts, NULL)) != -1) {
		char *s, *tok;

		switch (ch) {
		case 'p': n_pre = (uint32_t)strtoul(optarg, NULL, 10); break;
		case 'n': n_dec = (uint32_t)strtoul(optarg, NULL, 10); break;
		case 't':
			n_threads = 0;
			s = optarg;
			while ((tok = strsep(&s, ",")) && n_threads < 8) {
				threads[n_threads] = atoi(tok);
				if (threads[n_threads] < 1 || threads[n_threads] > 256) {
					fprintf(stderr, "hc-bench: --threads: bad count '%s'\n", tok);
					return 2;
				}
				n_threads++;
			}
			break;
		case 'r': paths[n_paths++] = HC_PATH_REFERENCE; break;
		case 'P':
			n_paths = parse_paths(optarg, paths);
			if (n_paths < 0)
				return 2;
			break;
		case 'R': reps = atoi(optarg); break;
		case 'V': printf("hc-bench " HC_VERSION_STRING "\n"); return 0;
		default:
			fprintf(stderr, "usage: hc-bench [--prefill N] [--decode N] [--threads 1,2] "
				"[--path auto,avx2,generic,reference] [--reference] [--repeat R] "
				"ROM...\n       hc-bench --version\n");
			return 2;
		}
	}
	if (optind == argc || !n_pre || !n_dec || reps < 1 || reps > 1000) {
		fprintf(stderr, "hc-bench: give ROM files, nonzero --prefill and --decode, "
			"--repeat 1..1000\n");
		return 2;
	}
	printf("%-28s %-5s %-9s %3s %12s %12s %9s\n", "rom", "type", "path", "thr",
	       "prefill t/s", "decode t/s", "vs first");
	for (int a = optind; a < argc; a++) {
		struct hc_rom *rom;
		char err[256];
		double base = 0;
		const char *name = strrchr(argv[a], '/') ? strrchr(argv[a], '/') + 1 : argv[a];

		if (hc_rom_open(argv[a], &rom, err, sizeof(err))) {
			fprintf(stderr, "hc-bench: %s\n", err);
			failed = 1;
			continue;
		}
		for (int p = 0; p < n_paths; p++) {
			for (int t = 0; t < n_threads; t++) {
				struct result r;

				if (bench_one(rom, threads[t], paths[p], n_pre, n_dec,
					      reps, &r)) {
					failed = 1;
					continue;
				}
				if (!base)
					base = r.decode_tps;
				printf("%-28s %-5s %-9s %3d %12.1f %12.2f %8.2fx\n", name,
				       hc_wtype_name(hc_rom_header(rom)->wtype),
				       hc_path_name(paths[p]), threads[t], r.prefill_tps,
				       r.decode_tps, r.decode_tps / base);
				fflush(stdout);
			}
		}
		hc_rom_close(rom);
	}
	return failed;
}
