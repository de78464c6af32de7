// SPDX-License-Identifier: MIT
/* Bounded, pread-based row reading and the Llama tensor set, shared by the bake sources. */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "bake_io.h"
#include "quant.h"
#include "rom.h"

int bake_open_file(const char *path, uint64_t *size, char *err, size_t errlen)
{
	return hc_open_regular(path, NULL, size, err, errlen);
}

int bake_pread(int fd, void *buf, size_t n, uint64_t off)
{
	uint8_t *p = buf;

	while (n) {
		ssize_t r = pread(fd, p, n, (off_t)off);

		if (r < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (r == 0)
			return -EIO;	/* file shrank under us */
		p += r;
		n -= (size_t)r;
		off += (uint64_t)r;
	}
	return 0;
}

/* GGML's numbering (ggml.h enum ggml_type), so errors name what a GGUF really holds. */
static const char *const type_names[] = {
	[0] = "F32", [1] = "F16", [2] = "Q4_0", [3] = "Q4_1", [6] = "Q5_0", [7] = "Q5_1",
	[8] = "Q8_0", [9] = "Q8_1", [10] = "Q2_K", [11] = "Q3_K", [12] = "Q4_K",
	[13] = "Q5_K", [14] = "Q6_K", [15] = "Q8_K", [16] = "IQ2_XXS", [17] = "IQ2_XS",
	[18] = "IQ3_XXS", [19] = "IQ1_S", [20] = "IQ4_NL", [21] = "IQ3_S", [22] = "IQ2_S",
	[23] = "IQ4_XS", [24] = "I8", [25] = "I16", [26] = "I32", [27] = "I64", [28] = "F64",
	[29] = "IQ1_M", [30] = "BF16", [34] = "TQ1_0", [35] = "TQ2_0",
};

const char *bake_type_name(uint32_t type)
{
	if (type < sizeof(type_names) / sizeof(type_names[0]) && type_names[type])
		return type_names[type];
	return "unknown";
}

int bake_type_supported(uint32_t type)
{
	return type == HC_WTYPE_F32 || type == HC_WTYPE_F16 || type == HC_WTYPE_BF16 ||
	       type == HC_WTYPE_Q8_0 || type == HC_WTYPE_Q4_0;
}

uint64_t bake_perm_row(uint64_t r, uint64_t head_dim)
{
	uint64_t base = r - r % head_dim, k = r % head_dim, half = head_dim / 2;

	return base + (k % 2) * half + k / 2;
}

/* Convert @nrows stored rows in @src to floats or copy them. */
static void emit_rows(uint32_t type, const void *src, size_t row_bytes, uint64_t row_len,
		      uint64_t nrows, int f32, uint8_t *dst)
{
	const uint8_t *s = src;

	for (uint64_t k = 0; k < nrows; k++) {
		if (f32)
			hc_dequantize_row(type, s + k * row_bytes,
					  (float *)dst + k * row_len, row_len);
		else
			memcpy(dst + k * row_bytes, s + k * row_bytes, row_bytes);
	}
}

int bake_read_rows(int fd, uint64_t base, uint32_t type, uint64_t row_len, uint64_t n_rows,
		   uint32_t perm_heads, uint64_t row0, uint64_t n, int f32, void *dst)
{
	size_t row_bytes = hc_row_size(type, row_len);
	size_t out_row = f32 ? row_len * sizeof(float) : row_bytes;
	uint64_t head_dim = 0, chunk_rows, done = 0;
	uint8_t *out = dst, *buf = NULL;
	int direct = !f32 || type == HC_WTYPE_F32;	/* bytes land in dst unchanged */
	int rc = 0;

	if (!row_bytes || row0 > n_rows || n > n_rows - row0)
		return -EINVAL;
	if (perm_heads) {
		if (n_rows % perm_heads || (n_rows / perm_heads) % 2)
			return -EINVAL;
		head_dim = n_rows / perm_heads;
	}
	chunk_rows = BAKE_IO_CHUNK / row_bytes;
	if (chunk_rows == 0)
		chunk_rows = 1;
	if (!direct) {
		uint64_t want = n < chunk_rows ? n : chunk_rows;

		buf = malloc(want * row_bytes);
		if (!buf)
			return -ENOMEM;
	}
	while (done < n) {
		uint64_t k = n - done;
		uint64_t src_row = row0 + done;
		uint8_t *target;

		if (k > chunk_rows)
			k = chunk_rows;
		if (perm_heads) {	/* permuted rows are not contiguous: one at a time */
			k = 1;
			src_row = bake_perm_row(row0 + done, head_dim);
		}
		target = direct ? out + done * out_row : buf;
		rc = bake_pread(fd, target, k * row_bytes, base + src_row * row_bytes);
		if (rc)
			break;
		if (!direct)
			emit_rows(type, buf, row_bytes, row_len, k, f32, out + done * out_row);
		done += k;
	}
	free(buf);
	return rc;
}

/* Per-layer tensors in hc_rom_tensor_slot's canonical order. */
static const char *const layer_names[] = {
	"attn_norm", "attn_q", "attn_k", "attn_v", "attn_output",
	"ffn_norm", "ffn_gate", "ffn_up", "ffn_down",
};
#define N_LAYER_NAMES (sizeof(layer_names) / sizeof(layer_names[0]))

uint32_t bake_n_slots(const struct hc_rom_arch *arch)
{
	return 3 + arch->n_layers * (uint32_t)N_LAYER_NAMES;
}

int bake_slot(const struct hc_rom_arch *arch, const char *name, uint32_t *n_dims,
	      uint64_t shape[2])
{
	struct hc_rom_arch full = *arch;

	full.flags &= ~HC_ARCH_TIED_CLASSIFIER;
	return hc_rom_tensor_slot(&full, name, n_dims, shape);
}

void bake_slot_name(const struct hc_rom_arch *arch, uint32_t idx, char *buf, size_t len)
{
	if (idx == 0)
		snprintf(buf, len, "token_embd.weight");
	else if (idx == 1 + arch->n_layers * N_LAYER_NAMES)
		snprintf(buf, len, "output_norm.weight");
	else if (idx == 2 + arch->n_layers * N_LAYER_NAMES)
		snprintf(buf, len, "output.weight");
	else
		snprintf(buf, len, "blk.%u.%s.weight", (unsigned)((idx - 1) / N_LAYER_NAMES),
			 layer_names[(idx - 1) % N_LAYER_NAMES]);
}
