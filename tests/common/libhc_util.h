/* SPDX-License-Identifier: MIT */
/*
 * Helpers for the libhc tests: bake synthetic ROMs with build/hc-bake, run build/hc-emud on a
 * temporary socket as a subprocess (or use an external card, see t_emud_start), and compute reference generations in-process with the
 * emulator's forward pass (hc_forward + hc_sample) to compare against the card's streams.
 */
#ifndef HC_TESTS_LIBHC_UTIL_H
#define HC_TESTS_LIBHC_UTIL_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include "hc/hc.h"
#include "hc_test.h"

struct t_emud {
	pid_t pid;		/* 0 for an external card */
	char dir[64];		/* private temp dir holding the socket */
	char sock[128];
	char uri[160];		/* "emu:" + sock, or the external card's URI */
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

/*
 * Start build/hc-emud --rom @rom on a fresh socket (extra args NULL-terminated); returns NULL.
 * External-card mode: when $HC_TEST_DEVICE is set (a device URI, or several separated by
 * commas: e.g. the kernel driver's nodes inside the QEMU guest), no daemon is started and
 * e->uri names the card whose model identity is @rom's. Returns why the test cannot run
 * there instead (no such card, or extra daemon options): use T_EMUD_START, which skips.
 */
const char *t_emud_start(struct t_emud *e, const char *rom, ...) __attribute__((sentinel));
void t_emud_stop(struct t_emud *e);

/* $HC_TEST_DEVICE is set: the tests drive an external card, not their own hc-emud. */
int t_external(void);

/* t_emud_start, skipping the test (SKIP: line) when it cannot run on the external card. */
#define T_EMUD_START(e, rom, ...)                                        \
	do {                                                             \
		const char *why_ = t_emud_start((e), (rom), __VA_ARGS__); \
		if (why_)                                                \
			HC_SKIP("%s", why_);                             \
	} while (0)

/* Skip a test that controls its own hc-emud (kills it, reads its internals) on a card. */
#define T_NEED_OWN_DAEMON(what)                                                          \
	do {                                                                             \
		if (t_external())                                                        \
			HC_SKIP("external card ($HC_TEST_DEVICE): needs its own hc-emud: %s", \
				what);                                                   \
	} while (0)

/* Reference generation in-process: prompt then n tokens with the card's sampling rule. */
struct t_ref_params {
	uint32_t max_tokens;
	float temperature, top_p;
	uint32_t top_k;
	uint64_t seed;
	uint32_t n_stop;
	const int32_t *stop_ids;
};
/*
 * Returns the number of tokens generated into @out (stops after a stop id, included).
 * $HC_TEST_REF_RECORD=DIR: also write it to DIR; $HC_TEST_REF_DIR=DIR: read it from there
 * when recorded (the QEMU guest: the host's run recorded it), else compute it.
 */
uint32_t t_reference(const char *rom, const int32_t *prompt, uint32_t n_prompt,
		     const struct t_ref_params *p, int32_t *out);

/* Read @s to its end into @out (at most @cap tokens, checked); the count, and the stream's
 * final status in @st. */
uint32_t t_drain(struct hc_stream *s, int32_t *out, uint32_t cap, struct hc_stream_status *st);

/* Open the card and read a whole decode into @out (checked). Returns the count. */
uint32_t t_generate(struct hc_card *card, const int32_t *prompt, uint32_t n_prompt,
		    const struct t_ref_params *p, int32_t *out, struct hc_stream_status *st);

/* Parse a stories260K golden file. Returns 0 on success. */
int t_read_golden(const char *path, int32_t *prompt, uint32_t *n_prompt, int32_t *gen,
		  uint32_t *n_gen, uint32_t cap);

#endif
