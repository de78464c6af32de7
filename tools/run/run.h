/* SPDX-License-Identifier: MIT */
/*
 * hc-run's engines: the command line (hc-run.c) drives any of them through this interface.
 * run_direct.c runs the emulator's forward pass in-process from a ROM file; a card engine
 * (through libhc) implements the same operations.
 */
#ifndef HC_TOOLS_RUN_H
#define HC_TOOLS_RUN_H

#include <stddef.h>
#include <stdint.h>
#include "model.h"
#include "tokenizer.h"

struct run_opts {
	const char *rom_path;	/* direct engine: the ROM file */
	const char *device;	/* card engine: device name ("emu:SOCKET", "/dev/accel/accel0") */
	int n_threads;
	int reference;		/* direct engine: HC_PATH_REFERENCE instead of AUTO */
};

/* Called with each generated id, in order; return nonzero to stop generating. */
typedef int (*run_token_fn)(void *arg, int32_t id);

struct run_gen {
	uint32_t max_new;		/* tokens to generate at most */
	struct hc_sampling sampling;
	const int32_t *stop_ids;	/* generation ends after emitting one of these */
	uint32_t n_stop;
};

struct run_engine {
	const struct run_engine_ops *ops;
	uint32_t vocab_size;
	uint32_t max_ctx;		/* prompt + generated tokens must fit */
};

struct run_engine_ops {
	const char *name;
	/* 0 or negative errno with one line in @err. */
	int (*open)(const struct run_opts *o, struct run_engine **out, char *err, size_t errlen);
	/*
	 * Run @prompt (n >= 1 ids) then generate; @fn sees every generated id, stop ids
	 * included. Returns the number generated or a negative errno (message in @err).
	 */
	int (*generate)(struct run_engine *e, const int32_t *prompt, size_t n,
			const struct run_gen *g, run_token_fn fn, void *arg, char *err,
			size_t errlen);
	void (*close)(struct run_engine *e);

	/*
	 * The model's text side, as the engine has it: the direct engine its ROM's tokenizer,
	 * the card engine libhc's text API (the card's own tokenizer). Same results.
	 * encode: @flags HC_ENC_BOS | HC_ENC_PARSE_SPECIAL; chat: one user turn, generation
	 * prompt added; both as hc_tok_encode() (-ENOSPC: *n is what was needed).
	 */
	int (*encode)(struct run_engine *e, const char *text, unsigned flags, int32_t *ids,
		      size_t cap, size_t *n);
	int (*chat)(struct run_engine *e, const char *user, int32_t *ids, size_t cap, size_t *n);
	int32_t (*bos)(struct run_engine *e);
	uint32_t (*stop_ids)(struct run_engine *e, int32_t *ids, uint32_t cap);
	/*
	 * Streaming decode of the generated ids: start after @prompt (the decoder's state, e.g.
	 * no dummy space after BOS, nothing of the prompt printed), then push and flush as
	 * hc_detok_push() and hc_detok_flush(). 0 or -ENOMEM.
	 */
	int (*detok_start)(struct run_engine *e, const int32_t *prompt, size_t n);
	size_t (*detok_push)(struct run_engine *e, int32_t id, char *out, size_t cap);
	size_t (*detok_flush)(struct run_engine *e, char *out, size_t cap);
};

extern const struct run_engine_ops run_direct_ops;

#endif
