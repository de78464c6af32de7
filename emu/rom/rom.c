// SPDX-License-Identifier: MIT
/*
 * ROM loader. A ROM is untrusted input: every field is checked with overflow-safe
 * arithmetic before anything is dereferenced, and the SHA-256 identity is verified over
 * the whole file, so a ROM that opens is exactly the ROM that was baked.
 */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <openssl/evp.h>
#include "quant.h"
#include "hc_err.h"
#include "hc_file.h"
#include "rom.h"

/* Generous upper bounds: far above any Llama, far below anything that could overflow. */
#define MAX_VOCAB   (1u << 22)
#define MAX_DIM     (1u << 16)
#define MAX_LAYERS  1024u
#define MAX_HEADS   1024u
#define MAX_FFN     (1u << 18)
#define MAX_CTX     (1u << 24)

#define HASH_CHUNK  (64u << 20)
#define IDENTITY_OFF offsetof(struct hc_rom_header, identity)

struct hc_rom {
	const uint8_t *map;
	size_t size;
	const struct hc_rom_header *hdr;
	const struct hc_rom_tensor *tab;
	char path[];
};

static const char *const layer_names[] = {
	"attn_norm", "attn_q", "attn_k", "attn_v", "attn_output",
	"ffn_norm", "ffn_gate", "ffn_up", "ffn_down",
};
#define N_LAYER_TENSORS 9

static int all_zero(const void *p, size_t n)
{
	const uint8_t *b = p;

	for (size_t i = 0; i < n; i++)
		if (b[i])
			return 0;
	return 1;
}

/* A fixed-size name field: NUL-terminated, non-empty, zero after the NUL. */
static int name_ok(const char *name, size_t cap)
{
	const char *nul = memchr(name, 0, cap);

	return nul && nul != name && all_zero(nul, cap - (size_t)(nul - name));
}

uint32_t hc_rom_n_expected(const struct hc_rom_arch *a)
{
	return 1 + N_LAYER_TENSORS * a->n_layers + 1 +
	       !(a->flags & HC_ARCH_TIED_CLASSIFIER);
}

/* Parse "blk.N.KIND.weight" with N in canonical decimal (no sign, no leading zero). */
static int parse_layer_name(const char *name, uint32_t *layer, int *kind)
{
	const char *p = name + 4;
	uint64_t n = 0;
	size_t len;

	if (strncmp(name, "blk.", 4) != 0 || *p < '0' || *p > '9')
		return -1;
	if (*p == '0' && p[1] != '.')
		return -1;
	while (*p >= '0' && *p <= '9') {
		n = n * 10 + (uint64_t)(*p++ - '0');
		if (n > MAX_LAYERS)
			return -1;
	}
	if (*p++ != '.')
		return -1;
	for (int k = 0; k < N_LAYER_TENSORS; k++) {
		len = strlen(layer_names[k]);
		if (strncmp(p, layer_names[k], len) == 0 && strcmp(p + len, ".weight") == 0) {
			*layer = (uint32_t)n;
			*kind = k;
			return 0;
		}
	}
	return -1;
}

int hc_rom_tensor_slot(const struct hc_rom_arch *a, const char *name, uint32_t *n_dims,
		       uint64_t shape[2])
{
	const uint64_t q = (uint64_t)a->n_heads * a->head_dim;
	const uint64_t kv = (uint64_t)a->n_kv_heads * a->head_dim;
	uint32_t layer;
	int kind;

	*n_dims = 2;
	shape[1] = 1;
	if (strcmp(name, "token_embd.weight") == 0) {
		shape[0] = a->dim;
		shape[1] = a->vocab_size;
		return 0;
	}
	if (strcmp(name, "output_norm.weight") == 0) {
		*n_dims = 1;
		shape[0] = a->dim;
		return 1 + N_LAYER_TENSORS * (int)a->n_layers;
	}
	if (strcmp(name, "output.weight") == 0) {
		if (a->flags & HC_ARCH_TIED_CLASSIFIER)
			return -ENOENT;
		shape[0] = a->dim;
		shape[1] = a->vocab_size;
		return 2 + N_LAYER_TENSORS * (int)a->n_layers;
	}
	if (parse_layer_name(name, &layer, &kind) || layer >= a->n_layers)
		return -ENOENT;
	switch (kind) {
	case 0: case 5:		/* attn_norm, ffn_norm */
		*n_dims = 1;
		shape[0] = a->dim;
		break;
	case 1:			/* attn_q */
		shape[0] = a->dim;
		shape[1] = q;
		break;
	case 2: case 3:		/* attn_k, attn_v */
		shape[0] = a->dim;
		shape[1] = kv;
		break;
	case 4:			/* attn_output */
		shape[0] = q;
		shape[1] = a->dim;
		break;
	case 6: case 7:		/* ffn_gate, ffn_up */
		shape[0] = a->dim;
		shape[1] = a->ffn_dim;
		break;
	default:		/* ffn_down */
		shape[0] = a->ffn_dim;
		shape[1] = a->dim;
		break;
	}
	return 1 + (int)(layer * N_LAYER_TENSORS) + kind;
}

