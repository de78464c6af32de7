// SPDX-License-Identifier: MIT
/*
 * hc-emud's decoding through the raw card interface (no libhc): the card's tokens equal the
 * in-process forward pass and sampler exactly (chunked prefill, a wrapping stream ring,
 * continuation with step_base, four contexts at once, stop tokens, CONTEXT_FULL, a stream
 * nobody reads and CANCEL), and llama2.c's golden ids on stories260K; decodes share the card
 * round robin, and completions coalesce interrupts. One daemon (emud_fixture.h) serves the
 * program; the golden test starts its own.
 */
#include <poll.h>
#include <unistd.h>
#include "emud_fixture.h"
#include "forward_util.h"
#include "hc_test.h"

START_TEST(test_decode_exact)
{
	struct tc_decode d = { .temperature = 0.9f, .top_p = 0.95f, .top_k = 40, .seed = 42,
			       .max_tokens = 20 };
	uint32_t want[64], n_want, ctx;
	struct ref r;
	struct tc c;
	struct gen g;
	int32_t stop;

	REQUIRE_DAEMON();
	ref_open(&r);
	n_want = ref_generate(&r, 0, prompt, PROMPT_N, &d, 40, want, &stop);
	ck_assert_uint_eq(n_want, 40);

	connect_qp(&c);
	ctx = open_prefill(&c, 0, prompt, PROMPT_N);
	/* an 8-entry stream ring: the card pauses on it and wraps it */
	gen_start(&c, &g, ctx, 8, &d);
	pump(&c, &g, 1);
	ck_assert_uint_eq(g.cqe.status, HC_STATUS_DONE_MAX_TOKENS);
	ck_assert_uint_eq(g.cqe.count, 20);
	ck_assert_uint_eq(g.cqe.ctx_id, ctx);
	ck_assert_uint_eq(g.cqe.pos, PROMPT_N + 19);	/* the last token is pending */
	/* continuing with step_base = 20 gives the rest of the same sequence */
	d.step_base = 20;
	gen_again(&c, &g, ctx, &d);
	pump(&c, &g, 1);
	ck_assert_uint_eq(g.cqe.status, HC_STATUS_DONE_MAX_TOKENS);
	ck_assert_uint_eq(g.n, 40);
	ck_assert_int_eq(memcmp(g.out, want, sizeof(uint32_t) * 40), 0);

	/* greedy */
	memset(&d, 0, sizeof(d));
	d.max_tokens = 30;
	n_want = ref_generate(&r, 0, prompt, 3, &d, 30, want, &stop);
	ctx = open_prefill(&c, 0, prompt, 3);
	gen_start(&c, &g, ctx, 64, &d);
	pump(&c, &g, 1);
	ck_assert_uint_eq(g.n, n_want);
	ck_assert_int_eq(memcmp(g.out, want, sizeof(uint32_t) * n_want), 0);
	tc_close(&c);
	ref_close(&r);
}
END_TEST

START_TEST(test_parallel_contexts_exact)
{
	struct tc_decode d[4];
	uint32_t want[4][48], ctx[4];
	struct gen g[4];
	struct ref r;
	struct tc c;
	int32_t stop;
	int i;

	REQUIRE_DAEMON();
	ref_open(&r);
	connect_qp(&c);
	for (i = 0; i < 4; i++) {
		memset(&d[i], 0, sizeof(d[i]));
		d[i].temperature = 0.5f + 0.25f * (float)i;
		d[i].top_k = (uint32_t)(i * 10);
		d[i].seed = 100 + (uint64_t)i;
		d[i].max_tokens = 48;
		ck_assert_uint_eq(ref_generate(&r, 0, prompt, PROMPT_N - (uint32_t)i, &d[i], 48,
					       want[i], &stop), 48);
		ctx[i] = open_prefill(&c, 0, prompt, PROMPT_N - (uint32_t)i);
	}
	for (i = 0; i < 4; i++)
		gen_start(&c, &g[i], ctx[i], 4 << i, &d[i]);
	pump(&c, g, 4);
	for (i = 0; i < 4; i++) {
		ck_assert_uint_eq(g[i].cqe.status, HC_STATUS_DONE_MAX_TOKENS);
		ck_assert_uint_eq(g[i].n, 48);
		ck_assert_msg(!memcmp(g[i].out, want[i], sizeof(want[i])), "context %d differs", i);
	}
	tc_close(&c);
	ref_close(&r);
}
END_TEST

/*
 * A prompt prefilled while two other contexts decode: its chunks ride in their forward passes
 * (emud_sched.c, feed_round), and all three streams, the prompt's continuation included,
 * still have the reference's tokens; the PREFILL reports the whole prompt.
 */
