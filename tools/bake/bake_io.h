/* SPDX-License-Identifier: MIT */
/*
 * Shared pieces of hc-bake's checkpoint readers (GGUF, Hugging Face, llama2.c) and ROM
 * writer: bounded pread-based row reading, type names, and the tensor set a Llama model
 * must have.
 */
#ifndef HC_BAKE_IO_H
#define HC_BAKE_IO_H

#include <stddef.h>
#include <stdint.h>
#include "bake.h"
#include "hc_err.h"
#include "hc_file.h"

/* Largest single read buffer a reader allocates (bounded RSS for any model size). */
#define BAKE_IO_CHUNK (4u << 20)

/* Open @path read-only; it must be a regular file (hc_open_regular). An fd and its *@size. */
int bake_open_file(const char *path, uint64_t *size, char *err, size_t errlen);

/* Read exactly @n bytes at @off. 0, or -EIO on a short read / negative errno from pread. */
int bake_pread(int fd, void *buf, size_t n, uint64_t off);

/* Human name of a GGML/hc element type ("Q4_K"), or "unknown". */
const char *bake_type_name(uint32_t type);
/* True for the types the readers accept: F32, F16, BF16, Q8_0, Q4_0. */
int bake_type_supported(uint32_t type);

/*
 * Rows of a tensor stored contiguously at file offset @base, @row_bytes per row, element
 * type @type, @row_len elements per row. Row r of the result is stored row @perm(r) when
 * @perm_heads is non-zero (llama.cpp's q/k permutation with that many heads; see
 * bake_perm_row), else row r. Reads in chunks of at most BAKE_IO_CHUNK.
 * @f32: widen into (float *)dst; else copy stored bytes into dst.
 */
int bake_read_rows(int fd, uint64_t base, uint32_t type, uint64_t row_len, uint64_t n_rows,
		   uint32_t perm_heads, uint64_t row0, uint64_t n, int f32, void *dst);

/*
 * Source row of output row @r when turning Hugging Face's rotate-half q/k layout into
 * the interleaved one, as llama.cpp's convert_hf_to_gguf.py LlamaModel.permute: within
 * each head of @head_dim rows, row 2i+j comes from row j*(head_dim/2)+i.
 */
uint64_t bake_perm_row(uint64_t r, uint64_t head_dim);

/*
 * Canonical slots of a Llama model's tensors (emu/rom/rom.h hc_rom_tensor_slot), counting
 * output.weight even for a tied classifier so a reader can tell whether it is present.
 * bake_slot: slot of @name with its ROM shape, or -ENOENT.
 */
uint32_t bake_n_slots(const struct hc_rom_arch *arch);
int bake_slot(const struct hc_rom_arch *arch, const char *name, uint32_t *n_dims,
	      uint64_t shape[2]);
void bake_slot_name(const struct hc_rom_arch *arch, uint32_t idx, char *buf, size_t len);



#endif
