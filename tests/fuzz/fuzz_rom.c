// SPDX-License-Identifier: MIT
/*
 * Fuzz target: a ROM image through the verifying loader (emu/rom/rom.c). A mutated ROM would
 * almost never hash to its header's identity, so the target first does what hc-bake does
 * last: it sets header.file_size to the input's size and header.identity to the SHA-256 of
 * the file with the identity taken as zero (rom_format.h). Every mutation then reaches the
 * layout checks. A ROM that opens is used as hc-emud uses it: its tokenizer is loaded and,
 * for small shapes, the model is built and runs one token.
 */
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/sha.h>
#include "fuzz.h"
#include "model.h"
#include "rom.h"
#include "tokenizer.h"

static void use(struct hc_rom *rom)
{
	const struct hc_rom_header *h = hc_rom_header(rom);
	const struct hc_rom_arch *a = &h->arch;
	struct hc_tokenizer *tok;
	struct hc_model *m;
	const void *blob;
	size_t len;
	char err[256];

	for (uint32_t i = 0; i < h->n_tensors; i++) {
		const struct hc_rom_tensor *t = hc_rom_tensor_at(rom, i);
		const volatile uint8_t *p = hc_rom_data(rom, t);

		/* the loader promised these bytes are inside the mapping */
		if (t->size)
			(void)p[0], (void)p[t->size - 1];
		if (hc_rom_find(rom, t->name) != t)
			__builtin_trap();
	}
	blob = hc_rom_tokenizer_blob(rom, &len);
	if (blob && hc_tok_load(blob, len, &tok, err, sizeof(err)) == 0)
		hc_tok_free(tok);
	/* bounded work per input: shapes the loader accepts may still be large */
	if ((uint64_t)a->dim * a->n_layers * (a->ffn_dim + a->vocab_size) > (1u << 22) ||
	    a->max_ctx > 4096)
		return;
	if (hc_model_new(rom, 1, HC_PATH_AUTO, &m, err, sizeof(err)) == 0) {
		struct hc_kv *kv = hc_kv_new(m, 2);
		float *logits = malloc(sizeof(float) * a->vocab_size);
		int32_t t0 = 0;

		if (kv && logits)
			hc_forward(m, kv, &t0, 1, logits);
		free(logits);
		if (kv)
			hc_kv_free(kv);
		hc_model_free(m);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct hc_rom_header h;
	struct hc_rom *rom;
	uint8_t *buf;
	char path[512], err[512];

	buf = malloc(size ? size : 1);
	if (!buf)
		return 0;
	memcpy(buf, data, size);
	if (size >= sizeof(h)) {
		memcpy(&h, buf, sizeof(h));
		h.file_size = size;
		memset(h.identity, 0, sizeof(h.identity));
		memcpy(buf, &h, sizeof(h));
		SHA256(buf, size, h.identity);
		memcpy(buf + offsetof(struct hc_rom_header, identity), h.identity,
		       sizeof(h.identity));
	}
	fz_write("model.rom", buf, size, path, sizeof(path));
	free(buf);
	if (hc_rom_open(path, &rom, err, sizeof(err)) == 0) {
		use(rom);
		hc_rom_close(rom);
	}
	return 0;
}