START_TEST(test_prefill_rides_with_decoders)
{
	enum { LONG = 40, N = 48 };
	struct tc_decode d[3];
	uint32_t want[3][N], ctx[3];
	int32_t lp[LONG], stop;
	struct gen g[4];
	struct ref r;
	struct tc c;
	int i;

	REQUIRE_DAEMON();
	ref_open(&r);
	connect_qp(&c);
	for (i = 0; i < LONG; i++)
		lp[i] = (int32_t)((uint32_t)(i * 37 + 5) % r.vocab);
	for (i = 0; i < 3; i++) {
		memset(&d[i], 0, sizeof(d[i]));
		d[i].temperature = 0.6f + 0.2f * (float)i;
		d[i].seed = 40 + (uint64_t)i;
		d[i].max_tokens = N;
		ck_assert_uint_eq(ref_generate(&r, 0, i < 2 ? prompt : lp,
					       i < 2 ? PROMPT_N - (uint32_t)i : LONG, &d[i], N,
					       want[i], &stop), N);
	}
	for (i = 0; i < 2; i++)
		ctx[i] = open_prefill(&c, 0, prompt, PROMPT_N - (uint32_t)i);
	ctx[2] = tc_open(&c, 0);
	ck_assert_uint_ne(ctx[2], 0);
	/* published at once: 14 chunks of 3 in the passes of the others' first 14 tokens */
	c.hold = true;
	for (i = 0; i < 2; i++)
		gen_start(&c, &g[i], ctx[i], 64, &d[i]);
	memset(&g[3], 0, sizeof(g[3]));
	g[3].ud = tc_prefill(&c, ctx[2], lp, LONG);
	g[3].hold = true;
	gen_start(&c, &g[2], ctx[2], 64, &d[2]);
	tc_release(&c);
	pump(&c, g, 4);
	ck_assert(g[3].done);
	ck_assert_uint_eq(g[3].cqe.status, HC_STATUS_OK);
	ck_assert_uint_eq(g[3].cqe.count, LONG);
	ck_assert_uint_eq(g[3].cqe.pos, LONG);
	for (i = 0; i < 3; i++) {
		ck_assert_uint_eq(g[i].cqe.status, HC_STATUS_DONE_MAX_TOKENS);
		ck_assert_uint_eq(g[i].n, N);
		ck_assert_msg(!memcmp(g[i].out, want[i], sizeof(want[i])), "context %d differs", i);
	}
	tc_close(&c);
	ref_close(&r);
}
END_TEST

/*
 * Fairness: decodes submitted together advance one token per context per round, so when the
 * first of three equal jobs completes, the others are at most one token behind.
 */
START_TEST(test_round_robin)
{
	struct tc_decode d = { .temperature = 0.7f, .max_tokens = 150 };
	uint32_t ctx[3], i;
	struct hc_sqe s[3];
	struct hc_ring r[3];
	uint64_t stream[3];
	struct hc_cqe e;
	struct tc c;

	REQUIRE_DAEMON();
	connect_qp(&c);
	for (i = 0; i < 3; i++) {
		ctx[i] = open_prefill(&c, 0, prompt, PROMPT_N);
		stream[i] = tc_stream(&c, 256);
		hc_ring_init(&r[i], c.mem + stream[i], 256, 4);
		memset(&s[i], 0, sizeof(s[i]));
		s[i].opcode = HC_OP_DECODE;
		s[i].ctx_id = ctx[i];
		s[i].user_data = 900 + i;
		s[i].decode.stream_offset = stream[i];
		s[i].decode.stream_entries = 256;
		s[i].decode.max_tokens = d.max_tokens;
		s[i].decode.temperature = tc_f32bits(d.temperature);
		s[i].decode.seed = i;
	}
	/* one publish: the card sees all three at once */
	for (i = 0; i < 3; i++)
		memcpy(hc_ring_prod_entry(&c.sq, i), &s[i], sizeof(s[i]));
	hc_ring_prod_publish(&c.sq, 3);
	tc_ring(&c, HC_DOORBELL_QP(0));
	ck_assert_int_eq(tc_cqe(&c, &e, TC_HANG_MS), 0);
	ck_assert_uint_eq(e.status, HC_STATUS_DONE_MAX_TOKENS);
	for (i = 0; i < 3; i++)
		ck_assert_uint_ge(hc_ring_load_acquire(&r[i].hdr->tail), 149);
	for (i = 0; i < 2; i++) {
		ck_assert_int_eq(tc_cqe(&c, &e, TC_HANG_MS), 0);
		ck_assert_uint_eq(e.count, 150);
	}
	tc_close(&c);
}
END_TEST

