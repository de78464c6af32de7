/* SPDX-License-Identifier: MIT */
/* ROM loader: maps a ROM read-only and verifies it completely before use. */
#ifndef HC_EMU_ROM_H
#define HC_EMU_ROM_H

#include <stddef.h>
#include <stdint.h>
#include "hc/rom.h"

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

#endif
