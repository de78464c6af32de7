/* SPDX-License-Identifier: MIT */
/* ROM loader: maps a ROM read-only and verifies it completely before use. */
#ifndef HC_EMU_ROM_H
#define HC_EMU_ROM_H

#include <stddef.h>
#include <stdint.h>
#include "rom_format.h"

struct hc_rom;

/*
 * hc_rom_open - map @path read-only (PROT_READ, MAP_PRIVATE) and verify magic, version,
 * size, every offset and bound, alignment, reserved fields and the SHA-256 identity.
 * On failure returns a negative errno and writes one line "PATH: what is wrong" to @err.
 */
int hc_rom_open(const char *path, struct hc_rom **out, char *err, size_t errlen);
void hc_rom_close(struct hc_rom *rom);

const struct hc_rom_header *hc_rom_header(const struct hc_rom *rom);
/* Tensor by name, or NULL. */
const struct hc_rom_tensor *hc_rom_find(const struct hc_rom *rom, const char *name);
/* Tensor by index < header->n_tensors. */
const struct hc_rom_tensor *hc_rom_tensor_at(const struct hc_rom *rom, uint32_t i);
const void *hc_rom_data(const struct hc_rom *rom, const struct hc_rom_tensor *t);
const void *hc_rom_tokenizer_blob(const struct hc_rom *rom, size_t *len);
const char *hc_rom_path(const struct hc_rom *rom);

/*
 * Shared by the loader and hc-bake (so a bake fails early, before writing, on what the
 * loader would reject). Tensors have a canonical order, their "slot": token_embd.weight,
 * then blk.0 .. blk.N-1 each attn_norm, attn_q, attn_k, attn_v, attn_output, ffn_norm,
 * ffn_gate, ffn_up, ffn_down, then output_norm.weight, output.weight (absent when
 * HC_ARCH_TIED_CLASSIFIER).
 */
/* Number of tensors a ROM of shape @a holds. */
uint32_t hc_rom_n_expected(const struct hc_rom_arch *a);
/* Slot of tensor @name for shape @a and its expected dims and shape; -ENOENT if the
 * architecture has no such tensor. */
int hc_rom_tensor_slot(const struct hc_rom_arch *a, const char *name, uint32_t *n_dims,
		       uint64_t shape[2]);
/* Check model shape limits; 0 or -EINVAL with the problem (no path) in @why. */
int hc_rom_check_arch(const struct hc_rom_arch *a, char *why, size_t whylen);
/* Check a header and its tensor table against a file of @file_size bytes (everything
 * hc_rom_open checks except the identity). 0 or -EINVAL with the problem in @why. */
int hc_rom_check_layout(const struct hc_rom_header *h, const struct hc_rom_tensor *tab,
			uint64_t file_size, char *why, size_t whylen);

#endif