/*
 * Interrupt coalescing: with coalesce_count 4 on a busy card, four completions raise one
 * interrupt, not four. (Checked only if the card stayed busy throughout; an idle card
 * signals at once, by design.)
 */
START_TEST(test_coalescing)
{
	struct tc_decode d = { .temperature = 0.5f, .max_tokens = 400 };
	struct hc_ring cq0;
	struct pollfd pf;
	struct gen g[3];
	uint32_t i, tail0;
	uint64_t v = 0, t0;
	struct tc c;

	REQUIRE_DAEMON();
	connect_qp(&c);
	for (i = 0; i < 3; i++)
		gen_start(&c, &g[i], open_prefill(&c, 0, prompt, PROMPT_N), 1 << 16, &d);
	cq0 = c.cq;
	tail0 = hc_ring_load_acquire(&cq0.hdr->tail);
	c.coalesce_count = 4;
	ck_assert_uint_eq(tc_qp_setup(&c, 1, 16, 64, 1), HC_QP_STATE_ENABLED);
	hc_ring_cons_sleep_prepare(&c.cq);	/* we want interrupts from now on */
	for (i = 1; i <= 4; i++) {
		tc_op(&c, HC_OP_NOP, 0);
		t0 = tc_ms();
		while (hc_ring_cons_avail(&c.cq) != (int)i && tc_ms() - t0 < TC_HANG_MS)
			tc_nap();
		ck_assert_int_eq(hc_ring_cons_avail(&c.cq), i);
	}
	pf = (struct pollfd){ c.irq[c.regs->qp[1].irq_vector], POLLIN, 0 };
	ck_assert_int_eq(poll(&pf, 1, TC_HANG_MS), 1);
	ck_assert_int_eq(read(pf.fd, &v, sizeof(v)), sizeof(v));
	if (hc_ring_load_acquire(&cq0.hdr->tail) != tail0) {
		printf("test_coalescing: the card went idle during the check; not judged\n");
	} else {
		ck_assert_uint_eq(v, 1);
	}
	tc_close(&c);
}
END_TEST

/*
 * Deferred stream wake-ups (HC_CAP_WAKEUP_DELAY): the card advertises them and refuses
 * settings out of range; deferred streams (a delay alone, and a delay with a token count on
 * a ring that pauses and wraps) give exactly the tokens of an undeferred one.
 */
START_TEST(test_wakeup_delay)
{
	static const struct {
		uint32_t entries, usec, tokens;
	} bad[] = {
		{ 16, HC_CARD_MAX_WAKEUP_USEC + 1, 0 },	/* above the card's limit */
		{ 16, 1000, 17 },			/* more tokens than the ring holds */
		{ 16, 0xffffffffu, 0xffffffffu },
	}, ok[3] = { { 64, 0, 0 }, { 64, 1000, 0 }, { 8, 2000, 3 } };
	struct tc_decode d[3];
	uint32_t want[3][48], ctx[3];
	struct gen g[3];
	struct hc_cqe e;
	struct ref r;
	struct tc c;
	int32_t stop;
	unsigned i;

	REQUIRE_DAEMON();
	ref_open(&r);
	connect_qp(&c);
	ck_assert(c.regs->caps & HC_CAP_WAKEUP_DELAY);
	for (i = 0; i < 3; i++) {
		memset(&d[i], 0, sizeof(d[i]));
		d[i].temperature = 0.8f;
		d[i].seed = 300 + i;
		d[i].max_tokens = 48;
		ck_assert_uint_eq(ref_generate(&r, 0, prompt, PROMPT_N, &d[i], 48, want[i], &stop),
				  48);
		ctx[i] = open_prefill(&c, 0, prompt, PROMPT_N);
	}
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		d[0].wakeup_usec = bad[i].usec;
		d[0].wakeup_tokens = bad[i].tokens;
		tc_decode(&c, ctx[0], tc_stream(&c, bad[i].entries), bad[i].entries, &d[0]);
		ck_assert_int_eq(tc_cqe(&c, &e, TC_HANG_MS), 0);
		ck_assert_uint_eq(e.status, HC_STATUS_ERROR);
		ck_assert_uint_eq(e.reason, HC_REASON_BAD_DESCRIPTOR);
		ck_assert_uint_eq(e.count, 0);
	}
	for (i = 0; i < 3; i++) {
		d[i].wakeup_usec = ok[i].usec;
		d[i].wakeup_tokens = ok[i].tokens;
		gen_start(&c, &g[i], ctx[i], ok[i].entries, &d[i]);
	}
	pump(&c, g, 3);
	for (i = 0; i < 3; i++) {
		ck_assert_uint_eq(g[i].cqe.status, HC_STATUS_DONE_MAX_TOKENS);
		ck_assert_uint_eq(g[i].n, 48);
		ck_assert_msg(!memcmp(g[i].out, want[i], sizeof(want[i])), "stream %u differs", i);
	}
	tc_close(&c);
	ref_close(&r);
}
END_TEST

