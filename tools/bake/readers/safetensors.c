// SPDX-License-Identifier: MIT
/* safetensors header parsing with jansson; nothing in the header is trusted unchecked. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "bake_io.h"
#include "rom_format.h"
#include "safetensors.h"

/* The safetensors format caps the header at 100 MB; so do we. */
#define ST_MAX_HEADER (100u << 20)

static const struct {
	const char *name;
	uint32_t size;
	uint32_t type;
} dtypes[] = {
	{ "F32", 4, HC_WTYPE_F32 }, { "F16", 2, HC_WTYPE_F16 }, { "BF16", 2, HC_WTYPE_BF16 },
	{ "F64", 8, ST_TYPE_UNSUPPORTED }, { "I64", 8, ST_TYPE_UNSUPPORTED },
	{ "U64", 8, ST_TYPE_UNSUPPORTED }, { "I32", 4, ST_TYPE_UNSUPPORTED },
	{ "U32", 4, ST_TYPE_UNSUPPORTED }, { "I16", 2, ST_TYPE_UNSUPPORTED },
	{ "U16", 2, ST_TYPE_UNSUPPORTED }, { "I8", 1, ST_TYPE_UNSUPPORTED },
	{ "U8", 1, ST_TYPE_UNSUPPORTED }, { "BOOL", 1, ST_TYPE_UNSUPPORTED },
	{ "F8_E4M3", 1, ST_TYPE_UNSUPPORTED }, { "F8_E5M2", 1, ST_TYPE_UNSUPPORTED },
};

void st_close(struct st_file *f)
{
	if (!f)
		return;
	for (uint32_t k = 0; k < f->n; k++)
		free(f->t[k].name);
	free(f->t);
	if (f->fd >= 0)
		close(f->fd);
	free(f->path);
	free(f);
}

const struct st_tensor *st_find(const struct st_file *f, const char *name)
{
	for (uint32_t k = 0; k < f->n; k++)
		if (!strcmp(f->t[k].name, name))
			return &f->t[k];
	return NULL;
}

static int parse_tensor(struct st_file *f, const char *name, json_t *v, uint64_t data_start,
			struct st_tensor *t, char *err, size_t errlen)
{
	json_t *dt = json_object_get(v, "dtype"), *shape = json_object_get(v, "shape");
	json_t *offs = json_object_get(v, "data_offsets");
	uint64_t elsize = 0, n_elem = 1, begin, end, data_size = f->file_size - data_start;
	size_t k;

	if (!json_is_object(v) || !json_is_string(dt) || !json_is_array(shape) ||
	    !json_is_array(offs) || json_array_size(offs) != 2 ||
	    !json_is_integer(json_array_get(offs, 0)) || !json_is_integer(json_array_get(offs, 1)))
		return hc_err(-EINVAL, err, errlen, "%s: tensor '%s': header entry needs dtype, "
				"shape and data_offsets [begin, end]", f->path, name);
	if (json_array_size(shape) > ST_MAX_DIMS)
		return hc_err(-EINVAL, err, errlen, "%s: tensor '%s' has %zu dimensions; at most "
				"%d are supported", f->path, name, json_array_size(shape),
				ST_MAX_DIMS);
	snprintf(t->dtype, sizeof(t->dtype), "%s", json_string_value(dt));
	t->type = ST_TYPE_UNSUPPORTED;
	for (k = 0; k < sizeof(dtypes) / sizeof(dtypes[0]); k++) {
		if (!strcmp(json_string_value(dt), dtypes[k].name)) {
			elsize = dtypes[k].size;
			t->type = dtypes[k].type;
		}
	}
	t->n_dims = (uint32_t)json_array_size(shape);
	for (k = 0; k < t->n_dims; k++) {
		json_t *d = json_array_get(shape, k);

		if (!json_is_integer(d) || json_integer_value(d) < 0)
			return hc_err(-EINVAL, err, errlen, "%s: tensor '%s': shape entry %zu is "
					"not a non-negative integer", f->path, name, k);
		t->shape[k] = (uint64_t)json_integer_value(d);
		if (t->shape[k] && n_elem > UINT64_MAX / t->shape[k])
			return hc_err(-EINVAL, err, errlen, "%s: tensor '%s': shape overflows",
					f->path, name);
		n_elem *= t->shape[k];
	}
	if (json_integer_value(json_array_get(offs, 0)) < 0 ||
	    json_integer_value(json_array_get(offs, 1)) < 0)
		return hc_err(-EINVAL, err, errlen, "%s: tensor '%s': negative data_offsets",
				f->path, name);
	begin = (uint64_t)json_integer_value(json_array_get(offs, 0));
	end = (uint64_t)json_integer_value(json_array_get(offs, 1));
	if (begin > end || end > data_size)
		return hc_err(-EINVAL, err, errlen, "%s: truncated: tensor '%s' data [%" PRIu64
				", %" PRIu64 ") lies outside the %" PRIu64 " data bytes after the "
				"header", f->path, name, begin, end, data_size);
	if (elsize && (n_elem > UINT64_MAX / elsize || end - begin != n_elem * elsize))
		return hc_err(-EINVAL, err, errlen, "%s: tensor '%s': data_offsets span %" PRIu64
				" bytes but %s shape needs %" PRIu64, f->path, name, end - begin,
				t->dtype, n_elem * elsize);
	t->offset = data_start + begin;
	t->size = end - begin;
	return 0;
}

