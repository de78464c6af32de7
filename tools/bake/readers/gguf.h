/* SPDX-License-Identifier: MIT */
/*
 * GGUF v2/v3 container parser (header, key/value metadata, tensor infos) that streams the
 * header through a small buffer and checks every length, count and offset against the
 * file size. Tensor data is not read here.
 */
#ifndef HC_GGUF_H
#define HC_GGUF_H

#include <stddef.h>
#include <stdint.h>

enum gguf_vtype {
	GGUF_U8 = 0, GGUF_I8 = 1, GGUF_U16 = 2, GGUF_I16 = 3, GGUF_U32 = 4, GGUF_I32 = 5,
	GGUF_F32 = 6, GGUF_BOOL = 7, GGUF_STRING = 8, GGUF_ARRAY = 9, GGUF_U64 = 10,
	GGUF_I64 = 11, GGUF_F64 = 12,
	GGUF_NTYPES
};

#define GGUF_DEFAULT_ALIGNMENT 32
#define GGUF_MAX_DIMS 4
#define GGUF_MAX_CAPTURE (1u << 26)	/* elements of an array loaded into memory */

struct gguf_kv {
	char    *key;
	uint32_t type;		/* enum gguf_vtype */
	uint32_t arr_type;	/* arrays: element type */
	uint64_t arr_n;		/* arrays: element count */
	union {
		uint64_t u;	/* unsigned integers and bool */
		int64_t  i;	/* signed integers */
		double   f;	/* F32 / F64 */
	} v;
	char    *str;		/* GGUF_STRING value, NUL-terminated (may contain NULs) */
	uint64_t str_len;
	/* Arrays named in gguf_open's @capture: char ** (strings) or packed LE elements.
	 * A caller may take ownership by setting it to NULL. */
	void    *arr;
};

struct gguf_tensor_info {
	char     name[64];
	uint32_t n_dims;
	uint64_t ne[GGUF_MAX_DIMS];	/* unused dims are 1 */
	uint32_t type;			/* ggml type number */
	uint64_t offset;		/* absolute file offset of the data */
	uint64_t size;			/* bytes; 0 when the type is not one the readers know */
};

struct gguf_file {
	int      fd;
	uint64_t file_size;
	uint32_t version;
	uint32_t alignment;
	uint64_t data_offset;
	uint64_t n_kv;
	struct gguf_kv *kv;
	uint64_t n_tensors;
	struct gguf_tensor_info *tensors;
};

/*
 * Open and parse @path. @capture: NULL-terminated list of keys whose (flat) arrays are
 * loaded into memory; other arrays are validated and skipped. Tensors of a known type
 * (bake_type_supported) are bounds-checked here; others have size 0.
 * 0 or negative errno with "PATH: problem" in @err.
 */
int gguf_open(const char *path, const char *const *capture, struct gguf_file **out,
	      char *err, size_t errlen);
void gguf_close(struct gguf_file *g);

/* Key lookup, or NULL. */
const struct gguf_kv *gguf_find(const struct gguf_file *g, const char *key);
/* Name of a value type ("uint32", "array"...). */
const char *gguf_vtype_name(uint32_t type);

#endif
