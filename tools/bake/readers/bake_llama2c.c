// SPDX-License-Identifier: MIT
/*
 * llama2.c checkpoints (karpathy/llama2.c export.py): the legacy "version 0" file (seven
 * int32 then float32 weights in run.c order, negative vocab = separate classifier) and the
 * "ak42" version 1 file (256-byte header, float32 weights with the norms first). Version 2
 * stores its own int8 groups and is refused. llama2.c already writes Q and K in the
 * interleaved RoPE layout the ROM uses, so rows are copied as they are.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "bake.h"
#include "bake_io.h"
#include "bake_tokfile.h"
#include "rom.h"

#define L2C_MAGIC 0x616b3432u	/* "ak42" */
#define V1_HEADER 256

struct l2c {
	int fd;
	char *path;
	uint64_t *off;		/* per tensor: file offset of element 0 */
};

enum group {
	G_EMB, G_ATT_NORM, G_WQ, G_WK, G_WV, G_WO, G_FFN_NORM, G_W1, G_W2, G_W3,
	G_FINAL_NORM, G_FREQ, G_CLS,
};

/* File order of the weight groups in each format. */
static const enum group order_v0[] = {
	G_EMB, G_ATT_NORM, G_WQ, G_WK, G_WV, G_WO, G_FFN_NORM, G_W1, G_W2, G_W3,
	G_FINAL_NORM, G_FREQ, G_CLS,
};
static const enum group order_v1[] = {
	G_ATT_NORM, G_FFN_NORM, G_FINAL_NORM, G_EMB, G_WQ, G_WK, G_WV, G_WO, G_W1, G_W2, G_W3,
	G_CLS,
};

struct l2c_hdr {
	int32_t dim, hidden, n_layers, n_heads, n_kv_heads, vocab, seq_len;
};

static int l2c_read(struct bake_source *src, uint32_t i, uint64_t row0, uint64_t n,
		    float *dst, char *err, size_t errlen)
{
	struct l2c *l = src->priv;
	const struct bake_tensor *t = &src->tensors[i];
	const uint64_t row = t->shape[0] * sizeof(float);
	int ret;

	/* the file is little-endian float32, as is every host we build for */
	ret = bake_pread(l->fd, dst, (size_t)(n * row), l->off[i] + row0 * row);
	if (ret)
		snprintf(err, errlen, "%s: cannot read tensor '%s': %s", l->path, t->name,
			 ret == -EIO ? "unexpected end of file" : strerror(-ret));
	return ret;
}

static void l2c_close(struct bake_source *src)
{
	struct l2c *l;

	if (!src)
		return;
	l = src->priv;
	if (l) {
		if (l->fd >= 0)
			close(l->fd);
		free(l->path);
		free(l->off);
		free(l);
	}
	hc_tok_spec_free(src->tok);
	free(src->tensors);
	free(src);
}

static void add_tensor(struct bake_source *src, struct l2c *l, const char *name,
		       uint32_t n_dims, uint64_t s0, uint64_t s1, uint64_t off)
{
	struct bake_tensor *t = &src->tensors[src->n_tensors];

	snprintf(t->name, sizeof(t->name), "%s", name);
	t->type = HC_WTYPE_F32;
	t->n_dims = n_dims;
	t->shape[0] = s0;
	t->shape[1] = n_dims == 2 ? s1 : 1;
	l->off[src->n_tensors++] = off;
}

