/* SPDX-License-Identifier: MIT */
/*
 * safetensors file header parser: 8-byte little-endian header length, JSON header
 * {name: {dtype, shape, data_offsets}}, then data. Every offset and size is checked
 * against the file; tensor data is not read here.
 */
#ifndef HC_SAFETENSORS_H
#define HC_SAFETENSORS_H

#include <stddef.h>
#include <stdint.h>

#define ST_MAX_DIMS 4
#define ST_TYPE_UNSUPPORTED UINT32_MAX

struct st_tensor {
	char    *name;
	char     dtype[16];		/* as written, e.g. "BF16" */
	uint32_t type;			/* enum hc_wtype, or ST_TYPE_UNSUPPORTED */
	uint32_t n_dims;
	uint64_t shape[ST_MAX_DIMS];	/* safetensors order: shape[0] outermost */
	uint64_t offset;		/* absolute file offset */
	uint64_t size;			/* bytes */
};

struct st_file {
	char    *path;
	int      fd;
	uint64_t file_size;
	uint32_t n;
	struct st_tensor *t;
};

/* 0 or negative errno with "PATH: problem" in @err. */
int st_open(const char *path, struct st_file **out, char *err, size_t errlen);
void st_close(struct st_file *f);
const struct st_tensor *st_find(const struct st_file *f, const char *name);

#endif
