/* SPDX-License-Identifier: MIT */
/*
 * The shared fixture of the test_emud_* programs (code in emud_fixture.c): a temporary
 * directory with a synthetic "tiny" ROM and one hc-emud serving it (-t 2, prefill chunks of
 * 3, faults allowed), an in-process reference generator to compare the card's tokens with,
 * and helpers that drive decodes on a card through the raw client of emud_client.h.
 * A program registers it on its test case with
 *	tcase_add_unchecked_fixture(tc, emud_fx_setup, emud_fx_teardown);
 */
#ifndef HC_TESTS_EMUD_FIXTURE_H
#define HC_TESTS_EMUD_FIXTURE_H

#include <check.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include "emud_client.h"
#include "model.h"

/* What emud_fx_setup() made; tests that start their own daemon put its files in emud.dir. */
struct emud_fixture {
	char dir[64];		/* /tmp/hc-emud-XXXXXX, "" if it could not be made */
	char rom[128];		/* dir/tiny.rom: hc-bake --synthetic tiny --seed 3 */
	char sock[128];		/* the shared daemon's socket */
	char log[128];		/* its stderr */
	pid_t pid;		/* the shared daemon, -1 if the bake or the start failed */
};
extern struct emud_fixture emud;

/* Bake the ROM and start the shared daemon (unchecked fixture: failures show in tests). */
void emud_fx_setup(void);
/* Stop the daemon; keep the directory (and say so) if it did not exit cleanly. */
void emud_fx_teardown(void);

/* Fail the test when the shared daemon is not running. */
#define REQUIRE_DAEMON()                                                        \
	do {                                                                    \
		ck_assert_msg(emud.pid > 0, "hc-emud did not start (see %s)",   \
			      emud.log);                                        \
	} while (0)

/* The prompt most tests prefill: 7 tokens, so it crosses the daemon's chunks of 3. */
#define PROMPT_N 7
static const int32_t prompt[PROMPT_N] = { 1, 10, 20, 30, 40, 50, 60 };

/* ---- the in-process reference: the forward pass and sampler on emud.rom ---- */

struct ref {
	struct hc_rom *rom;
	struct hc_model *m;
	uint32_t vocab;
};

void ref_open(struct ref *r);
void ref_close(struct ref *r);

/*
 * hc_forward(@p, @n); for i: t = hc_sample(step i); stop? ; emit t; hc_forward(t).
 * Returns tokens emitted; *stop_tok the stop token that ended it (or -1); capacity 0 = max.
 */
uint32_t ref_generate(struct ref *r, uint32_t capacity, const int32_t *p, uint32_t n,
		      const struct tc_decode *d, uint32_t n_gen, uint32_t *out,
		      int32_t *stop_tok);

/* ---- driving decodes on the card ---- */

#define GEN_MAX 600

/* One DECODE, its stream ring, the tokens read from it and its completion. */
struct gen {
	uint64_t ud;
	uint64_t stream;
	uint32_t entries;
	struct hc_ring r;
	uint32_t out[GEN_MAX];
	uint32_t n;
	bool done, hold;	/* hold: do not consume the stream (forces a pause); with no
				   stream, pump() just takes the job's completion (a PREFILL) */
	struct hc_cqe cqe;
};

/* Submit a DECODE of @d on @ctx into a fresh stream ring of @entries. */
void gen_start(struct tc *c, struct gen *g, uint32_t ctx, uint32_t entries,
	       const struct tc_decode *d);
/* Reuse @g's stream ring for another DECODE (the card continues at its tail). */
void gen_again(struct tc *c, struct gen *g, uint32_t ctx, const struct tc_decode *d);
/* Pump the @n streams and the completions until every gen that is not held is done. */
void pump(struct tc *c, struct gen *g, int n);

/* Connect to the shared daemon and enable queue pair 0 (64 SQEs, 64 CQEs). */
void connect_qp(struct tc *c);
/* Open a context of @max_ctx (0: the card's maximum) and prefill @p; checked. Its id. */
uint32_t open_prefill(struct tc *c, uint32_t max_ctx, const int32_t *p, uint32_t n);

/* ---- telemetry ---- */

/* The telemetry field at offset @off of the register page. */
uint64_t tele(struct tc *c, size_t off);
#define TELE(c, f) tele((c), offsetof(struct hc_card_telemetry, f))

/* Wait (bounded) until telemetry field @f of @c equals @want. */
#define WAIT_TELE_EQ(c, f, want) wait_tele_eq((c), offsetof(struct hc_card_telemetry, f), (want))
void wait_tele_eq(struct tc *c, size_t off, uint64_t want);

#endif