START_TEST(test_stop_token)
{
	struct tc_decode d = { .temperature = 1.0f, .seed = 7, .max_tokens = 40 };
	uint32_t want[40], ctx, k, j;
	struct ref r;
	struct tc c;
	struct gen g;
	int32_t stop;

	REQUIRE_DAEMON();
	ref_open(&r);
	ck_assert_uint_eq(ref_generate(&r, 0, prompt, PROMPT_N, &d, 40, want, &stop), 40);
	/* pick a token whose first occurrence is at k >= 5 */
	for (k = 5; k < 40; k++) {
		for (j = 0; j < k && want[j] != want[k]; j++)
			;
		if (j == k)
			break;
	}
	ck_assert_uint_lt(k, 40);
	d.n_stop = 2;
	d.stop[0] = r.vocab - 1 == want[k] ? 0 : r.vocab - 1;	/* a second, unused one */
	d.stop[1] = want[k];
	for (j = 0; j < k; j++)
		ck_assert_uint_ne(want[j], d.stop[0]);

	connect_qp(&c);
	ctx = open_prefill(&c, 0, prompt, PROMPT_N);
	gen_start(&c, &g, ctx, 16, &d);
	pump(&c, &g, 1);
	ck_assert_uint_eq(g.cqe.status, HC_STATUS_DONE_STOP_TOKEN);
	ck_assert_uint_eq(g.cqe.aux, want[k]);
	ck_assert_uint_eq(g.cqe.count, k);
	ck_assert_uint_eq(g.n, k);
	ck_assert_int_eq(memcmp(g.out, want, sizeof(uint32_t) * k), 0);
	/* the stop token stays pending: continuing resumes the very same sequence */
	d.n_stop = 0;
	memset(d.stop, 0, sizeof(d.stop));
	d.step_base = k + 1;
	d.max_tokens = 40 - k - 1;
	gen_again(&c, &g, ctx, &d);
	pump(&c, &g, 1);
	ck_assert_uint_eq(g.cqe.status, HC_STATUS_DONE_MAX_TOKENS);
	ck_assert_uint_eq(g.n, 39);
	ck_assert_int_eq(memcmp(g.out + k, want + k + 1, sizeof(uint32_t) * (39 - k)), 0);
	tc_close(&c);
	ref_close(&r);
}
END_TEST

START_TEST(test_context_full)
{
	struct tc_decode d = { .temperature = 0.8f, .seed = 5, .max_tokens = 100 };
	uint32_t want[32], n_want, ctx;
	struct hc_cqe e;
	struct ref r;
	struct tc c;
	struct gen g;
	int32_t stop, extra = 5;
	uint64_t ud;

	REQUIRE_DAEMON();
	ref_open(&r);
	n_want = ref_generate(&r, 16, prompt, PROMPT_N, &d, 100, want, &stop);
	ck_assert_uint_eq(n_want, 16 - PROMPT_N + 1);	/* the last one cannot be fed */

	connect_qp(&c);
	ctx = open_prefill(&c, 16, prompt, PROMPT_N);
	gen_start(&c, &g, ctx, 64, &d);
	pump(&c, &g, 1);
	ck_assert_uint_eq(g.cqe.status, HC_STATUS_CONTEXT_FULL);
	ck_assert_uint_eq(g.cqe.count, n_want);
	ck_assert_uint_eq(g.cqe.pos, 16);
	ck_assert_int_eq(memcmp(g.out, want, sizeof(uint32_t) * n_want), 0);
	/* a prompt that does not fit changes nothing */
	ud = tc_prefill(&c, ctx, &extra, 1);
	ck_assert_int_eq(tc_cqe(&c, &e, TC_HANG_MS), 0);
	ck_assert_uint_eq(e.user_data, ud);
	ck_assert_uint_eq(e.status, HC_STATUS_CONTEXT_FULL);
	ck_assert_uint_eq(e.count, 0);
	ck_assert_uint_eq(e.pos, 16);
	/* RESET_CONTEXT makes it usable again */
	e = tc_sync(&c, HC_OP_RESET_CONTEXT, ctx);
	ck_assert_uint_eq(e.status, HC_STATUS_OK);
	ck_assert_uint_eq(e.pos, 0);
	e = tc_sync(&c, HC_OP_NOP, 0);
	ck_assert_uint_eq(e.status, HC_STATUS_OK);
	ck_assert_uint_eq(open_prefill(&c, 0, prompt, 2) != 0, 1);
	tc_close(&c);
	ref_close(&r);
}
END_TEST