/* Walk the groups in file order, register tensors and return the total size. */
static uint64_t layout(struct bake_source *src, struct l2c *l, const enum group *order,
		       size_t n_order, uint64_t base, int shared, uint32_t hidden, uint32_t seq)
{
	const struct hc_rom_arch *a = &src->arch;
	const uint64_t d = a->dim, hs = a->head_dim, L = a->n_layers;
	const uint64_t q = a->n_heads * hs, kv = a->n_kv_heads * hs, V = a->vocab_size;
	uint64_t off = base;
	char name[64];

	for (size_t g = 0; g < n_order; g++) {
		/* per-layer groups: name, row length, rows */
		const char *kind = NULL;
		uint64_t s0 = 0, s1 = 1;
		uint32_t nd = 2;

		switch (order[g]) {
		case G_EMB:
			add_tensor(src, l, "token_embd.weight", 2, d, V, off);
			off += d * V * 4;
			continue;
		case G_FINAL_NORM:
			add_tensor(src, l, "output_norm.weight", 1, d, 1, off);
			off += d * 4;
			continue;
		case G_FREQ:	/* freq_cis_real and _imag, seq_len * head_size / 2 each */
			off += (uint64_t)seq * hs / 2 * 2 * 4;
			continue;
		case G_CLS:
			if (shared)
				continue;
			add_tensor(src, l, "output.weight", 2, d, V, off);
			off += d * V * 4;
			continue;
		case G_ATT_NORM: kind = "attn_norm"; nd = 1; s0 = d; break;
		case G_FFN_NORM: kind = "ffn_norm"; nd = 1; s0 = d; break;
		case G_WQ: kind = "attn_q"; s0 = d; s1 = q; break;
		case G_WK: kind = "attn_k"; s0 = d; s1 = kv; break;
		case G_WV: kind = "attn_v"; s0 = d; s1 = kv; break;
		case G_WO: kind = "attn_output"; s0 = q; s1 = d; break;
		case G_W1: kind = "ffn_gate"; s0 = d; s1 = hidden; break;
		case G_W2: kind = "ffn_down"; s0 = hidden; s1 = d; break;
		case G_W3: kind = "ffn_up"; s0 = d; s1 = hidden; break;
		}
		for (uint64_t i = 0; i < L; i++) {
			snprintf(name, sizeof(name), "blk.%llu.%s.weight", (unsigned long long)i, kind);
			add_tensor(src, l, name, nd, s0, s1, off);
			off += s0 * s1 * 4;
		}
	}
	return off;
}

static void model_name(char *dst, size_t cap, const char *path)
{
	const char *b = strrchr(path, '/');
	char *dot;

	snprintf(dst, cap, "%s", b ? b + 1 : path);
	dot = strrchr(dst, '.');
	if (dot && dot != dst)
		*dot = 0;
}

