// SPDX-License-Identifier: MIT
/*
 * bench_tokenizer: time the Llama 3 tokenizer's stages (tokenizer.json -> spec, blob
 * serialise, blob load, encode of the long golden prompt) and the Llama 2 SPM encoder.
 * Run from the repo root: build/bench_tokenizer [shared-dir]. Numbers, not a test.
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "tok_spec.h"

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static const char *longest_prompt(json_t *gen)
{
	const char *best = "";
	json_t *c;
	size_t i;

	json_array_foreach(json_object_get(gen, "cases"), i, c) {
		const char *t = json_string_value(json_object_get(c, "text"));

		if (t && strlen(t) > strlen(best))
			best = t;
	}
	return best;
}

static void time_encode(const char *name, struct hc_tokenizer *t, const char *text)
{
	static int32_t ids[1 << 16];
	size_t n = 0;
	int reps = 50;
	double t0 = now();

	for (int r = 0; r < reps; r++)
		if (hc_tok_encode(t, text, strlen(text), HC_ENC_BOS, ids, 1 << 16, &n)) {
			printf("%s: encode failed\n", name);
			return;
		}
	t0 = (now() - t0) / reps;
	printf("%s: encode %zu bytes -> %zu tokens: %.2f ms (%.1f Mtok/s)\n", name, strlen(text), n,
	       t0 * 1e3, n / t0 * 1e-6);
}

int main(int argc, char **argv)
{
	const char *dir = argc > 1 ? argv[1] : "../shared";
	char p1[512], p2[512], err[256];
	struct hc_tok_spec *s;
	struct hc_tokenizer *t;
	json_t *gen;
	void *blob;
	size_t len;
	double t0;

	snprintf(p1, sizeof(p1), "%s/models/tiny-llama3-hf/tokenizer.json", dir);
	snprintf(p2, sizeof(p2), "%s/models/tiny-llama3-hf/tokenizer_config.json", dir);
	t0 = now();
	if (hc_tok_spec_from_hf(p1, p2, &s, err, sizeof(err))) {
		printf("SKIP: %s\n", err);
		return 0;
	}
	printf("llama3: tokenizer.json -> spec: %.0f ms\n", (now() - t0) * 1e3);
	t0 = now();
	hc_tok_spec_serialize(s, &blob, &len);
	printf("llama3: serialise: %.0f ms, blob %zu bytes\n", (now() - t0) * 1e3, len);
	hc_tok_spec_free(s);
	t0 = now();
	if (hc_tok_load(blob, len, &t, err, sizeof(err))) {
		printf("load: %s\n", err);
		return 1;
	}
	printf("llama3: load (128,256 tokens, 280,147 merges): %.1f ms\n", (now() - t0) * 1e3);
	snprintf(p1, sizeof(p1), "%s/golden/tiny-llama3/generate.json", dir);
	gen = json_load_file(p1, 0, NULL);
	if (gen)
		time_encode("llama3", t, longest_prompt(gen));
	hc_tok_free(t);
	free(blob);

	snprintf(p2, sizeof(p2), "%s/models/llama2-tokenizer/tokenizer.bin", dir);
	if (gen && !hc_tok_spec_from_llama2c(p2, 0, &s, err, sizeof(err))) {
		hc_tok_spec_serialize(s, &blob, &len);
		t0 = now();
		if (!hc_tok_load(blob, len, &t, err, sizeof(err))) {
			printf("llama2: load: %.1f ms\n", (now() - t0) * 1e3);
			time_encode("llama2 spm", t, longest_prompt(gen));
			hc_tok_free(t);
		}
		free(blob);
		hc_tok_spec_free(s);
	}
	json_decref(gen);
	return 0;
}