/* The next CQE, which must be for @ud with @status; returned. */
static struct hc_cqe expect_cqe(struct tc *c, uint64_t ud, uint16_t status)
{
	struct hc_cqe e;

	ck_assert_int_eq(tc_cqe(c, &e, TC_HANG_MS), 0);
	ck_assert_uint_eq(e.user_data, ud);
	ck_assert_uint_eq(e.status, status);
	return e;
}

/*
 * A NOP on the second queue pair (@sq1, @cq1, vector @v1), waited for on its own interrupt:
 * every interrupt the card raised for lower vectors before it is in their pipes now.
 */
static void link_barrier(struct tc *c, struct hc_ring *sq1, struct hc_ring *cq1, uint32_t v1)
{
	struct hc_sqe s = { .opcode = HC_OP_NOP, .user_data = 777 };
	struct pollfd p = { c->irq[v1], POLLIN, 0 };
	struct hc_cqe e;

	ck_assert_int_eq(hc_ring_cons_sleep_prepare(cq1), 0);
	ck_assert_int_gt(hc_ring_prod_space(sq1), 0);
	memcpy(hc_ring_prod_entry(sq1, 0), &s, sizeof(s));
	hc_ring_prod_publish(sq1, 1);
	tc_ring(c, HC_DOORBELL_QP(c->qp + 1));
	ck_assert_int_eq(poll(&p, 1, TC_HANG_MS), 1);
	tc_wait_irq(c, v1, 0);
	ck_assert_int_eq(hc_ring_cons_avail(cq1), 1);
	memcpy(&e, hc_ring_cons_entry(cq1, 0), sizeof(e));
	hc_ring_cons_release(cq1, 1);
	ck_assert_uint_eq(e.user_data, 777);
	ck_assert_uint_eq(e.status, HC_STATUS_OK);
}

/*
 * HC_SQE_F_LINK (HC_CAP_LINK): a PREFILL and its DECODE in one submission decode exactly as
 * two round trips do; when the linked PREFILL fails, at fetch (a bad token) or when it runs
 * (CONTEXT_FULL), the context's next job completes CANCELLED with nothing written and the
 * context as it was (a plain DECODE then continues exactly); a chain of linked PREFILLs
 * passes the cancel on; a failed linked PREFILL with nothing after it yet cancels the next
 * job submitted, and only that one; LINK on anything but PREFILL is refused.
 */