int bake_open_llama2c(const char *path, const char *tokenizer_path, struct bake_source **out,
		      char *err, size_t errlen)
{
	struct bake_source *src = NULL;
	struct l2c *l = NULL;
	uint8_t raw[V1_HEADER];
	struct l2c_hdr hp;
	const enum group *order;
	size_t n_order;
	uint64_t base, expect;
	uint64_t file_size;
	int version = 0, shared, ret, fd;
	uint32_t magic;
	char why[256];

	*out = NULL;
	fd = bake_open_file(path, &file_size, err, errlen);
	if (fd < 0)
		return fd;
	memset(raw, 0, sizeof(raw));
	if (file_size < 28 || bake_pread(fd, raw, file_size < V1_HEADER ? 28 : V1_HEADER, 0)) {
		close(fd);
		snprintf(err, errlen, "%s: truncated: %lld bytes is too short for a llama2.c header",
			 path, (long long)file_size);
		return -EINVAL;
	}
	memcpy(&magic, raw, 4);
	if (magic == L2C_MAGIC) {
		memcpy(&version, raw + 4, 4);
		if (version == 2) {
			close(fd);
			snprintf(err, errlen,
				 "%s: llama2.c version 2 (int8) checkpoints are not supported; export with --version 1 or 0",
				 path);
			return -ENOTSUP;
		}
		if (version != 1) {
			close(fd);
			snprintf(err, errlen, "%s: unknown llama2.c checkpoint version %d", path,
				 version);
			return -ENOTSUP;
		}
		if (file_size < V1_HEADER) {
			close(fd);
			snprintf(err, errlen, "%s: truncated: %lld bytes, the version 1 header alone is %d",
				 path, (long long)file_size, V1_HEADER);
			return -EINVAL;
		}
		memcpy(&hp, raw + 8, sizeof(hp));
		shared = raw[36];
		base = V1_HEADER;
		order = order_v1;
		n_order = sizeof(order_v1) / sizeof(order_v1[0]);
	} else {
		memcpy(&hp, raw, sizeof(hp));
		shared = hp.vocab > 0;
		if (hp.vocab < 0)
			hp.vocab = hp.vocab == INT32_MIN ? 0 : -hp.vocab;
		base = 28;
		order = order_v0;
		n_order = sizeof(order_v0) / sizeof(order_v0[0]);
	}
	if (hp.dim <= 0 || hp.dim > 65536 || hp.hidden <= 0 || hp.hidden > (1 << 18) ||
	    hp.n_layers <= 0 || hp.n_layers > 1024 || hp.n_heads <= 0 || hp.n_heads > hp.dim ||
	    hp.n_kv_heads <= 0 || hp.n_kv_heads > hp.n_heads || hp.vocab <= 0 ||
	    hp.vocab > (1 << 22) || hp.seq_len <= 0 || hp.seq_len > (1 << 24) ||
	    hp.dim % hp.n_heads || (shared != 0 && shared != 1)) {
		close(fd);
		snprintf(err, errlen,
			 "%s: unrecognised format: not GGUF, not a llama2.c checkpoint (implausible header: dim %d, hidden %d, layers %d, heads %d/%d, vocab %d, seq_len %d)",
			 path, hp.dim, hp.hidden, hp.n_layers, hp.n_heads, hp.n_kv_heads, hp.vocab,
			 hp.seq_len);
		return -EINVAL;
	}

	src = calloc(1, sizeof(*src));
	l = calloc(1, sizeof(*l));
	if (!src || !l) {
		free(src);
		free(l);
		close(fd);
		snprintf(err, errlen, "%s: out of memory", path);
		return -ENOMEM;
	}
	l->fd = fd;
	src->priv = l;
	src->read_rows_f32 = l2c_read;
	src->close = l2c_close;
	model_name(src->name, sizeof(src->name), path);
	src->arch = (struct hc_rom_arch){
		.vocab_size = (uint32_t)hp.vocab,
		.dim = (uint32_t)hp.dim,
		.n_layers = (uint32_t)hp.n_layers,
		.n_heads = (uint32_t)hp.n_heads,
		.n_kv_heads = (uint32_t)hp.n_kv_heads,
		.head_dim = (uint32_t)(hp.dim / hp.n_heads),
		.ffn_dim = (uint32_t)hp.hidden,
		.max_ctx = (uint32_t)hp.seq_len,
		.rope_theta = 10000.0f,		/* llama2.c run.c */
		.norm_eps = 1e-5f,
		.rope_scaling = HC_ROPE_NONE,
		.flags = shared ? HC_ARCH_TIED_CLASSIFIER : 0,
	};
	l->path = strdup(path);
	src->tensors = calloc(hc_rom_n_expected(&src->arch), sizeof(*src->tensors));
	l->off = calloc(hc_rom_n_expected(&src->arch), sizeof(*l->off));
	if (!l->path || !src->tensors || !l->off) {
		snprintf(err, errlen, "%s: out of memory", path);
		ret = -ENOMEM;
		goto fail;
	}
	ret = hc_rom_check_arch(&src->arch, why, sizeof(why));
	if (ret) {
		snprintf(err, errlen, "%s: %s", path, why);
		goto fail;
	}
	expect = layout(src, l, order, n_order, base, shared, (uint32_t)hp.hidden,
			(uint32_t)hp.seq_len);
	if (expect != file_size) {
		snprintf(err, errlen, "%s: %s: the llama2.c v%d header implies %llu bytes, the file has %lld",
			 path, expect > file_size ? "truncated" : "size mismatch", version,
			 (unsigned long long)expect, (long long)file_size);
		ret = -EINVAL;
		goto fail;
	}
	if (!tokenizer_path) {
		snprintf(err, errlen,
			 "%s: llama2.c checkpoints carry no tokenizer: pass --tokenizer FILE (tokenizer.bin with %d tokens, tokenizer.json) or --tokenizer builtin",
			 path, hp.vocab);
		ret = -EINVAL;
		goto fail;
	}
	ret = bake_tokfile_open(tokenizer_path, src->arch.vocab_size, &src->tok, err, errlen);
	if (ret)
		goto fail;
	posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
	*out = src;
	return 0;
fail:
	l2c_close(src);
	return ret;
}
