// SPDX-License-Identifier: MIT
/*
 * Fuzz target: a Hugging Face checkpoint folder. The input is config.json, tokenizer.json,
 * tokenizer_config.json and generation_config.json separated by FZ_SPLIT (a missing part is
 * a missing file); model.safetensors holds the crafted model of tests/common/ckpt_writer.h
 * in BF16 zeros (its parser has a target of its own). Both hc-bake's reader (bake_open_hf) and the
 * tokenizer importer on its own (hc_tok_spec_from_hf, reached even when config.json is bad).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "bake.h"
#include "ckpt_writer.h"
#include "fuzz.h"
#include "tok_spec.h"

static const char *const files[] = {
	"config.json", "tokenizer.json", "tokenizer_config.json", "generation_config.json",
};
#define N_FILES (sizeof(files) / sizeof(files[0]))

/* ckpt_writer's own writers assert with Check (a running test): the header written here. */
static void write_model(void)
{
	char json[4096], p[512], *buf;
	size_t len = 0, off = 0;
	uint64_t hlen;

	len += (size_t)snprintf(json + len, sizeof(json) - len, "{");
	for (size_t i = 0; i < CW_N_HF; i++) {
		const struct cw_hf_tensor *t = &cw_hf_tensors[i];
		size_t n = (size_t)t->out * (t->in ? t->in : 1) * 2;
		char shape[64];

		if (t->in)
			snprintf(shape, sizeof(shape), "%llu, %llu", (unsigned long long)t->out,
				 (unsigned long long)t->in);
		else
			snprintf(shape, sizeof(shape), "%llu", (unsigned long long)t->out);
		len += (size_t)snprintf(json + len, sizeof(json) - len,
					"%s\"%s\": {\"dtype\": \"BF16\", \"shape\": [%s], "
					"\"data_offsets\": [%zu, %zu]}", i ? ", " : "", t->name,
					shape, off, off + n);
		off += n;
	}
	len += (size_t)snprintf(json + len, sizeof(json) - len, "}");
	if (len >= sizeof(json) || !(buf = calloc(1, 8 + len + off)))
		abort();
	hlen = len;
	memcpy(buf, &hlen, 8);
	memcpy(buf + 8, json, len);
	fz_write("model.safetensors", buf, 8 + len + off, p, sizeof(p));
	free(buf);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int have_model;
	const uint8_t *parts[N_FILES];
	size_t lens[N_FILES], n, i;
	struct bake_source *src;
	struct hc_tok_spec *spec;
	char tj[512], tc[512], p[512], err[512];

	if (!have_model) {
		write_model();
		have_model = 1;
	}
	n = fz_split(data, size, parts, lens, N_FILES);
	for (i = 0; i < N_FILES; i++) {
		if (i < n)
			fz_write(files[i], parts[i], lens[i], i == 1 ? tj : i == 2 ? tc : p,
				 sizeof(p));
		else
			fz_remove(files[i]);
	}
	if (n < 2)
		fz_write(files[1], "", 0, tj, sizeof(tj));
	if (bake_open_hf(fz_dir(), &src, err, sizeof(err)) == 0) {
		fz_use_source(src);
		src->close(src);
	}
	if (hc_tok_spec_from_hf(tj, n > 2 ? tc : NULL, &spec, err, sizeof(err)) == 0) {
		fz_use_spec(spec);
		hc_tok_spec_free(spec);
	}
	return 0;
}