static int finite_pos(float f)
{
	return isfinite(f) && f > 0.0f;
}

int hc_rom_check_arch(const struct hc_rom_arch *a, char *why, size_t whylen)
{
#define FAIL(...) do { hc_errmsg(why, whylen, __VA_ARGS__); return -EINVAL; } while (0)
#define LIMIT(field, max) do {							\
		if (a->field == 0 || a->field > (max))				\
			FAIL("arch." #field " %u is out of range (1..%u)", a->field, (unsigned)(max)); \
	} while (0)
	LIMIT(vocab_size, MAX_VOCAB);
	LIMIT(dim, MAX_DIM);
	LIMIT(n_layers, MAX_LAYERS);
	LIMIT(n_heads, MAX_HEADS);
	LIMIT(n_kv_heads, MAX_HEADS);
	LIMIT(head_dim, MAX_DIM);
	LIMIT(ffn_dim, MAX_FFN);
	LIMIT(max_ctx, MAX_CTX);
#undef LIMIT
	if (a->n_heads % a->n_kv_heads)
		FAIL("arch.n_heads %u is not a multiple of arch.n_kv_heads %u", a->n_heads,
		     a->n_kv_heads);
	if ((uint64_t)a->head_dim * a->n_heads != a->dim)
		FAIL("arch.head_dim %u * arch.n_heads %u != arch.dim %u", a->head_dim, a->n_heads,
		     a->dim);
	if (a->head_dim % 2)
		FAIL("arch.head_dim %u is odd (RoPE rotates pairs)", a->head_dim);
	if (!finite_pos(a->rope_theta))
		FAIL("arch.rope_theta %g is not a positive number", (double)a->rope_theta);
	if (!finite_pos(a->norm_eps) || a->norm_eps >= 1.0f)
		FAIL("arch.norm_eps %g is out of range (0..1)", (double)a->norm_eps);
	switch (a->rope_scaling) {
	case HC_ROPE_NONE:
		if (a->rope_factor != 0.0f || a->rope_low_freq_factor != 0.0f ||
		    a->rope_high_freq_factor != 0.0f || a->rope_orig_ctx != 0)
			FAIL("arch.rope_* parameters must be zero when rope_scaling is none");
		break;
	case HC_ROPE_LLAMA3:
		if (!isfinite(a->rope_factor) || a->rope_factor < 1.0f ||
		    !finite_pos(a->rope_low_freq_factor) || !isfinite(a->rope_high_freq_factor) ||
		    a->rope_high_freq_factor <= a->rope_low_freq_factor ||
		    a->rope_orig_ctx == 0 || a->rope_orig_ctx > MAX_CTX)
			FAIL("arch llama3 RoPE scaling parameters are invalid (factor %g, low %g, high %g, original context %u)",
			     (double)a->rope_factor, (double)a->rope_low_freq_factor,
			     (double)a->rope_high_freq_factor, a->rope_orig_ctx);
		break;
	default:
		FAIL("arch.rope_scaling %u is unknown", a->rope_scaling);
	}
	if (a->flags & ~HC_ARCH_TIED_CLASSIFIER)
		FAIL("arch.flags 0x%x has unknown bits", a->flags);
	if (!all_zero(a->reserved, sizeof(a->reserved)))
		FAIL("arch.reserved is not zero");
	return 0;
#undef FAIL
}

struct span {
	uint64_t off, end;
	uint32_t idx;
};

