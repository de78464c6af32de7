// SPDX-License-Identifier: MIT
/* GGUF parser: everything is checked against the file size before it is trusted. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "bake_io.h"
#include "gguf.h"
#include "quant.h"

#define RD_BUF (64u << 10)
#define MAX_KEY_LEN 65535	/* GGUF spec: keys are at most 2^16 - 1 bytes */
#define MAX_NEST 8		/* arrays of arrays: depth limit */
#define MAX_KV 4096		/* real models have < 100; keeps the duplicate check cheap */

/* Sequential reader over pread with a small buffer. */
struct rd {
	int fd;
	uint64_t size, pos;	/* file size; next byte to hand out */
	uint64_t boff;		/* file offset of buf[0] */
	size_t blen;
	uint8_t buf[RD_BUF];
	const char *path;
	char *err;
	size_t errlen;
};

static int rd_fail_trunc(struct rd *r, uint64_t need, const char *what)
{
	return hc_err(-EINVAL, r->err, r->errlen,
			"%s: truncated: %s needs %" PRIu64 " bytes at offset %" PRIu64
			" but file is %" PRIu64 " bytes", r->path, what, need, r->pos, r->size);
}

static int rd_bytes(struct rd *r, void *dst, uint64_t n, const char *what)
{
	uint8_t *d = dst;

	if (n > r->size - r->pos)
		return rd_fail_trunc(r, n, what);
	while (n) {
		size_t have, k;

		if (r->pos < r->boff || r->pos >= r->boff + r->blen) {
			uint64_t want = r->size - r->pos;
			int rc;

			if (want > RD_BUF)
				want = RD_BUF;
			rc = bake_pread(r->fd, r->buf, (size_t)want, r->pos);
			if (rc)
				return hc_err(rc, r->err, r->errlen, "%s: read error at offset %"
						PRIu64 ": %s", r->path, r->pos, strerror(-rc));
			r->boff = r->pos;
			r->blen = (size_t)want;
		}
		have = (size_t)(r->boff + r->blen - r->pos);
		k = n < have ? (size_t)n : have;
		if (d) {
			memcpy(d, r->buf + (r->pos - r->boff), k);
			d += k;
		}
		r->pos += k;
		n -= k;
	}
	return 0;
}

static int rd_skip(struct rd *r, uint64_t n, const char *what)
{
	if (n > r->size - r->pos)
		return rd_fail_trunc(r, n, what);
	r->pos += n;
	return 0;
}