START_TEST(test_linked_prefill)
{
	const int32_t bad = 1 << 30, more[16] = { 3 };
	struct tc_decode d = { .temperature = 0.9f, .seed = 77, .max_tokens = 30 };
	struct hc_ring_hdr *hdr;
	uint32_t want[30], ctx;
	uint64_t ud, ud2;
	struct hc_cqe e;
	struct ref r;
	struct tc c;
	struct gen g;
	int32_t stop;

	REQUIRE_DAEMON();
	ref_open(&r);
	ck_assert_uint_eq(ref_generate(&r, 0, prompt, PROMPT_N, &d, 30, want, &stop), 30);
	connect_qp(&c);
	ck_assert(c.regs->caps & HC_CAP_LINK);

	/* prompt and DECODE at once: the reference's tokens */
	ctx = tc_open(&c, 0);
	ck_assert_uint_ne(ctx, 0);
	ud = tc_prefill_flags(&c, ctx, prompt, PROMPT_N, HC_SQE_F_LINK);
	gen_start(&c, &g, ctx, 64, &d);
	e = expect_cqe(&c, ud, HC_STATUS_OK);
	ck_assert_uint_eq(e.pos, PROMPT_N);
	pump(&c, &g, 1);
	ck_assert_uint_eq(g.cqe.status, HC_STATUS_DONE_MAX_TOKENS);
	ck_assert_uint_eq(g.n, 30);
	ck_assert_int_eq(memcmp(g.out, want, sizeof(want)), 0);

	/* a linked PREFILL refused at fetch (token id out of range): the DECODE does nothing */
	e = tc_sync(&c, HC_OP_RESET_CONTEXT, ctx);
	ck_assert_uint_eq(e.status, HC_STATUS_OK);
	ctx = open_prefill(&c, 16, prompt, PROMPT_N);
	ud = tc_prefill_flags(&c, ctx, &bad, 1, HC_SQE_F_LINK);
	gen_start(&c, &g, ctx, 64, &d);
	e = expect_cqe(&c, ud, HC_STATUS_ERROR);
	ck_assert_uint_eq(e.reason, HC_REASON_BAD_TOKEN);
	e = expect_cqe(&c, g.ud, HC_STATUS_CANCELLED);
	ck_assert_uint_eq(e.count, 0);
	ck_assert_uint_eq(e.pos, PROMPT_N);
	hdr = tc_ptr(&c, g.stream);
	ck_assert_uint_eq(__atomic_load_n(&hdr->tail, __ATOMIC_ACQUIRE), 0);

	/* refused when it runs (the 16 tokens do not fit): the same, and a chain of two
	 * linked PREFILLs cancels both followers */
	ud = tc_prefill_flags(&c, ctx, more, 16, HC_SQE_F_LINK);
	ud2 = tc_prefill_flags(&c, ctx, prompt, 1, HC_SQE_F_LINK);
	gen_start(&c, &g, ctx, 64, &d);
	e = expect_cqe(&c, ud, HC_STATUS_CONTEXT_FULL);
	ck_assert_uint_eq(e.count, 0);
	expect_cqe(&c, ud2, HC_STATUS_CANCELLED);
	e = expect_cqe(&c, g.ud, HC_STATUS_CANCELLED);
	ck_assert_uint_eq(e.pos, PROMPT_N);

	/* the context is as the first prompt left it: a plain DECODE continues exactly */
	d.max_tokens = 9;
	gen_start(&c, &g, ctx, 64, &d);
	pump(&c, &g, 1);
	ck_assert_uint_eq(g.cqe.status, HC_STATUS_DONE_MAX_TOKENS);
	ck_assert_int_eq(memcmp(g.out, want, 9 * sizeof(uint32_t)), 0);

	/* a failed linked PREFILL alone: the next job submitted (a RESET) is cancelled, the
	 * one after it runs */
	ud = tc_prefill_flags(&c, ctx, &bad, 1, HC_SQE_F_LINK);
	expect_cqe(&c, ud, HC_STATUS_ERROR);
	e = tc_sync(&c, HC_OP_RESET_CONTEXT, ctx);
	ck_assert_uint_eq(e.status, HC_STATUS_CANCELLED);
	ck_assert_uint_eq(e.pos, PROMPT_N + 8);	/* the 9th token is pending */
	e = tc_sync(&c, HC_OP_RESET_CONTEXT, ctx);
	ck_assert_uint_eq(e.status, HC_STATUS_OK);
	ck_assert_uint_eq(e.pos, 0);

	/*
	 * One interrupt brings the PREFILL's completion and the first token: the card shows the
	 * linked DECODE's first token in the round the PREFILL completes. Both SQEs are
	 * published at once (fetched together), the CQ asks for every interrupt, the stream
	 * for none, and the DECODE is one token long, so all of it is one interrupt, where
	 * finishing the round at the PREFILL's completion made two. Counted exactly: the pipe
	 * holds a record per interrupt, and a NOP on a second queue pair is the barrier (the
	 * card raises a round's vectors in ascending order, and the second queue pair's is
	 * higher), so every interrupt of queue pair 0 so far is in its pipe once the NOP's is.
	 */
	{
		const uint32_t q0 = c.qp, v0 = 1 + q0, v1 = 2 + q0;
		struct hc_ring sq0 = c.sq, cq0 = c.cq, sq1, cq1;
		uint64_t t0;
		char rec[64];

		ck_assert_uint_eq(tc_qp_setup(&c, q0 + 1, 8, 8, 1), HC_QP_STATE_ENABLED);
		sq1 = c.sq;
		cq1 = c.cq;
		c.sq = sq0;
		c.cq = cq0;
		c.qp = q0;
		e = tc_sync(&c, HC_OP_RESET_CONTEXT, ctx);
		ck_assert_uint_eq(e.status, HC_STATUS_OK);
		link_barrier(&c, &sq1, &cq1, v1);
		tc_wait_irq(&c, v0, 0);
		ck_assert_int_eq(hc_ring_cons_sleep_prepare(&c.cq), 0);
		d.max_tokens = 1;
		c.hold = 1;
		ud = tc_prefill_flags(&c, ctx, prompt, PROMPT_N, HC_SQE_F_LINK);
		gen_start(&c, &g, ctx, 64, &d);
		tc_release(&c);
		t0 = tc_ms();
		while (hc_ring_cons_avail(&c.cq) < 2 && tc_ms() - t0 < TC_HANG_MS)
			tc_nap();	/* the completions, leaving the interrupt pipe alone */
		link_barrier(&c, &sq1, &cq1, v1);
		ck_assert_int_eq(read(c.irq[v0], rec, sizeof(rec)), 8);	/* one interrupt */
		expect_cqe(&c, ud, HC_STATUS_OK);
		e = expect_cqe(&c, g.ud, HC_STATUS_DONE_MAX_TOKENS);
		ck_assert_uint_eq(e.count, 1);
		ck_assert_uint_eq(tc_stream_take(&c, &g.r, g.out, 1), 1);
		ck_assert_uint_eq(g.out[0], want[0]);
	}

	/* LINK is for PREFILL only */
	{
		struct hc_sqe s = { .opcode = HC_OP_RESET_CONTEXT, .flags = HC_SQE_F_LINK,
				    .ctx_id = ctx, .user_data = 4242 };

		tc_submit(&c, &s);
		e = expect_cqe(&c, 4242, HC_STATUS_ERROR);
		ck_assert_uint_eq(e.reason, HC_REASON_BAD_DESCRIPTOR);
	}
	tc_close(&c);
	ref_close(&r);
}
END_TEST