static int span_cmp(const void *x, const void *y)
{
	const struct span *a = x, *b = y;

	return a->off < b->off ? -1 : a->off > b->off ? 1 : 0;
}

static int check_tensor(const struct hc_rom_header *h, const struct hc_rom_tensor *t,
			uint32_t i, uint8_t *seen, char *why, size_t whylen)
{
	uint64_t shape[2], rows, rs;
	uint32_t nd;
	int slot;

#define FAIL(...) do { hc_errmsg(why, whylen, __VA_ARGS__); return -EINVAL; } while (0)
	if (!name_ok(t->name, sizeof(t->name)))
		FAIL("tensor %u: name is not a NUL-terminated, zero-padded string", i);
	if (!all_zero(t->reserved, sizeof(t->reserved)))
		FAIL("tensor '%s': reserved bytes are not zero", t->name);
	slot = hc_rom_tensor_slot(&h->arch, t->name, &nd, shape);
	if (slot < 0)
		FAIL("tensor '%s' is not part of this architecture (%u layers%s)", t->name,
		     h->arch.n_layers,
		     h->arch.flags & HC_ARCH_TIED_CLASSIFIER ? ", tied classifier" : "");
	if (seen[slot])
		FAIL("tensor '%s' appears twice", t->name);
	seen[slot] = 1;
	if (t->type != HC_WTYPE_F32 && t->type != HC_WTYPE_Q8_0 && t->type != HC_WTYPE_Q4_0)
		FAIL("tensor '%s' has unsupported type %u (%s); a ROM holds F32, Q8_0 or Q4_0",
		     t->name, t->type, hc_wtype_name(t->type));
	if (t->n_dims != nd || t->shape[0] != shape[0] || t->shape[1] != shape[1])
		FAIL("tensor '%s' has shape %u:[%llu, %llu], expected %u:[%llu, %llu]", t->name,
		     t->n_dims, (unsigned long long)t->shape[0], (unsigned long long)t->shape[1],
		     nd, (unsigned long long)shape[0], (unsigned long long)shape[1]);
	if (nd == 1 && t->type != HC_WTYPE_F32)
		FAIL("tensor '%s' is %s, norms must be F32", t->name, hc_wtype_name(t->type));
	if (nd == 2 && t->type != h->wtype)
		FAIL("tensor '%s' is %s but the ROM's matrix type is %s", t->name,
		     hc_wtype_name(t->type), hc_wtype_name(h->wtype));
	rs = hc_row_size(t->type, shape[0]);
	rows = shape[1];
	if (rs == 0)
		FAIL("tensor '%s': row length %llu does not fit %s blocks", t->name,
		     (unsigned long long)shape[0], hc_wtype_name(t->type));
	/* shapes are bounded by the arch limits: rs * rows < 2^63 */
	if (t->size != rs * rows)
		FAIL("tensor '%s' size %llu != %llu (rows %llu x %llu bytes)", t->name,
		     (unsigned long long)t->size, (unsigned long long)(rs * rows),
		     (unsigned long long)rows, (unsigned long long)rs);
	if (t->offset % HC_ROM_ALIGN)
		FAIL("tensor '%s' offset 0x%llx is not %d-byte aligned", t->name,
		     (unsigned long long)t->offset, HC_ROM_ALIGN);
	if (t->offset < h->data_offset || t->offset - h->data_offset > h->data_size ||
	    t->size > h->data_size - (t->offset - h->data_offset))
		FAIL("tensor '%s' [0x%llx, +%llu) lies outside the data area [0x%llx, +%llu)",
		     t->name, (unsigned long long)t->offset, (unsigned long long)t->size,
		     (unsigned long long)h->data_offset, (unsigned long long)h->data_size);
	return 0;
#undef FAIL
}