static int rd_u32(struct rd *r, uint32_t *v, const char *what)
{
	uint8_t b[4];
	int rc = rd_bytes(r, b, 4, what);

	*v = (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24;
	return rc;
}

static int rd_u64(struct rd *r, uint64_t *v, const char *what)
{
	uint8_t b[8];
	int rc = rd_bytes(r, b, 8, what);

	*v = 0;
	for (int k = 7; k >= 0; k--)
		*v = *v << 8 | b[k];
	return rc;
}

/* GGUF string: u64 length + bytes. @out NULL: skip. @max caps the length. */
static int rd_string(struct rd *r, char **out, uint64_t *len_out, uint64_t max,
		     const char *what)
{
	uint64_t len;
	int rc = rd_u64(r, &len, what);

	if (rc)
		return rc;
	if (len > r->size - r->pos)
		return hc_err(-EINVAL, r->err, r->errlen,
				"%s: %s: string length %" PRIu64 " at offset %" PRIu64
				" runs past the end of the file (%" PRIu64 " bytes)",
				r->path, what, len, r->pos, r->size);
	if (len > max)
		return hc_err(-EINVAL, r->err, r->errlen,
				"%s: %s: string length %" PRIu64 " exceeds the limit of %" PRIu64,
				r->path, what, len, max);
	if (len_out)
		*len_out = len;
	if (!out)
		return rd_skip(r, len, what);
	*out = malloc(len + 1);
	if (!*out)
		return hc_err(-ENOMEM, r->err, r->errlen, "%s: out of memory", r->path);
	rc = rd_bytes(r, *out, len, what);
	if (rc) {
		free(*out);
		*out = NULL;
		return rc;
	}
	(*out)[len] = 0;
	return 0;
}

static const uint8_t vtype_size[GGUF_NTYPES] = {
	[GGUF_U8] = 1, [GGUF_I8] = 1, [GGUF_U16] = 2, [GGUF_I16] = 2, [GGUF_U32] = 4,
	[GGUF_I32] = 4, [GGUF_F32] = 4, [GGUF_BOOL] = 1, [GGUF_U64] = 8, [GGUF_I64] = 8,
	[GGUF_F64] = 8,
	[GGUF_STRING] = 8, [GGUF_ARRAY] = 12,	/* smallest encoding: an empty one */
};

const char *gguf_vtype_name(uint32_t type)
{
	static const char *const n[GGUF_NTYPES] = {
		"uint8", "int8", "uint16", "int16", "uint32", "int32", "float32", "bool",
		"string", "array", "uint64", "int64", "float64",
	};

	return type < GGUF_NTYPES ? n[type] : "invalid";
}

/* Little-endian scalar of @type at @b into kv->v. */
static void decode_scalar(uint32_t type, const uint8_t *b, struct gguf_kv *kv)
{
	uint64_t u = 0;

	for (int k = vtype_size[type] - 1; k >= 0; k--)
		u = u << 8 | b[k];
	switch (type) {
	case GGUF_I8: kv->v.i = (int8_t)u; break;
	case GGUF_I16: kv->v.i = (int16_t)u; break;
	case GGUF_I32: kv->v.i = (int32_t)u; break;
	case GGUF_I64: kv->v.i = (int64_t)u; break;
	case GGUF_F32: {
		float f;
		uint32_t w = (uint32_t)u;

		memcpy(&f, &w, 4);
		kv->v.f = f;
		break;
	}
	case GGUF_F64: memcpy(&kv->v.f, &u, 8); break;
	default: kv->v.u = u; break;
	}
}

/* Validate and skip (or capture) an array body: element type and count already read. */
static int rd_array(struct rd *r, struct gguf_kv *kv, uint32_t et, uint64_t n, int capture,
		    int depth, const char *key)
{
	char what[96];
	int rc;

	snprintf(what, sizeof(what), "array '%.60s'", key);
	if (et >= GGUF_NTYPES)
		return hc_err(-EINVAL, r->err, r->errlen, "%s: key '%s': array element type %"
				PRIu32 " is invalid", r->path, key, et);
	/* Every element takes at least vtype_size bytes: bounds the count before use. */
	if (n > (r->size - r->pos) / vtype_size[et])
		return hc_err(-EINVAL, r->err, r->errlen,
				"%s: key '%s': array of %" PRIu64 " %s elements at offset %" PRIu64
				" cannot fit in a file of %" PRIu64 " bytes", r->path, key, n,
				gguf_vtype_name(et), r->pos, r->size);
	if (capture && n > GGUF_MAX_CAPTURE)
		return hc_err(-EINVAL, r->err, r->errlen, "%s: key '%s': %" PRIu64 " elements; at "
				"most %u are accepted", r->path, key, n, GGUF_MAX_CAPTURE);
	if (et == GGUF_ARRAY) {
		if (depth >= MAX_NEST)
			return hc_err(-EINVAL, r->err, r->errlen,
					"%s: key '%s': arrays nested deeper than %d", r->path,
					key, MAX_NEST);
		for (uint64_t k = 0; k < n; k++) {
			uint32_t et2;
			uint64_t n2;

			rc = rd_u32(r, &et2, what);
			if (!rc)
				rc = rd_u64(r, &n2, what);
			if (!rc)
				rc = rd_array(r, NULL, et2, n2, 0, depth + 1, key);
			if (rc)
				return rc;
		}
		return 0;
	}
	if (et == GGUF_STRING) {
		char **v = NULL;

		if (capture) {
			v = calloc(n ? n : 1, sizeof(*v));
			if (!v)
				return hc_err(-ENOMEM, r->err, r->errlen, "%s: out of memory",
						r->path);
			kv->arr = v;	/* freed by gguf_close even when half-filled */
		}
		for (uint64_t k = 0; k < n; k++) {
			rc = rd_string(r, v ? &v[k] : NULL, NULL, UINT32_MAX, what);
			if (rc)
				return rc;
		}
		return 0;
	}
	if (!capture)
		return rd_skip(r, n * vtype_size[et], what);
	kv->arr = malloc(n ? n * vtype_size[et] : 1);
	if (!kv->arr)
		return hc_err(-ENOMEM, r->err, r->errlen, "%s: out of memory", r->path);
	return rd_bytes(r, kv->arr, n * vtype_size[et], what);
}

static int in_list(const char *const *list, const char *key)
{
	for (; list && *list; list++)
		if (!strcmp(*list, key))
			return 1;
	return 0;
}

static int rd_kv(struct rd *r, struct gguf_kv *kv, uint64_t idx, const char *const *capture)
{
	char what[96];
	uint8_t b[8];
	int rc;

	snprintf(what, sizeof(what), "key #%" PRIu64, idx);
	rc = rd_string(r, &kv->key, NULL, MAX_KEY_LEN, what);
	if (rc)
		return rc;
	if (strlen(kv->key) == 0)
		return hc_err(-EINVAL, r->err, r->errlen, "%s: key #%" PRIu64 " is empty",
				r->path, idx);
	snprintf(what, sizeof(what), "value of key '%.60s'", kv->key);
	rc = rd_u32(r, &kv->type, what);
	if (rc)
		return rc;
	switch (kv->type) {
	case GGUF_STRING:
		return rd_string(r, &kv->str, &kv->str_len, UINT32_MAX, what);
	case GGUF_ARRAY:
		rc = rd_u32(r, &kv->arr_type, what);
		if (!rc)
			rc = rd_u64(r, &kv->arr_n, what);
		if (rc)
			return rc;
		return rd_array(r, kv, kv->arr_type, kv->arr_n,
				kv->arr_type != GGUF_ARRAY && in_list(capture, kv->key), 0,
				kv->key);
	default:
		if (kv->type >= GGUF_NTYPES)
			return hc_err(-EINVAL, r->err, r->errlen,
					"%s: key '%s' has invalid value type %" PRIu32, r->path,
					kv->key, kv->type);
		rc = rd_bytes(r, b, vtype_size[kv->type], what);
		if (rc)
			return rc;
		decode_scalar(kv->type, b, kv);
		return 0;
	}
}

static int rd_tensor_info(struct rd *r, struct gguf_tensor_info *t, uint64_t idx)
{
	char what[96], *name = NULL;
	uint64_t len;
	int rc;

	snprintf(what, sizeof(what), "tensor info #%" PRIu64, idx);
	rc = rd_string(r, &name, &len, UINT32_MAX, what);
	if (rc)
		return rc;
	if (len >= sizeof(t->name) || strlen(name) != len) {
		rc = hc_err(-EINVAL, r->err, r->errlen, "%s: tensor #%" PRIu64 ": name '%.80s%s' "
			      "is not a NUL-free string of at most %zu bytes", r->path, idx, name,
			      len > 80 ? "..." : "", sizeof(t->name) - 1);
		free(name);
		return rc;
	}
	memcpy(t->name, name, len + 1);
	free(name);
	snprintf(what, sizeof(what), "tensor info '%s'", t->name);
	rc = rd_u32(r, &t->n_dims, what);
	if (rc)
		return rc;
	if (t->n_dims < 1 || t->n_dims > GGUF_MAX_DIMS)
		return hc_err(-EINVAL, r->err, r->errlen, "%s: tensor '%s' has %" PRIu32
				" dimensions; GGUF allows 1 to %d", r->path, t->name, t->n_dims,
				GGUF_MAX_DIMS);
	for (int k = 0; k < GGUF_MAX_DIMS; k++)
		t->ne[k] = 1;
	for (uint32_t k = 0; k < t->n_dims; k++) {
		rc = rd_u64(r, &t->ne[k], what);
		if (rc)
			return rc;
		if (t->ne[k] == 0 || t->ne[k] > (UINT64_C(1) << 40))
			return hc_err(-EINVAL, r->err, r->errlen, "%s: tensor '%s' dimension %"
					PRIu32 " is %" PRIu64 "", r->path, t->name, k, t->ne[k]);
	}
	rc = rd_u32(r, &t->type, what);
	if (!rc)
		rc = rd_u64(r, &t->offset, what);
	return rc;
}

/* Tensor data placement: aligned, inside the file, size computed overflow-safely. */
static int check_tensor(const struct gguf_file *g, struct gguf_tensor_info *t,
			const char *path, char *err, size_t errlen)
{
	uint64_t rows = 1, row_bytes, end;

	if (t->offset % g->alignment)
		return hc_err(-EINVAL, err, errlen, "%s: tensor '%s' offset %" PRIu64
				" is not a multiple of the alignment %" PRIu32, path, t->name,
				t->offset, g->alignment);
	if (t->offset > g->file_size - g->data_offset)
		return hc_err(-EINVAL, err, errlen, "%s: truncated: tensor '%s' starts at %"
				PRIu64 " but file is %" PRIu64 " bytes", path, t->name,
				g->data_offset + t->offset, g->file_size);
	t->offset += g->data_offset;
	t->size = 0;
	if (!bake_type_supported(t->type))
		return 0;	/* the caller names the type */
	row_bytes = hc_row_size(t->type, t->ne[0]);
	if (!row_bytes)
		return hc_err(-EINVAL, err, errlen, "%s: tensor '%s' row length %" PRIu64
				" is not a multiple of %s's block size %d", path, t->name,
				t->ne[0], bake_type_name(t->type), HC_QK);
	for (int k = 1; k < GGUF_MAX_DIMS; k++) {
		if (t->ne[k] > UINT64_MAX / rows)
			goto huge;
		rows *= t->ne[k];
	}
	if (rows > UINT64_MAX / row_bytes)
		goto huge;
	t->size = rows * row_bytes;
	if (t->size > UINT64_MAX - t->offset)
		goto huge;
	end = t->offset + t->size;
	if (end > g->file_size)
		return hc_err(-EINVAL, err, errlen, "%s: truncated: tensor '%s' ends at %"
				PRIu64 " but file is %" PRIu64 " bytes", path, t->name, end,
				g->file_size);
	return 0;
huge:
	return hc_err(-EINVAL, err, errlen, "%s: tensor '%s' is too large (%" PRIu64 " x %"
			PRIu64 " x %" PRIu64 " x %" PRIu64 ")", path, t->name, t->ne[0],
			t->ne[1], t->ne[2], t->ne[3]);
}

const struct gguf_kv *gguf_find(const struct gguf_file *g, const char *key)
{
	for (uint64_t k = 0; k < g->n_kv; k++)
		if (g->kv[k].key && !strcmp(g->kv[k].key, key))
			return &g->kv[k];
	return NULL;
}

static void free_kv(struct gguf_kv *kv)
{
	free(kv->key);
	free(kv->str);
	if (kv->arr && kv->type == GGUF_ARRAY && kv->arr_type == GGUF_STRING) {
		char **v = kv->arr;

		for (uint64_t k = 0; k < kv->arr_n; k++)
			free(v[k]);
	}
	free(kv->arr);
}

void gguf_close(struct gguf_file *g)
{
	if (!g)
		return;
	for (uint64_t k = 0; g->kv && k < g->n_kv; k++)
		free_kv(&g->kv[k]);
	free(g->kv);
	free(g->tensors);
	if (g->fd >= 0)
		close(g->fd);
	free(g);
}

static int parse(struct gguf_file *g, struct rd *r, const char *const *capture)
{
	uint8_t magic[4];
	uint64_t n_kv, n_tensors;
	const struct gguf_kv *al;
	int rc;

	rc = rd_bytes(r, magic, 4, "magic");
	if (rc)
		return rc;
	if (memcmp(magic, "GGUF", 4))
		return hc_err(-EINVAL, r->err, r->errlen, "%s: not a GGUF file (magic "
				"%02x %02x %02x %02x, expected \"GGUF\")", r->path, magic[0],
				magic[1], magic[2], magic[3]);
	rc = rd_u32(r, &g->version, "version");
	if (rc)
		return rc;
	if (g->version != 2 && g->version != 3) {
		if (g->version == 1)
			return hc_err(-EINVAL, r->err, r->errlen, "%s: GGUF version 1 is not "
					"supported; supported: 2, 3", r->path);
		if ((g->version & 0xffff) == 0)
			return hc_err(-EINVAL, r->err, r->errlen, "%s: big-endian GGUF (version "
					"0x%08" PRIx32 ") is not supported", r->path, g->version);
		return hc_err(-EINVAL, r->err, r->errlen, "%s: GGUF version %" PRIu32
				" is not supported; supported: 2, 3", r->path, g->version);
	}
	rc = rd_u64(r, &n_tensors, "tensor count");
	if (!rc)
		rc = rd_u64(r, &n_kv, "metadata count");
	if (rc)
		return rc;
	/* Each KV takes >= 8 + 1 + 4 + 1 bytes, each tensor info >= 8 + 1 + 4 + 8 + 4 + 8. */
	if (n_kv > MAX_KV)
		return hc_err(-EINVAL, r->err, r->errlen, "%s: header claims %" PRIu64
				" metadata entries; at most %d are accepted", r->path, n_kv, MAX_KV);
	if (n_kv > (r->size - r->pos) / 14)
		return hc_err(-EINVAL, r->err, r->errlen, "%s: header claims %" PRIu64
				" metadata entries but the file (%" PRIu64 " bytes) cannot hold them",
				r->path, n_kv, r->size);
	if (n_tensors > (r->size - r->pos) / 33)
		return hc_err(-EINVAL, r->err, r->errlen, "%s: header claims %" PRIu64
				" tensors but the file (%" PRIu64 " bytes) cannot hold them",
				r->path, n_tensors, r->size);
	g->kv = calloc(n_kv ? n_kv : 1, sizeof(*g->kv));
	g->tensors = calloc(n_tensors ? n_tensors : 1, sizeof(*g->tensors));
	if (!g->kv || !g->tensors)
		return hc_err(-ENOMEM, r->err, r->errlen, "%s: out of memory", r->path);
	for (uint64_t k = 0; k < n_kv; k++) {
		g->n_kv = k + 1;	/* so gguf_close frees a partly read entry */
		rc = rd_kv(r, &g->kv[k], k, capture);
		if (rc)
			return rc;
		for (uint64_t j = 0; j < k; j++)
			if (!strcmp(g->kv[j].key, g->kv[k].key))
				return hc_err(-EINVAL, r->err, r->errlen, "%s: duplicate key '%s'",
						r->path, g->kv[k].key);
	}
	g->alignment = GGUF_DEFAULT_ALIGNMENT;
	al = gguf_find(g, "general.alignment");
	if (al) {
		if (al->type != GGUF_U32)
			return hc_err(-EINVAL, r->err, r->errlen, "%s: general.alignment has "
					"type %s, expected uint32", r->path,
					gguf_vtype_name(al->type));
		if (al->v.u == 0 || (al->v.u & (al->v.u - 1)))
			return hc_err(-EINVAL, r->err, r->errlen, "%s: general.alignment %"
					PRIu64 " is not a power of two", r->path, al->v.u);
		g->alignment = (uint32_t)al->v.u;
	}
	for (uint64_t k = 0; k < n_tensors; k++) {
		rc = rd_tensor_info(r, &g->tensors[k], k);
		if (rc)
			return rc;
		g->n_tensors = k + 1;
	}
	g->data_offset = r->pos + (g->alignment - r->pos % g->alignment) % g->alignment;
	if (g->data_offset > r->size) {
		if (n_tensors == 0)
			g->data_offset = r->size;
		else
			return hc_err(-EINVAL, r->err, r->errlen, "%s: truncated: tensor data "
					"starts at %" PRIu64 " but file is %" PRIu64 " bytes",
					r->path, g->data_offset, r->size);
	}
	for (uint64_t k = 0; k < n_tensors; k++) {
		rc = check_tensor(g, &g->tensors[k], r->path, r->err, r->errlen);
		if (rc)
			return rc;
	}
	return 0;
}

int gguf_open(const char *path, const char *const *capture, struct gguf_file **out,
	      char *err, size_t errlen)
{
	struct gguf_file *g;
	struct rd *r;
	int rc;

	*out = NULL;
	g = calloc(1, sizeof(*g));
	r = calloc(1, sizeof(*r));
	if (!g || !r) {
		free(g);
		free(r);
		return hc_err(-ENOMEM, err, errlen, "%s: out of memory", path);
	}
	g->fd = bake_open_file(path, &g->file_size, err, errlen);
	if (g->fd < 0) {
		rc = g->fd;
		goto fail;
	}
	r->fd = g->fd;
	r->size = g->file_size;
	r->path = path;
	r->err = err;
	r->errlen = errlen;
	rc = parse(g, r, capture);
	if (rc)
		goto fail;
	free(r);
	posix_fadvise(g->fd, 0, 0, POSIX_FADV_SEQUENTIAL);
	*out = g;
	return 0;
fail:
	free(r);
	gguf_close(g);
	return rc;
}