START_TEST(test_backpressure_and_cancel)
{
	struct tc_decode d = { .temperature = 0.7f, .seed = 9, .max_tokens = 400 };
	struct tc_decode d2 = { .temperature = 0.7f, .seed = 9, .max_tokens = 12 };
	uint32_t want[40], ctx, ctx2;
	struct gen g[2];
	struct hc_cqe e;
	struct ref r;
	struct tc c;
	int32_t stop;
	uint64_t ud, t0;

	REQUIRE_DAEMON();
	ref_open(&r);
	ck_assert_uint_eq(ref_generate(&r, 0, prompt, PROMPT_N, &d, 40, want, &stop), 40);
	connect_qp(&c);
	ctx = open_prefill(&c, 0, prompt, PROMPT_N);
	ctx2 = open_prefill(&c, 0, prompt, PROMPT_N);
	/* context 1 fills a 4-entry ring nobody reads: it must pause, not drop tokens */
	gen_start(&c, &g[0], ctx, 4, &d);
	g[0].hold = true;
	t0 = tc_ms();
	while (hc_ring_load_acquire(&g[0].r.hdr->tail) != 4 ||
	       !(hc_ring_load(&g[0].r.hdr->producer_flags) & HC_STREAM_CARD_WAITING)) {
		ck_assert_msg(tc_ms() - t0 < TC_HANG_MS, "stream never filled");
		tc_nap();
	}
	/* ...while context 2 keeps running to completion */
	gen_start(&c, &g[1], ctx2, 4, &d2);
	pump(&c, &g[1], 1);
	ck_assert_uint_eq(g[1].cqe.status, HC_STATUS_DONE_MAX_TOKENS);
	ck_assert_int_eq(memcmp(g[1].out, want, sizeof(uint32_t) * 12), 0);
	ck_assert_uint_eq(hc_ring_load(&g[0].r.hdr->tail), 4);
	ck_assert(!g[0].done);

	/* cancel: the decode reports the 4 tokens it produced, then the cancel itself */
	ud = tc_op(&c, HC_OP_CANCEL, ctx);
	ck_assert_int_eq(tc_cqe(&c, &e, TC_HANG_MS), 0);
	ck_assert_uint_eq(e.user_data, g[0].ud);
	ck_assert_uint_eq(e.status, HC_STATUS_CANCELLED);
	ck_assert_uint_eq(e.count, 4);
	ck_assert_int_eq(tc_cqe(&c, &e, TC_HANG_MS), 0);
	ck_assert_uint_eq(e.user_data, ud);
	ck_assert_uint_eq(e.status, HC_STATUS_OK);
	ck_assert_uint_eq(e.count, 1);
	g[0].hold = false;
	g[0].n = tc_stream_take(&c, &g[0].r, g[0].out, GEN_MAX);
	ck_assert_uint_eq(g[0].n, 4);
	ck_assert_int_eq(memcmp(g[0].out, want, sizeof(uint32_t) * 4), 0);
	ck_assert_uint_eq(hc_ring_load(&g[0].r.hdr->producer_flags) & HC_STREAM_CARD_WAITING, 0);
	/* the token sampled but never shown was dropped: continuing is still exact */
	d.step_base = 4;
	d.max_tokens = 36;
	gen_again(&c, &g[0], ctx, &d);
	pump(&c, &g[0], 1);
	ck_assert_uint_eq(g[0].n, 40);
	ck_assert_int_eq(memcmp(g[0].out, want, sizeof(want)), 0);
	/* cancelling an idle context cancels nothing */
	e = tc_sync(&c, HC_OP_CANCEL, ctx);
	ck_assert_uint_eq(e.status, HC_STATUS_OK);
	ck_assert_uint_eq(e.count, 0);
	tc_close(&c);
	ref_close(&r);
}
END_TEST