int hc_rom_check_layout(const struct hc_rom_header *h, const struct hc_rom_tensor *tab,
			uint64_t file_size, char *why, size_t whylen)
{
	uint64_t table_end, tok_end;
	struct span *spans;
	uint8_t *seen;
	uint32_t n;
	int ret;

#define FAIL(...) do { hc_errmsg(why, whylen, __VA_ARGS__); return -EINVAL; } while (0)
	if (memcmp(h->magic, HC_ROM_MAGIC, sizeof(h->magic)) != 0)
		FAIL("not an HC ROM (bad magic)");
	if (h->version != HC_ROM_VERSION)
		FAIL("unsupported ROM version %u (this build reads version %u)", h->version,
		     HC_ROM_VERSION);
	if (h->header_size != sizeof(*h))
		FAIL("header_size %u != %zu", h->header_size, sizeof(*h));
	if (h->file_size != file_size)
		FAIL("header says %llu bytes but the file has %llu (truncated or extended)",
		     (unsigned long long)h->file_size, (unsigned long long)file_size);
	if (!all_zero(h->reserved, sizeof(h->reserved)))
		FAIL("header reserved bytes are not zero");
	if (!name_ok(h->name, sizeof(h->name)))
		FAIL("header name is not a NUL-terminated, zero-padded string");
	ret = hc_rom_check_arch(&h->arch, why, whylen);
	if (ret)
		return ret;
	if (h->wtype != HC_WTYPE_F32 && h->wtype != HC_WTYPE_Q8_0 && h->wtype != HC_WTYPE_Q4_0)
		FAIL("matrix type %u (%s) is not supported; a ROM holds F32, Q8_0 or Q4_0",
		     h->wtype, hc_wtype_name(h->wtype));
	n = hc_rom_n_expected(&h->arch);
	if (h->n_tensors != n)
		FAIL("n_tensors %u, but this architecture has %u tensors", h->n_tensors, n);

	/* Regions in order: header, tensor table, tokenizer, data (to the end). */
	if (h->tensors_offset % HC_ROM_ALIGN || h->tensors_offset < sizeof(*h) ||
	    h->tensors_offset > file_size ||
	    (uint64_t)n * sizeof(*tab) > file_size - h->tensors_offset)
		FAIL("tensor table at 0x%llx (%u entries) does not fit the file",
		     (unsigned long long)h->tensors_offset, n);
	table_end = h->tensors_offset + (uint64_t)n * sizeof(*tab);
	if (h->tokenizer_offset < table_end || h->tokenizer_offset > file_size ||
	    h->tokenizer_size == 0 || h->tokenizer_size > file_size - h->tokenizer_offset)
		FAIL("tokenizer [0x%llx, +%llu) is outside the file or overlaps the tensor table",
		     (unsigned long long)h->tokenizer_offset,
		     (unsigned long long)h->tokenizer_size);
	tok_end = h->tokenizer_offset + h->tokenizer_size;
	if (h->data_offset % HC_ROM_ALIGN || h->data_offset < tok_end ||
	    h->data_offset > file_size || h->data_size != file_size - h->data_offset)
		FAIL("data area [0x%llx, +%llu) must start aligned after the tokenizer and end at the end of the file",
		     (unsigned long long)h->data_offset, (unsigned long long)h->data_size);
	if (!tab)
		return 0;

	seen = calloc(n, 1);
	spans = calloc(n, sizeof(*spans));
	if (!seen || !spans) {
		free(seen);
		free(spans);
		FAIL("out of memory");
	}
	ret = 0;
	for (uint32_t i = 0; i < n && !ret; i++) {
		ret = check_tensor(h, &tab[i], i, seen, why, whylen);
		spans[i] = (struct span){ tab[i].offset, tab[i].offset + tab[i].size, i };
	}
	if (!ret) {
		/* n distinct known names and n slots: every required tensor is present */
		qsort(spans, n, sizeof(*spans), span_cmp);
		for (uint32_t i = 1; i < n && !ret; i++) {
			if (spans[i].off < spans[i - 1].end) {
				hc_errmsg(why, whylen, "tensors '%s' and '%s' overlap",
				       tab[spans[i - 1].idx].name, tab[spans[i].idx].name);
				ret = -EINVAL;
			}
		}
	}
	free(seen);
	free(spans);
	return ret;
#undef FAIL
}

static int hash_file(const uint8_t *map, size_t size, uint8_t out[32])
{
	static const uint8_t zeros[32];
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	unsigned int len = 0;
	int ok;

	if (!ctx)
		return -ENOMEM;
	ok = EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) &&
	     EVP_DigestUpdate(ctx, map, IDENTITY_OFF) &&
	     EVP_DigestUpdate(ctx, zeros, sizeof(zeros));
	for (size_t off = IDENTITY_OFF + 32; ok && off < size; off += HASH_CHUNK) {
		size_t n = size - off < HASH_CHUNK ? size - off : HASH_CHUNK;

		ok = EVP_DigestUpdate(ctx, map + off, n);
	}
	ok = ok && EVP_DigestFinal_ex(ctx, out, &len) && len == 32;
	EVP_MD_CTX_free(ctx);
	return ok ? 0 : -EIO;
}

