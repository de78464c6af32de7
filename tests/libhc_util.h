/* SPDX-License-Identifier: MIT */
/*
 * Helpers for the libhc tests: bake synthetic ROMs with build/hc-bake, run build/hc-emud on a
 * temporary socket as a subprocess, and compute reference generations in-process with the
 * emulator's forward pass (hc_forward + hc_sample) to compare against the card's streams.
 */
#ifndef HC_TESTS_LIBHC_UTIL_H
#define HC_TESTS_LIBHC_UTIL_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include "hc/hc.h"

struct t_emud {
	pid_t pid;
	char dir[64];		/* private temp dir holding the socket */
	char sock[128];
	char uri[160];		/* "emu:" + sock */
};

/*
 * Bake build/tests/roms/@name with build/hc-bake ARGS... -o ROM (NULL-terminated
 * arguments), unless it is already there; @path gets its name. Safe against concurrent
 * test programs baking the same ROM.
 */
const char *t_bake_rom(char *path, size_t len, const char *name, ...)
	__attribute__((sentinel));

/* Bake "--synthetic @preset --seed @seed" into build/tests/roms (cached per test run). */
const char *t_bake(const char *preset, unsigned seed, char *path, size_t len);

/* The "tiny" synthetic model with a longer context (in-process bake; needs BAKE_SRCS). */
const char *t_bake_long(unsigned seed, uint32_t max_ctx, char *path, size_t len);

/* Start build/hc-emud --rom @rom on a fresh socket (extra args NULL-terminated). */
void t_emud_start(struct t_emud *e, const char *rom, ...);
void t_emud_stop(struct t_emud *e);

/* Reference generation in-process: prompt then n tokens with the card's sampling rule. */
struct t_ref_params {
	uint32_t max_tokens;
	float temperature, top_p;
	uint32_t top_k;
	uint64_t seed;
	uint32_t n_stop;
	const int32_t *stop_ids;
};
/* Returns the number of tokens generated into @out (stops after a stop id, included). */
uint32_t t_reference(const char *rom, const int32_t *prompt, uint32_t n_prompt,
		     const struct t_ref_params *p, int32_t *out);

/* Open the card and read a whole decode into @out (checked). Returns the count. */
uint32_t t_generate(struct hc_card *card, const int32_t *prompt, uint32_t n_prompt,
		    const struct t_ref_params *p, int32_t *out, struct hc_stream_status *st);

/* Parse a stories260K golden file. Returns 0 on success. */
int t_read_golden(const char *path, int32_t *prompt, uint32_t *n_prompt, int32_t *gen,
		  uint32_t *n_gen, uint32_t cap);

#endif