/*
 * End to end on a real model: stories260K baked from the shared llama2.c checkpoint, decoded
 * greedily through the card, gives llama2.c's golden ids (generation runs through BOS).
 */
START_TEST(test_golden_stories260k)
{
	char ckpt[512], gold[512], rom[200], log[200], sock[200], line[8192], *s, *end;
	char *bake_argv[] = { "hc-bake", "--quant", "F32", "--no-progress", "--tokenizer",
			      "builtin", ckpt, "-o", rom, NULL };
	struct tc_decode d = { .max_tokens = 255 };
	uint32_t want[300], n_want = 0, ctx;
	const int32_t p[2] = { 1, 300 };
	struct gen g;
	struct tc c;
	pid_t pid;
	FILE *f;
	int i;

	REQUIRE_DAEMON();
	HC_REQUIRE_SHARED("models/stories260K.bin", ckpt);
	HC_REQUIRE_SHARED("golden/stories260K/prompt_1_300.txt", gold);
	f = fopen(gold, "r");
	ck_assert_ptr_nonnull(f);
	for (i = 0; i < 4 && fgets(line, sizeof(line), f); i++)
		;	/* "# prompt_ids", ids, "# generated_ids", ids */
	fclose(f);
	ck_assert_int_eq(i, 4);
	for (s = line;; s = end) {
		long v = strtol(s, &end, 10);

		if (end == s || n_want == 300)
			break;
		want[n_want++] = (uint32_t)v;
	}
	ck_assert_uint_eq(n_want, 255);
	snprintf(rom, sizeof(rom), "%s/stories260K.rom", emud.dir);
	snprintf(log, sizeof(log), "%s/stories-bake.log", emud.dir);
	if (ft_bake(bake_argv, log) != 0) {
		ft_show_log(log);
		ck_abort_msg("hc-bake failed on %s", ckpt);
	}
	snprintf(sock, sizeof(sock), "%s/stories.sock", emud.dir);
	snprintf(log, sizeof(log), "%s/stories-emud.log", emud.dir);
	pid = tc_daemon_start(rom, sock, log, NULL);
	ck_assert_int_gt(pid, 0);
	ck_assert_int_eq(tc_connect(&c, sock, 0), 0);
	ck_assert_uint_eq(tc_qp_setup(&c, 0, 16, 16, 1), HC_QP_STATE_ENABLED);
	ctx = open_prefill(&c, 0, p, 2);
	gen_start(&c, &g, ctx, 32, &d);
	pump(&c, &g, 1);
	ck_assert_uint_eq(g.cqe.status, HC_STATUS_DONE_MAX_TOKENS);
	ck_assert_uint_eq(g.n, 255);
	for (i = 0; i < 255; i++)
		ck_assert_msg(g.out[i] == want[i], "id %d: card %u, llama2.c %u", i, g.out[i],
			      want[i]);
	tc_close(&c);
	ck_assert_int_eq(tc_daemon_stop(pid), 0);
}
END_TEST

static Suite *emud_decode_suite(void)
{
	Suite *s = suite_create("emud_decode");
	TCase *tc = hc_tcase(s, "card", 300);

	tcase_add_unchecked_fixture(tc, emud_fx_setup, emud_fx_teardown);
	tcase_add_test(tc, test_decode_exact);
	tcase_add_test(tc, test_parallel_contexts_exact);
	tcase_add_test(tc, test_prefill_rides_with_decoders);
	tcase_add_test(tc, test_round_robin);
	tcase_add_test(tc, test_coalescing);
	tcase_add_test(tc, test_wakeup_delay);
	tcase_add_test(tc, test_stop_token);
	tcase_add_test(tc, test_context_full);
	tcase_add_test(tc, test_linked_prefill);
	tcase_add_test(tc, test_backpressure_and_cancel);
	tcase_add_test(tc, test_golden_stories260k);
	return s;
}

HC_TEST_MAIN(emud_decode_suite)