static int parse_header(struct st_file *f, char *err, size_t errlen)
{
	uint8_t lenb[8];
	uint64_t hlen = 0;
	char *hdr;
	json_t *root, *v;
	json_error_t je;
	const char *name;
	int rc;

	if (f->file_size < 8)
		return hc_err(-EINVAL, err, errlen, "%s: truncated: %" PRIu64 " bytes, too short "
				"for a safetensors header", f->path, f->file_size);
	rc = bake_pread(f->fd, lenb, 8, 0);
	if (rc)
		return hc_err(rc, err, errlen, "%s: %s", f->path, strerror(-rc));
	for (int k = 7; k >= 0; k--)
		hlen = hlen << 8 | lenb[k];
	if (hlen > f->file_size - 8)
		return hc_err(-EINVAL, err, errlen, "%s: truncated: header length %" PRIu64
				" runs past the end of the file (%" PRIu64 " bytes)", f->path,
				hlen, f->file_size);
	if (hlen > ST_MAX_HEADER || hlen < 2)
		return hc_err(-EINVAL, err, errlen, "%s: header length %" PRIu64 " is not "
				"plausible (2 to %u bytes)", f->path, hlen, ST_MAX_HEADER);
	hdr = malloc(hlen);
	if (!hdr)
		return hc_err(-ENOMEM, err, errlen, "%s: out of memory", f->path);
	rc = bake_pread(f->fd, hdr, hlen, 8);
	if (rc) {
		free(hdr);
		return hc_err(rc, err, errlen, "%s: %s", f->path, strerror(-rc));
	}
	root = json_loadb(hdr, hlen, JSON_REJECT_DUPLICATES, &je);
	free(hdr);
	if (!root)
		return hc_err(-EINVAL, err, errlen, "%s: header is not valid JSON: %s (byte %d)",
				f->path, je.text, je.position);
	if (!json_is_object(root)) {
		json_decref(root);
		return hc_err(-EINVAL, err, errlen, "%s: header is not a JSON object", f->path);
	}
	f->t = calloc(json_object_size(root) + 1, sizeof(*f->t));
	if (!f->t) {
		json_decref(root);
		return hc_err(-ENOMEM, err, errlen, "%s: out of memory", f->path);
	}
	json_object_foreach(root, name, v) {
		struct st_tensor *t = &f->t[f->n];

		if (!strcmp(name, "__metadata__"))
			continue;
		t->name = strdup(name);
		if (!t->name) {
			rc = hc_err(-ENOMEM, err, errlen, "%s: out of memory", f->path);
			break;
		}
		f->n++;
		rc = parse_tensor(f, name, v, 8 + hlen, t, err, errlen);
		if (rc)
			break;
	}
	json_decref(root);
	return rc;
}

int st_open(const char *path, struct st_file **out, char *err, size_t errlen)
{
	struct st_file *f = calloc(1, sizeof(*f));
	int rc;

	*out = NULL;
	if (!f || !(f->path = strdup(path))) {
		free(f);
		return hc_err(-ENOMEM, err, errlen, "%s: out of memory", path);
	}
	f->fd = bake_open_file(path, &f->file_size, err, errlen);
	if (f->fd < 0) {
		rc = f->fd;
		goto fail;
	}
	rc = parse_header(f, err, errlen);
	if (rc)
		goto fail;
	posix_fadvise(f->fd, 0, 0, POSIX_FADV_SEQUENTIAL);
	*out = f;
	return 0;
fail:
	st_close(f);
	return rc;
}