int hc_rom_open(const char *path, struct hc_rom **out, char *err, size_t errlen)
{
	struct hc_rom *rom = NULL;
	uint8_t digest[32];
	char why[256];
	uint64_t size;
	void *map = MAP_FAILED;
	int fd, ret;

	*out = NULL;
	/* a FIFO or a device given as ROM is refused, never waited on */
	fd = hc_open_regular(path, NULL, &size, err, errlen);
	if (fd < 0)
		return fd;
	if (size < sizeof(struct hc_rom_header)) {
		ret = -EINVAL;
		hc_errmsg(err, errlen, "%s: %lld bytes is too small for an HC ROM (header alone is %zu)",
		       path, (long long)size, sizeof(struct hc_rom_header));
		goto fail;
	}
	map = mmap(NULL, (size_t)size, PROT_READ, MAP_PRIVATE, fd, 0);
	if (map == MAP_FAILED) {
		ret = -errno;
		hc_errmsg(err, errlen, "%s: cannot map: %s", path, strerror(errno));
		goto fail;
	}
	close(fd);
	fd = -1;

	rom = calloc(1, sizeof(*rom) + strlen(path) + 1);
	if (!rom) {
		ret = -ENOMEM;
		hc_errmsg(err, errlen, "%s: out of memory", path);
		goto fail;
	}
	strcpy(rom->path, path);
	rom->map = map;
	rom->size = (size_t)size;
	rom->hdr = map;

	/* Header first, then the table it points to (only once it is known to fit). */
	ret = hc_rom_check_layout(rom->hdr, NULL, rom->size, why, sizeof(why));
	if (!ret) {
		rom->tab = (const void *)(rom->map + rom->hdr->tensors_offset);
		ret = hc_rom_check_layout(rom->hdr, rom->tab, rom->size, why, sizeof(why));
	}
	if (ret) {
		hc_errmsg(err, errlen, "%s: %s", path, why);
		goto fail;
	}

	madvise(map, rom->size, MADV_SEQUENTIAL);
	ret = hash_file(rom->map, rom->size, digest);
	madvise(map, rom->size, MADV_NORMAL);
	if (ret) {
		hc_errmsg(err, errlen, "%s: cannot compute SHA-256", path);
		goto fail;
	}
	if (memcmp(digest, rom->hdr->identity, sizeof(digest)) != 0) {
		ret = -EBADMSG;
		hc_errmsg(err, errlen,
		       "%s: identity mismatch: content does not hash to the header's SHA-256 (corrupt or modified)",
		       path);
		goto fail;
	}
	*out = rom;
	return 0;
fail:
	if (map != MAP_FAILED)
		munmap(map, (size_t)size);
	if (fd >= 0)
		close(fd);
	free(rom);
	return ret;
}

void hc_rom_close(struct hc_rom *rom)
{
	if (!rom)
		return;
	munmap((void *)rom->map, rom->size);
	free(rom);
}

const struct hc_rom_header *hc_rom_header(const struct hc_rom *rom)
{
	return rom->hdr;
}

const struct hc_rom_tensor *hc_rom_find(const struct hc_rom *rom, const char *name)
{
	for (uint32_t i = 0; i < rom->hdr->n_tensors; i++)
		if (strcmp(rom->tab[i].name, name) == 0)
			return &rom->tab[i];
	return NULL;
}

const struct hc_rom_tensor *hc_rom_tensor_at(const struct hc_rom *rom, uint32_t i)
{
	return i < rom->hdr->n_tensors ? &rom->tab[i] : NULL;
}

const void *hc_rom_data(const struct hc_rom *rom, const struct hc_rom_tensor *t)
{
	return rom->map + t->offset;
}

const void *hc_rom_tokenizer_blob(const struct hc_rom *rom, size_t *len)
{
	if (len)
		*len = (size_t)rom->hdr->tokenizer_size;
	return rom->map + rom->hdr->tokenizer_offset;
}

const char *hc_rom_path(const struct hc_rom *rom)
{
	return rom->path;
}
