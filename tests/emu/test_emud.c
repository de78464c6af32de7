// SPDX-License-Identifier: MIT
/*
 * hc-emud through the raw card interface (no libhc): exact tokens versus the in-process
 * forward pass, garbage descriptors, dying clients, isolation between clients, stream
 * back-pressure, cancel, CONTEXT_FULL, stop tokens, heartbeat/telemetry, TEST-ONLY faults,
 * clean shutdown. One daemon (build/hc-emud) serves the suite on a temporary socket; tests
 * that need other options start their own.
 */
#include <dirent.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/stat.h>
#include "emud_client.h"
#include "forward_util.h"
#include "hc_test.h"
#include "model.h"
#include "rom.h"

static char tmpdir[64], rom_path[128], sock_path[128], log_path[128];
static pid_t daemon_pid = -1;

static void suite_setup(void)
{
	char log[160];
	char *argv[] = { "hc-bake", "--synthetic", "tiny", "--seed", "3", "-o", rom_path, NULL };
	const char *extra[] = { "-t", "2", "--prefill-chunk", "3", "--allow-faults", "-v", NULL };

	strcpy(tmpdir, "/tmp/hc-emud-XXXXXX");
	if (!mkdtemp(tmpdir)) {
		tmpdir[0] = 0;
		return;
	}
	snprintf(rom_path, sizeof(rom_path), "%s/tiny.rom", tmpdir);
	snprintf(sock_path, sizeof(sock_path), "%s/emud.sock", tmpdir);
	snprintf(log_path, sizeof(log_path), "%s/emud.log", tmpdir);
	snprintf(log, sizeof(log), "%s/bake.log", tmpdir);
	if (ft_bake(argv, log) != 0) {
		ft_show_log(log);
		return;
	}
	daemon_pid = tc_daemon_start(rom_path, sock_path, log_path, extra);
}

static void suite_teardown(void)
{
	int st = tc_daemon_stop(daemon_pid);

	if (daemon_pid > 0 && st != 0)
		printf("hc-emud exited with status %d; log in %s\n", st, log_path);
	else
		ft_rmdir(tmpdir);
}

#define REQUIRE_DAEMON()                                                        \
	do {                                                                    \
		ck_assert_msg(daemon_pid > 0, "hc-emud did not start (see %s)", \
			      log_path);                                        \
	} while (0)

/* ---- the in-process reference ---- */

struct ref {
	struct hc_rom *rom;
	struct hc_model *m;
	uint32_t vocab;
};

static void ref_open(struct ref *r)
{
	char err[256];

	ck_assert_msg(hc_rom_open(rom_path, &r->rom, err, sizeof(err)) == 0, "%s", err);
	ck_assert_msg(hc_model_new(r->rom, 1, HC_PATH_REFERENCE, &r->m, err, sizeof(err)) == 0,
		      "%s", err);
	r->vocab = hc_model_arch(r->m)->vocab_size;
}

static void ref_close(struct ref *r)
{
	hc_model_free(r->m);
	hc_rom_close(r->rom);
}

/*
 * hc_forward(prompt); for i: t = hc_sample(step i); stop? ; emit t; hc_forward(t).
 * Returns tokens emitted; *stop_tok the stop token that ended it (or -1); capacity 0 = max.
 */
static uint32_t ref_generate(struct ref *r, uint32_t capacity, const int32_t *prompt, uint32_t n,
			     const struct tc_decode *d, uint32_t n_gen, uint32_t *out,
			     int32_t *stop_tok)
{
	struct hc_kv *kv = hc_kv_new(r->m, capacity);
	float *logits = malloc(sizeof(float) * r->vocab);
	struct hc_prob_index *prob = malloc(sizeof(*prob) * r->vocab);
	struct hc_sampling s = { d->temperature, d->top_p, d->top_k, 0, d->seed };
	uint32_t i, k = 0;

	*stop_tok = -1;
	ck_assert(kv && logits && prob);
	ck_assert_int_eq(hc_forward(r->m, kv, prompt, n, logits), 0);
	for (i = 0; i < n_gen; i++) {
		int32_t t = hc_sample(logits, r->vocab, &s, i, prob);
		uint32_t j;
		bool stop = false;

		for (j = 0; j < d->n_stop; j++)
			stop |= (uint32_t)t == d->stop[j];
		if (stop) {
			*stop_tok = t;
			break;
		}
		out[k++] = (uint32_t)t;
		if (hc_forward(r->m, kv, &t, 1, logits) < 0)
			break;
	}
	free(prob);
	free(logits);
	hc_kv_free(kv);
	return k;
}

/* ---- driving decodes on the card ---- */

#define GEN_MAX 600

struct gen {
	uint64_t ud;
	uint64_t stream;
	uint32_t entries;
	struct hc_ring r;
	uint32_t out[GEN_MAX];
	uint32_t n;
	bool done, hold;	/* hold: do not consume the stream (forces a pause) */
	struct hc_cqe cqe;
};

static void gen_start(struct tc *c, struct gen *g, uint32_t ctx, uint32_t entries,
		      const struct tc_decode *d)
{
	memset(g, 0, sizeof(*g));
	g->entries = entries;
	g->stream = tc_stream(c, entries);
	ck_assert(g->stream);
	hc_ring_init(&g->r, c->mem + g->stream, entries, 4);
	g->ud = tc_decode(c, ctx, g->stream, entries, d);
}

/* Reuse @g's stream ring for another DECODE (the card continues at its tail). */
static void gen_again(struct tc *c, struct gen *g, uint32_t ctx, const struct tc_decode *d)
{
	g->done = false;
	g->ud = tc_decode(c, ctx, g->stream, g->entries, d);
}

/* Pump streams and completions until every non-held gen is done (or @until_n tokens). */
static void pump(struct tc *c, struct gen *g, int n)
{
	uint64_t t0 = tc_ms();

	for (;;) {
		bool all = true, progress = false;
		struct hc_cqe e;
		int i;

		for (i = 0; i < n; i++) {
			if (!g[i].hold && g[i].n < GEN_MAX) {
				uint32_t k = tc_stream_take(c, &g[i].r, g[i].out + g[i].n,
							    GEN_MAX - g[i].n);
				g[i].n += k;
				progress |= k > 0;
			}
		}
		while (hc_ring_cons_avail(&c->cq) > 0) {
			ck_assert_int_eq(tc_cqe(c, &e, TC_HANG_MS), 0);
			for (i = 0; i < n; i++)
				if (e.user_data == g[i].ud && !g[i].done)
					break;
			ck_assert_msg(i < n, "unexpected CQE user_data %llu status %u",
				      (unsigned long long)e.user_data, e.status);
			g[i].cqe = e;
			g[i].done = true;
			progress = true;
			if (!g[i].hold)	/* tokens are published before the CQE */
				g[i].n += tc_stream_take(c, &g[i].r, g[i].out + g[i].n,
							 GEN_MAX - g[i].n);
		}
		for (i = 0; i < n; i++)
			all &= g[i].done || g[i].hold;
		if (all)
			return;
		ck_assert_msg(tc_ms() - t0 < TC_HANG_MS, "card made no progress");
		if (progress)
			continue;
		/* sleep: ask for wake-ups on the CQ and every stream, then re-check */
		{
			int avail = hc_ring_cons_sleep_prepare(&c->cq);

			for (i = 0; i < n; i++)
				if (!g[i].hold && !g[i].done)
					avail |= hc_ring_cons_sleep_prepare(&g[i].r);
			if (!avail)
				tc_wait_irq(c, c->regs->qp[c->qp].irq_vector, 100);
			hc_ring_cons_sleep_done(&c->cq);
			for (i = 0; i < n; i++)
				hc_ring_cons_sleep_done(&g[i].r);
		}
	}
}

static void connect_qp(struct tc *c)
{
	ck_assert_int_eq(tc_connect(c, sock_path, 0), 0);
	ck_assert_uint_eq(c->regs->magic, HC_CARD_MAGIC);
	ck_assert_uint_eq(hc_ring_load_acquire(&c->regs->status), HC_CARD_STATUS_READY);
	ck_assert_uint_eq(tc_qp_setup(c, 0, 64, 64, 1), HC_QP_STATE_ENABLED);
}

static uint32_t open_prefill(struct tc *c, uint32_t max_ctx, const int32_t *p, uint32_t n)
{
	uint32_t ctx = tc_open(c, max_ctx);
	struct hc_cqe e;
	uint64_t ud;

	ck_assert_uint_ne(ctx, 0);
	ud = tc_prefill(c, ctx, p, n);
	ck_assert_int_eq(tc_cqe(c, &e, TC_HANG_MS), 0);
	ck_assert_uint_eq(e.user_data, ud);
	ck_assert_uint_eq(e.status, HC_STATUS_OK);
	ck_assert_uint_eq(e.count, n);
	ck_assert_uint_eq(e.pos, n);
	return ctx;
}

static const int32_t prompt[] = { 1, 10, 20, 30, 40, 50, 60 };	/* 7: crosses chunks of 3 */
#define PROMPT_N 7

static uint64_t tele(struct tc *c, size_t off)
{
	return hc_ring_load64((const __u64 *)((const unsigned char *)&c->regs->telemetry + off));
}

#define TELE(c, f) tele((c), offsetof(struct hc_card_telemetry, f))

/* Wait (bounded) until telemetry field @f of @c equals @want. */
#define WAIT_TELE_EQ(c, f, want) wait_tele_eq((c), offsetof(struct hc_card_telemetry, f), (want))

static void wait_tele_eq(struct tc *c, size_t off, uint64_t want)
{
	uint64_t t0 = tc_ms();

	while (tele(c, off) != want && tc_ms() - t0 < TC_HANG_MS)
		tc_nap();
	ck_assert_uint_eq(tele(c, off), want);
}

/* ---- tests ---- */

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

/* Random bytes as SQEs: every one gets an error CQE, and the card keeps serving. */
START_TEST(test_garbage_sqes)
{
	struct tc a, b;
	struct hc_cqe e;
	unsigned seed = 1234;
	uint32_t i, k, n_err = 0;

	REQUIRE_DAEMON();
	connect_qp(&a);
	for (k = 0; k < 8; k++) {
		for (i = 0; i < 64; i++) {
			unsigned char *p = hc_ring_prod_entry(&a.sq, i);
			uint32_t j;

			for (j = 0; j < sizeof(struct hc_sqe); j++)
				p[j] = (unsigned char)rand_r(&seed);
			if (k & 1)	/* half of them with a plausible opcode and zero flags */
				p[0] = (unsigned char)(i % 10), p[1] = p[2] = p[3] = 0;
		}
		hc_ring_prod_publish(&a.sq, 64);
		tc_ring(&a, HC_DOORBELL_QP(0));
		for (i = 0; i < 64; i++) {
			ck_assert_int_eq(tc_cqe(&a, &e, TC_HANG_MS), 0);
			ck_assert_uint_eq(e.status, HC_STATUS_ERROR);
			ck_assert(e.reason >= HC_REASON_BAD_OPCODE && e.reason <= HC_REASON_BAD_STATE);
			n_err++;
		}
	}
	ck_assert_uint_eq(n_err, 512);
	/* specific malformed ones, each with its reason */
	{
		struct hc_sqe s;
		struct { uint8_t op; uint32_t ctx; int field; uint16_t reason; } cases[] = {
			{ 200, 0, 0, HC_REASON_BAD_OPCODE },
			{ HC_OP_NOP, 3, 0, HC_REASON_BAD_DESCRIPTOR },
			{ HC_OP_NOP, 0, 1, HC_REASON_BAD_DESCRIPTOR },		/* flags */
			{ HC_OP_NOP, 0, 2, HC_REASON_BAD_DESCRIPTOR },		/* args */
			{ HC_OP_CONTEXT_OPEN, 0, 3, HC_REASON_BAD_DESCRIPTOR },	/* max_ctx */
			{ HC_OP_DECODE, 0, 0, HC_REASON_BAD_CONTEXT },
		};

		for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
			memset(&s, 0, sizeof(s));
			s.opcode = cases[i].op;
			s.ctx_id = cases[i].ctx;
			s.user_data = 77 + i;
			if (cases[i].field == 1)
				s.flags = 0x80;
			if (cases[i].field == 2)
				s.args[13] = 1;
			if (cases[i].field == 3)
				s.open.max_ctx = 1u << 30;
			tc_submit(&a, &s);
			ck_assert_int_eq(tc_cqe(&a, &e, TC_HANG_MS), 0);
			ck_assert_uint_eq(e.user_data, 77 + i);
			ck_assert_uint_eq(e.status, HC_STATUS_ERROR);
			ck_assert_uint_eq(e.reason, cases[i].reason);
			ck_assert_uint_eq(e.aux, cases[i].op);
		}
	}
	/* valid but extreme sampling parameters: tokens stay in range, nothing breaks */
	{
		const float temps[] = { 1e-38f, 1e-30f, 1e30f, 3.4e38f, 0.0f };
		const float tops[] = { 1e-38f, 0.5f, 1.0f, 3.4e38f, 0.0f };
		uint32_t ctx = open_prefill(&a, 0, prompt, PROMPT_N), t;

		for (t = 0; t < 5; t++) {
			struct tc_decode dd = { .temperature = temps[t], .top_p = tops[t],
						.top_k = t & 1 ? 0xffffffffu : t, .seed = ~0ull,
						.step_base = ~0ull - 2, .max_tokens = 6 };
			struct gen gg;

			gen_start(&a, &gg, ctx, 4, &dd);
			pump(&a, &gg, 1);
			ck_assert_uint_eq(gg.cqe.status, HC_STATUS_DONE_MAX_TOKENS);
			for (i = 0; i < gg.n; i++)
				ck_assert_uint_lt(gg.out[i], a.regs->vocab_size);
		}
		e = tc_sync(&a, HC_OP_CONTEXT_CLOSE, ctx);
		ck_assert_uint_eq(e.status, HC_STATUS_OK);
	}
	/* the same client still works, and so does another one */
	e = tc_sync(&a, HC_OP_NOP, 0);
	ck_assert_uint_eq(e.status, HC_STATUS_OK);
	connect_qp(&b);
	ck_assert_uint_ne(open_prefill(&b, 0, prompt, PROMPT_N), 0);
	e = tc_sync(&b, HC_OP_NOP, 0);
	ck_assert_uint_eq(e.status, HC_STATUS_OK);

	/* a corrupt SQ tail stops that queue pair only; it can be set up again */
	hc_ring_store_release(&a.sq.hdr->tail, a.sq.local + 100000);
	tc_ring(&a, HC_DOORBELL_QP(0));
	{
		uint64_t t0 = tc_ms();

		while (hc_ring_load(&a.regs->qp[0].state) != HC_QP_STATE_ERROR &&
		       tc_ms() - t0 < TC_HANG_MS)
			tc_nap();
	}
	ck_assert_uint_eq(hc_ring_load(&a.regs->qp[0].state), HC_QP_STATE_ERROR);
	ck_assert_uint_eq(hc_ring_load(&a.regs->qp[0].error), HC_REASON_BAD_RING);
	ck_assert_uint_eq(tc_qp_setup(&a, 0, 16, 16, 1), HC_QP_STATE_ENABLED);
	e = tc_sync(&a, HC_OP_NOP, 0);
	ck_assert_uint_eq(e.status, HC_STATUS_OK);
	tc_close(&a);
	tc_close(&b);
}
END_TEST

/*
 * Chaos: while its decodes run, a client scribbles random bytes all over its own card memory
 * (register page, rings, streams, SQEs in flight) and rings random doorbells. The daemon
 * must neither crash nor disturb another client.
 */
START_TEST(test_memory_chaos)
{
	struct tc_decode d = { .temperature = 0.9f, .seed = 3, .max_tokens = 40 };
	uint32_t want[40], ctx, i, k;
	unsigned seed = 4242;
	uint64_t toks;
	struct ref r;
	struct tc a, b;
	struct gen g;
	int32_t stop;

	REQUIRE_DAEMON();
	ref_open(&r);
	ck_assert_uint_eq(ref_generate(&r, 0, prompt, PROMPT_N, &d, 40, want, &stop), 40);
	connect_qp(&b);
	ctx = open_prefill(&b, 0, prompt, PROMPT_N);
	connect_qp(&a);
	toks = tc_alloc(&a, sizeof(prompt));
	memcpy(a.mem + toks, prompt, sizeof(prompt));
	for (k = 0; k < 20; k++) {
		/* never wait on A: its rings may be wrecked; open, prefill, decode blindly */
		struct hc_sqe s[3];
		uint64_t st = tc_stream(&a, 16);

		memset(s, 0, sizeof(s));
		s[0].opcode = HC_OP_CONTEXT_OPEN;
		s[1].opcode = HC_OP_PREFILL;
		s[1].ctx_id = k / 2 + 1;
		s[1].prefill.tokens_offset = toks;
		s[1].prefill.n_tokens = PROMPT_N;
		s[2].opcode = HC_OP_DECODE;
		s[2].ctx_id = k / 2 + 1;
		s[2].decode.stream_offset = st;
		s[2].decode.stream_entries = 16;
		s[2].decode.max_tokens = 300;
		s[2].decode.seed = k;
		for (i = 0; i < 3 && st; i++) {
			if (hc_ring_prod_space(&a.sq) <= 0)
				break;
			memcpy(hc_ring_prod_entry(&a.sq, 0), &s[i], sizeof(s[i]));
			hc_ring_prod_publish(&a.sq, 1);
		}
		tc_ring(&a, HC_DOORBELL_QP(0));
		for (i = 0; i < 300; i++) {
			uint64_t off = (uint64_t)rand_r(&seed) % (a.brk + 64);
			uint32_t n = 1 + (uint32_t)rand_r(&seed) % 16, j;

			if (k < 10 && off < a.regs->data_offset)
				continue;	/* first rings and streams, later everything */
			for (j = 0; j < n && off + j < a.mem_size; j++)
				a.mem[off + j] = (unsigned char)rand_r(&seed);
			if (i % 7 == 0)
				tc_ring(&a, (uint32_t)rand_r(&seed) % a.n_db);
		}
	}
	/* B is served as if nothing happened */
	gen_start(&b, &g, ctx, 8, &d);
	pump(&b, &g, 1);
	ck_assert_uint_eq(g.n, 40);
	ck_assert_int_eq(memcmp(g.out, want, sizeof(want)), 0);
	tc_close(&a);
	tc_close(&b);
	ref_close(&r);
}
END_TEST

/* Garbage in the register page's queue-pair registers and bad configurations. */
START_TEST(test_bad_qp_config)
{
	struct tc a, b;
	unsigned seed = 99;
	uint32_t i, q;

	REQUIRE_DAEMON();
	ck_assert_int_eq(tc_connect(&a, sock_path, 0), 0);
	ck_assert_uint_eq(tc_qp_setup(&a, 1, 3, 16, 1), HC_QP_STATE_ERROR);	/* not pow2 */
	ck_assert_uint_eq(a.regs->qp[1].error, HC_REASON_BAD_RING);
	ck_assert_uint_eq(tc_qp_setup(&a, 1, 1u << 20, 16, 1), HC_QP_STATE_ERROR);
	/* ring beyond the end of card memory */
	a.brk = a.mem_size - 64;
	ck_assert_uint_eq(tc_qp_setup(&a, 1, 16, 16, 1), HC_QP_STATE_ERROR);
	a.brk = a.regs->data_offset;
	ck_assert_uint_eq(a.regs->qp[1].error, HC_REASON_BAD_OFFSET);
	for (i = 0; i < 200; i++) {
		unsigned char *p = (unsigned char *)&a.regs->qp[i % a.regs->n_queue_pairs];
		uint32_t j;

		for (j = 0; j < 64; j++)
			p[j] = (unsigned char)rand_r(&seed);
		tc_ring(&a, HC_DOORBELL_CONTROL);
		tc_ring(&a, (uint32_t)rand_r(&seed) % a.n_db);
	}
	/* trash the rest of the register page too (card-written fields included) */
	for (i = 0; i < HC_CARD_REGS_SIZE; i++)
		if (i < offsetof(struct hc_card_regs, reset_request) ||
		    i >= offsetof(struct hc_card_regs, telemetry))
			a.mem[i] = (unsigned char)rand_r(&seed);
	tc_ring(&a, HC_DOORBELL_CONTROL);
	connect_qp(&b);
	for (q = 0; q < 3; q++) {
		struct hc_cqe e = tc_sync(&b, HC_OP_NOP, 0);

		ck_assert_uint_eq(e.status, HC_STATUS_OK);
	}
	tc_close(&a);
	tc_close(&b);
}
END_TEST

/* A client killed mid-stream: its contexts are freed, the others carry on. */
START_TEST(test_client_killed)
{
	struct tc_decode d = { .temperature = 0.6f, .seed = 11, .max_tokens = 30 };
	uint32_t want[30], ctx;
	struct ref r;
	struct tc b;
	struct gen g;
	int32_t stop;
	uint64_t base;
	int pfd[2];
	pid_t child;
	char ch;

	REQUIRE_DAEMON();
	ref_open(&r);
	ck_assert_uint_eq(ref_generate(&r, 0, prompt, PROMPT_N, &d, 30, want, &stop), 30);
	connect_qp(&b);
	ctx = open_prefill(&b, 0, prompt, PROMPT_N);
	{
		uint64_t t0 = tc_ms();

		while (TELE(&b, contexts_in_use) < 1 && tc_ms() - t0 < TC_HANG_MS)
			tc_nap();	/* mirrored every few ms */
	}
	base = TELE(&b, contexts_in_use);
	ck_assert_uint_ge(base, 1);

	ck_assert_int_eq(pipe(pfd), 0);
	child = fork();
	ck_assert_int_ge(child, 0);
	if (child == 0) {
		struct tc a;
		struct gen ga[3];
		int i;

		if (tc_connect(&a, sock_path, 0) || tc_qp_setup(&a, 0, 64, 64, 1) !=
		    HC_QP_STATE_ENABLED)
			_exit(1);
		for (i = 0; i < 3; i++) {
			uint32_t cx = tc_open(&a, 0);
			struct hc_cqe e;

			tc_prefill(&a, cx, prompt, PROMPT_N);
			if (!cx || tc_cqe(&a, &e, TC_HANG_MS) || e.status != HC_STATUS_OK)
				_exit(1);
			gen_start(&a, &ga[i], cx, 4, &d);	/* never read: they pause */
		}
		while (hc_ring_load_acquire(&ga[2].r.hdr->tail) < 4)
			tc_nap();
		if (write(pfd[1], "x", 1) != 1)
			_exit(1);
		for (;;)
			pause();
	}
	close(pfd[1]);
	ck_assert_int_eq(read(pfd[0], &ch, 1), 1);
	close(pfd[0]);
	WAIT_TELE_EQ(&b, contexts_in_use, base + 3);
	kill(child, SIGKILL);
	ck_assert_int_eq(waitpid(child, NULL, 0), child);
	WAIT_TELE_EQ(&b, contexts_in_use, base);
	/* B was not disturbed */
	gen_start(&b, &g, ctx, 8, &d);
	pump(&b, &g, 1);
	ck_assert_uint_eq(g.n, 30);
	ck_assert_int_eq(memcmp(g.out, want, sizeof(want)), 0);
	tc_close(&b);
	ref_close(&r);
}
END_TEST

/* Client B can reach neither client A's contexts nor its memory. */
START_TEST(test_isolation)
{
	struct tc_decode d = { .temperature = 0.8f, .seed = 21, .max_tokens = 25 };
	uint32_t want[25], ctx_a, ctx_b, id;
	struct hc_cqe e;
	struct stat sa, sb;
	struct ref r;
	struct tc a, b;
	struct gen g;
	int32_t stop;
	uint32_t i;

	REQUIRE_DAEMON();
	ref_open(&r);
	ck_assert_uint_eq(ref_generate(&r, 0, prompt, PROMPT_N, &d, 25, want, &stop), 25);
	connect_qp(&a);
	ctx_a = open_prefill(&a, 0, prompt, PROMPT_N);
	connect_qp(&b);
	ck_assert_uint_ne(a.id, b.id);

	/* B guesses context ids: none of A's exist in B's namespace */
	for (id = 0; id <= a.regs->max_contexts + 2; id++) {
		static const uint8_t ops[] = { HC_OP_RESET_CONTEXT, HC_OP_CANCEL,
					       HC_OP_CONTEXT_CLOSE };

		e = tc_sync(&b, ops[id % 3], id);
		ck_assert_uint_eq(e.status, HC_STATUS_ERROR);
		ck_assert_uint_eq(e.reason, HC_REASON_BAD_CONTEXT);
	}
	e = tc_sync(&b, HC_OP_CONTEXT_CLOSE, 0xffffffffu);
	ck_assert_uint_eq(e.reason, HC_REASON_BAD_CONTEXT);

	/* B's own context may get the same number as A's; it is a different one */
	ctx_b = open_prefill(&b, 0, prompt, 2);
	e = tc_sync(&b, HC_OP_RESET_CONTEXT, ctx_b);
	ck_assert_uint_eq(e.status, HC_STATUS_OK);
	e = tc_sync(&b, HC_OP_CONTEXT_CLOSE, ctx_b);
	ck_assert_uint_eq(e.status, HC_STATUS_OK);

	/* offsets outside B's own data memory */
	{
		const uint64_t offs[] = { 0, 64, b.regs->data_offset - 4, b.mem_size,
					  b.mem_size - 4, ~0ull - 3, ~0ull & ~3ull,
					  b.regs->data_offset + 2 };
		struct hc_sqe s;

		ctx_b = tc_open(&b, 0);
		ck_assert_uint_ne(ctx_b, 0);
		for (i = 0; i < sizeof(offs) / sizeof(offs[0]); i++) {
			memset(&s, 0, sizeof(s));
			s.opcode = HC_OP_PREFILL;
			s.ctx_id = ctx_b;
			s.user_data = 500 + i;
			s.prefill.tokens_offset = offs[i];
			s.prefill.n_tokens = 2;
			tc_submit(&b, &s);
			ck_assert_int_eq(tc_cqe(&b, &e, TC_HANG_MS), 0);
			ck_assert_uint_eq(e.status, HC_STATUS_ERROR);
			ck_assert_uint_eq(e.reason, HC_REASON_BAD_OFFSET);

			memset(&s, 0, sizeof(s));
			s.opcode = HC_OP_DECODE;
			s.ctx_id = ctx_b;
			s.user_data = 600 + i;
			s.decode.stream_offset = offs[i];
			s.decode.stream_entries = 4;
			s.decode.max_tokens = 1;
			tc_submit(&b, &s);
			ck_assert_int_eq(tc_cqe(&b, &e, TC_HANG_MS), 0);
			ck_assert_uint_eq(e.reason, HC_REASON_BAD_OFFSET);
		}
		/* the tokenizer blob between the register page and data_offset is off limits */
		if (b.regs->caps & HC_CAP_TOKENIZER) {
			ck_assert_uint_ge(b.regs->data_offset,
					  b.regs->tokenizer_offset + b.regs->tokenizer_size);
			memset(&s, 0, sizeof(s));
			s.opcode = HC_OP_PREFILL;
			s.ctx_id = ctx_b;
			s.prefill.tokens_offset = b.regs->tokenizer_offset;
			s.prefill.n_tokens = 1;
			tc_submit(&b, &s);
			ck_assert_int_eq(tc_cqe(&b, &e, TC_HANG_MS), 0);
			ck_assert_uint_eq(e.reason, HC_REASON_BAD_OFFSET);
		}
		/* a token array that runs past the end */
		memset(&s, 0, sizeof(s));
		s.opcode = HC_OP_PREFILL;
		s.ctx_id = ctx_b;
		s.prefill.tokens_offset = b.mem_size - 8;
		s.prefill.n_tokens = 3;
		tc_submit(&b, &s);
		ck_assert_int_eq(tc_cqe(&b, &e, TC_HANG_MS), 0);
		ck_assert_uint_eq(e.reason, HC_REASON_BAD_OFFSET);
		/* token ids out of range */
		{
			int32_t bad[2] = { 1, (int32_t)r.vocab };

			tc_prefill(&b, ctx_b, bad, 2);
			ck_assert_int_eq(tc_cqe(&b, &e, TC_HANG_MS), 0);
			ck_assert_uint_eq(e.reason, HC_REASON_BAD_TOKEN);
		}
	}

	/* B's memory is its own object: another inode, sealed against resizing */
	ck_assert_int_eq(fstat(a.memfd, &sa), 0);
	ck_assert_int_eq(fstat(b.memfd, &sb), 0);
	ck_assert(sa.st_ino != sb.st_ino || sa.st_dev != sb.st_dev);
	ck_assert_int_ne(ftruncate(b.memfd, (off_t)b.mem_size * 2), 0);
	ck_assert_int_ne(ftruncate(b.memfd, 4096), 0);
	memset(b.mem + b.regs->data_offset, 0x5a, 4096);
	ck_assert_uint_ne(a.mem[a.regs->data_offset + 4095], 0x5a);

	/* and A's context is untouched by all of this */
	gen_start(&a, &g, ctx_a, 8, &d);
	pump(&a, &g, 1);
	ck_assert_uint_eq(g.n, 25);
	ck_assert_int_eq(memcmp(g.out, want, sizeof(want)), 0);
	tc_close(&a);
	tc_close(&b);
	ref_close(&r);
}
END_TEST

START_TEST(test_heartbeat_telemetry)
{
	struct tc_decode d = { .max_tokens = 10 };
	uint64_t hb, tok0, p0, done0, t0;
	struct hc_card_regs *rg;
	struct tc c;
	struct gen g;
	uint32_t ctx;

	REQUIRE_DAEMON();
	connect_qp(&c);
	rg = c.regs;
	/* telemetry is there from the first read, not only after the first heartbeat tick */
	ck_assert_uint_ge(TELE(&c, temperature_mc), 35000);
	ck_assert_uint_ge(TELE(&c, power_uw), 20000000);
	ck_assert_uint_eq(rg->version, HC_CARD_VERSION);
	ck_assert_uint_eq(rg->regs_size, HC_CARD_REGS_SIZE);
	ck_assert(rg->caps & HC_CAP_TRANSPORT_SOCKET);
	ck_assert(rg->caps & HC_CAP_FAULT_INJECTION);
	ck_assert_uint_eq(rg->vocab_size, 512);
	ck_assert_uint_eq(rg->n_contexts, 64);
	ck_assert_uint_eq(rg->fn_id, c.id);
	ck_assert_uint_eq(rg->n_doorbells, c.n_db);
	ck_assert_uint_eq(rg->data_offset + rg->data_size, c.mem_size);
	ck_assert_str_eq(rg->model_name, "synthetic-tiny");
	hb = hc_ring_load64(&rg->heartbeat);
	t0 = tc_ms();
	while (hc_ring_load64(&rg->heartbeat) < hb + 3 && tc_ms() - t0 < TC_HANG_MS)
		tc_nap();
	ck_assert_uint_ge(hc_ring_load64(&rg->heartbeat), hb + 3);

	tok0 = TELE(&c, tokens_generated);
	p0 = TELE(&c, prompt_tokens);
	done0 = TELE(&c, jobs_completed);
	ctx = open_prefill(&c, 0, prompt, PROMPT_N);
	ck_assert_uint_eq(rg->fn_contexts_in_use, 1);
	gen_start(&c, &g, ctx, 16, &d);
	pump(&c, &g, 1);
	t0 = tc_ms();
	while ((TELE(&c, tokens_generated) < tok0 + 10 || TELE(&c, prompt_tokens) < p0 + 7 ||
		TELE(&c, jobs_completed) < done0 + 3) && tc_ms() - t0 < TC_HANG_MS)
		tc_nap();
	ck_assert_uint_ge(TELE(&c, tokens_generated), tok0 + 10);
	ck_assert_uint_ge(TELE(&c, prompt_tokens), p0 + 7);
	ck_assert_uint_ge(TELE(&c, jobs_completed), done0 + 3);
	ck_assert_uint_gt(TELE(&c, busy_ns), 0);
	ck_assert_uint_ge(TELE(&c, temperature_mc), 35000);
	ck_assert_uint_ge(TELE(&c, power_uw), 20000000);
	ck_assert_uint_gt(TELE(&c, uptime_ns), 0);
	ck_assert_uint_ge(TELE(&c, functions_active), 1);
	ck_assert_uint_ge(TELE(&c, contexts_in_use), 1);
	tc_close(&c);
}
END_TEST

static void fault_set(struct tc *c, uint32_t stall, uint32_t after, uint32_t drop, uint32_t corrupt)
{
	struct hc_card_fault *f = &c->regs->fault;
	uint32_t seq = f->seq + 1;
	uint64_t t0 = tc_ms();

	f->stall = stall;
	f->stall_after_tokens = after;
	f->drop_irqs = drop;
	f->corrupt_cqes = corrupt;
	hc_ring_store_release(&f->seq, seq);
	tc_ring(c, HC_DOORBELL_CONTROL);
	while (hc_ring_load_acquire(&c->regs->fault_state.seq) != seq && tc_ms() - t0 < TC_HANG_MS)
		tc_nap();
	ck_assert_uint_eq(c->regs->fault_state.seq, seq);
}

START_TEST(test_faults)
{
	struct tc_decode d = { .temperature = 0.5f, .seed = 1, .max_tokens = 50 };
	struct tc a, b;
	struct hc_cqe e;
	struct gen g;
	uint64_t hb, hb_b, ud, req, t0;
	uint32_t ctx;

	REQUIRE_DAEMON();
	connect_qp(&a);
	connect_qp(&b);

	/* corrupt completion */
	fault_set(&a, 0, 0, 0, 1);
	ud = tc_op(&a, HC_OP_NOP, 0);
	ck_assert_int_eq(tc_cqe(&a, &e, TC_HANG_MS), 0);
	ck_assert_uint_eq(e.status, HC_STATUS_CORRUPT_FAULT);
	ck_assert_uint_eq(e.user_data, ~ud);
	ck_assert_uint_eq(e.ctx_id, 0xffffffffu);
	ck_assert_uint_eq(a.regs->fault_state.cqes_corrupted, 1);
	e = tc_sync(&a, HC_OP_NOP, 0);
	ck_assert_uint_eq(e.status, HC_STATUS_OK);

	/* lost interrupt: ask for one, the card drops it and counts it */
	fault_set(&a, 0, 0, 1, 0);
	hc_ring_cons_sleep_prepare(&a.cq);
	ud = tc_op(&a, HC_OP_NOP, 0);
	t0 = tc_ms();
	while (hc_ring_load(&a.regs->fault_state.irqs_dropped) != 1 && tc_ms() - t0 < TC_HANG_MS)
		tc_nap();
	ck_assert_uint_eq(a.regs->fault_state.irqs_dropped, 1);
	hc_ring_cons_sleep_done(&a.cq);
	ck_assert_int_eq(tc_cqe(&a, &e, TC_HANG_MS), 0);
	ck_assert_uint_eq(e.user_data, ud);

	/* stall mid-decode: progress and heartbeat stop; the other client is unaffected */
	ctx = open_prefill(&a, 0, prompt, PROMPT_N);
	fault_set(&a, 0, 3, 0, 0);
	gen_start(&a, &g, ctx, 64, &d);
	t0 = tc_ms();
	while (!hc_ring_load(&a.regs->fault_state.stalled) && tc_ms() - t0 < TC_HANG_MS)
		tc_nap();
	ck_assert_uint_eq(a.regs->fault_state.stalled, 1);
	hb = hc_ring_load64(&a.regs->heartbeat);
	hb_b = hc_ring_load64(&b.regs->heartbeat);
	t0 = tc_ms();
	while (hc_ring_load64(&b.regs->heartbeat) < hb_b + 20 && tc_ms() - t0 < TC_HANG_MS)
		tc_nap();	/* B's heartbeat proves time passed */
	ck_assert_uint_ge(hc_ring_load64(&b.regs->heartbeat), hb_b + 20);
	ck_assert_uint_eq(hc_ring_load64(&a.regs->heartbeat), hb);
	ck_assert_uint_eq(hc_ring_load(&g.r.hdr->tail), 3);
	ck_assert_int_eq(hc_ring_cons_avail(&a.cq), 0);
	e = tc_sync(&b, HC_OP_NOP, 0);
	ck_assert_uint_eq(e.status, HC_STATUS_OK);

	/* reset recovers: no completions for the abandoned job, contexts gone, qps off */
	req = a.regs->reset_request + 1;
	hc_ring_store_release64(&a.regs->reset_request, req);
	tc_ring(&a, HC_DOORBELL_CONTROL);
	t0 = tc_ms();
	while (hc_ring_load_acquire64(&a.regs->reset_done) != req && tc_ms() - t0 < TC_HANG_MS)
		tc_wait_irq(&a, HC_IRQ_CONTROL, 100);
	ck_assert_uint_eq(a.regs->reset_done, req);
	ck_assert_uint_eq(a.regs->status, HC_CARD_STATUS_READY);
	ck_assert_uint_eq(a.regs->fault_state.stalled, 0);
	ck_assert_uint_eq(a.regs->fn_contexts_in_use, 0);
	ck_assert_uint_eq(a.regs->qp[0].state, HC_QP_STATE_DISABLED);
	t0 = tc_ms();
	while (hc_ring_load64(&a.regs->heartbeat) == hb && tc_ms() - t0 < TC_HANG_MS)
		tc_nap();
	ck_assert_uint_gt(hc_ring_load64(&a.regs->heartbeat), hb);
	ck_assert_uint_eq(tc_qp_setup(&a, 0, 16, 16, 1), HC_QP_STATE_ENABLED);
	e = tc_sync(&a, HC_OP_NOP, 0);
	ck_assert_uint_eq(e.status, HC_STATUS_OK);
	e = tc_sync(&a, HC_OP_CANCEL, ctx);
	ck_assert_uint_eq(e.reason, HC_REASON_BAD_CONTEXT);

	/* an explicit stall, cleared by writing 0 */
	fault_set(&a, 1, 0, 0, 0);
	ck_assert_uint_eq(a.regs->fault_state.stalled, 1);
	fault_set(&a, 0, 0, 0, 0);
	e = tc_sync(&a, HC_OP_NOP, 0);
	ck_assert_uint_eq(e.status, HC_STATUS_OK);
	tc_close(&a);
	tc_close(&b);
}
END_TEST

/* A daemon without --allow-faults ignores the fault registers; KV slots are limited. */
START_TEST(test_limits_no_faults)
{
	char sock[160], log[160];
	const char *extra[] = { "--contexts", "3", "--max-contexts-per-client", "2",
				"--client-mem", "256K", NULL };
	struct tc a, b;
	struct hc_cqe e;
	pid_t pid;

	REQUIRE_DAEMON();
	snprintf(sock, sizeof(sock), "%s/limits.sock", tmpdir);
	snprintf(log, sizeof(log), "%s/limits.log", tmpdir);
	pid = tc_daemon_start(rom_path, sock, log, extra);
	ck_assert_int_gt(pid, 0);
	ck_assert_int_eq(tc_connect(&a, sock, 1ull << 30), 0);
	ck_assert_uint_eq(a.mem_size, 256 << 10);	/* capped */
	ck_assert(!(a.regs->caps & HC_CAP_FAULT_INJECTION));
	ck_assert_uint_eq(a.regs->max_contexts, 2);
	ck_assert_uint_eq(tc_qp_setup(&a, 0, 16, 16, 1), HC_QP_STATE_ENABLED);
	ck_assert_int_eq(tc_connect(&b, sock, 0), 0);
	ck_assert_uint_eq(tc_qp_setup(&b, 0, 16, 16, 1), HC_QP_STATE_ENABLED);
	ck_assert_uint_ne(tc_open(&a, 0), 0);
	ck_assert_uint_ne(tc_open(&a, 0), 0);
	e = tc_sync(&a, HC_OP_CONTEXT_OPEN, 0);	/* per-client limit */
	ck_assert_uint_eq(e.status, HC_STATUS_ERROR);
	ck_assert_uint_eq(e.reason, HC_REASON_NO_CONTEXTS);
	ck_assert_uint_ne(tc_open(&b, 0), 0);
	e = tc_sync(&b, HC_OP_CONTEXT_OPEN, 0);	/* card-wide limit */
	ck_assert_uint_eq(e.reason, HC_REASON_NO_CONTEXTS);
	/* fault registers are ignored */
	a.regs->fault.corrupt_cqes = 1;
	a.regs->fault.seq++;
	tc_ring(&a, HC_DOORBELL_CONTROL);
	e = tc_sync(&a, HC_OP_NOP, 0);
	ck_assert_uint_eq(e.status, HC_STATUS_OK);
	/* a's slots come back when it goes away */
	tc_close(&a);
	{
		uint64_t t0 = tc_ms();

		while (TELE(&b, contexts_in_use) != 1 && tc_ms() - t0 < TC_HANG_MS)
			tc_nap();
	}
	ck_assert_uint_ne(tc_open(&b, 0), 0);
	tc_close(&b);
	ck_assert_int_eq(tc_daemon_stop(pid), 0);
}
END_TEST

/*
 * Queue limits: a client cannot make the daemon hold unbounded prompt copies or jobs; the
 * excess gets NO_MEMORY errors while the SQ keeps flowing, so a CANCEL still gets through.
 */
/* The KV budget: contexts reserve capacity x bytes-per-position; max_ctx_len follows it. */
START_TEST(test_kv_budget)
{
	char sock[160], log[160], mem[32];
	const char *extra[] = { "--kv-mem", mem, NULL };
	struct hc_cqe e;
	struct tc a;
	uint64_t pos_bytes;
	uint32_t c1, c2;
	pid_t pid;

	REQUIRE_DAEMON();
	ck_assert_int_eq(tc_connect(&a, sock_path, 0), 0);
	pos_bytes = 2ull * a.regs->n_layers * a.regs->n_kv_heads * a.regs->head_dim * 4;
	ck_assert_uint_eq(a.regs->max_ctx_len, a.regs->max_ctx);	/* default: RAM / 2 */
	tc_close(&a);
	snprintf(mem, sizeof(mem), "%llu", (unsigned long long)(300 * pos_bytes + 7));
	snprintf(sock, sizeof(sock), "%s/kv.sock", tmpdir);
	snprintf(log, sizeof(log), "%s/kv.log", tmpdir);
	pid = tc_daemon_start(rom_path, sock, log, extra);
	ck_assert_int_gt(pid, 0);
	ck_assert_int_eq(tc_connect(&a, sock, 0), 0);
	ck_assert_uint_eq(a.regs->max_ctx_len, 300);
	ck_assert_uint_eq(a.regs->max_prefill_tokens, 300);
	ck_assert_uint_eq(tc_qp_setup(&a, 0, 16, 16, 1), HC_QP_STATE_ENABLED);
	c1 = tc_open(&a, 200);
	ck_assert_uint_ne(c1, 0);
	e = tc_sync(&a, HC_OP_CONTEXT_OPEN, 0);		/* 300 more do not fit */
	ck_assert_uint_eq(e.status, HC_STATUS_ERROR);
	ck_assert_uint_eq(e.reason, HC_REASON_NO_CONTEXTS);
	c2 = tc_open(&a, 100);				/* exactly what is left */
	ck_assert_uint_ne(c2, 0);
	e = tc_sync(&a, HC_OP_CONTEXT_CLOSE, c1);
	ck_assert_uint_eq(e.status, HC_STATUS_OK);
	ck_assert_uint_ne(tc_open(&a, 200), 0);		/* returned on close */
	tc_close(&a);
	ck_assert_int_eq(tc_daemon_stop(pid), 0);
}
END_TEST

START_TEST(test_queue_limits)
{
	char sock[160], log[160];
	const char *extra[] = { "--client-mem", "256K", NULL };
	struct tc_decode d = { .max_tokens = 100 };
	uint32_t i, ctx, n_ok = 0, n_nomem = 0, n_prefill = 150, n_reset = 1100;
	int32_t big[512];
	uint64_t t0, toks, cancel_ud;
	struct hc_sqe s;
	struct hc_cqe e;
	struct gen g;
	struct tc a;
	pid_t pid;

	REQUIRE_DAEMON();
	snprintf(sock, sizeof(sock), "%s/queue.sock", tmpdir);
	snprintf(log, sizeof(log), "%s/queue.log", tmpdir);
	pid = tc_daemon_start(rom_path, sock, log, extra);
	ck_assert_int_gt(pid, 0);
	ck_assert_int_eq(tc_connect(&a, sock, 0), 0);
	ck_assert_uint_eq(tc_qp_setup(&a, 0, 64, 64, 1), HC_QP_STATE_ENABLED);
	ctx = open_prefill(&a, 0, prompt, 2);
	/* a decode paused on a full ring holds the context: everything after it queues */
	gen_start(&a, &g, ctx, 2, &d);
	g.hold = true;
	for (i = 0; i < 512; i++)
		big[i] = (int32_t)(i % 100);
	toks = tc_alloc(&a, sizeof(big));
	memcpy(a.mem + toks, big, sizeof(big));
	for (i = 0; i < n_prefill + n_reset; i++) {
		memset(&s, 0, sizeof(s));
		s.ctx_id = ctx;
		s.user_data = 10000 + i;
		if (i < n_prefill) {
			s.opcode = HC_OP_PREFILL;
			s.prefill.tokens_offset = toks;
			s.prefill.n_tokens = 512;
		} else {
			s.opcode = HC_OP_RESET_CONTEXT;
		}
		tc_submit(&a, &s);
		while (hc_ring_cons_avail(&a.cq) > 0) {	/* errors come back at once */
			ck_assert_int_eq(tc_cqe(&a, &e, TC_HANG_MS), 0);
			ck_assert_uint_eq(e.status, HC_STATUS_ERROR);
			ck_assert_uint_eq(e.reason, HC_REASON_NO_MEMORY);
			n_nomem++;
		}
	}
	cancel_ud = tc_op(&a, HC_OP_CANCEL, ctx);
	t0 = tc_ms();
	for (;;) {
		ck_assert_int_eq(tc_cqe(&a, &e, TC_HANG_MS), 0);
		if (e.user_data == cancel_ud)
			break;
		if (e.status == HC_STATUS_ERROR) {
			ck_assert_uint_eq(e.reason, HC_REASON_NO_MEMORY);
			n_nomem++;
		} else {
			ck_assert_uint_eq(e.status, HC_STATUS_CANCELLED);
			n_ok++;
		}
		ck_assert(tc_ms() - t0 < TC_HANG_MS);
	}
	ck_assert_uint_eq(e.status, HC_STATUS_OK);
	ck_assert_uint_eq(e.count, n_ok);
	/* the decode + what fit: prompt copies within 256K, jobs within the per-qp cap */
	ck_assert_uint_eq(n_ok + n_nomem, 1 + n_prefill + n_reset);
	ck_assert_uint_gt(n_nomem, 0);
	ck_assert_uint_eq(n_ok, 1024);		/* hc-emud's per-queue-pair job cap */
	e = tc_sync(&a, HC_OP_NOP, 0);
	ck_assert_uint_eq(e.status, HC_STATUS_OK);
	tc_close(&a);
	ck_assert_int_eq(tc_daemon_stop(pid), 0);
}
END_TEST

START_TEST(test_hello_and_shutdown)
{
	char sock[160], log[160];
	unsigned char junk[64];
	struct hc_emu_welcome w;
	struct stat st;
	struct tc a;
	pid_t pid;
	int fd;

	REQUIRE_DAEMON();
	snprintf(sock, sizeof(sock), "%s/shut.sock", tmpdir);
	snprintf(log, sizeof(log), "%s/shut.log", tmpdir);
	pid = tc_daemon_start(rom_path, sock, log, NULL);
	ck_assert_int_gt(pid, 0);
	ck_assert_int_eq(stat(sock, &st), 0);
	ck_assert_uint_eq(st.st_mode & 0777, 0660);
	/* a second daemon refuses to take over a live socket: exits 1 */
	{
		char log2[170];
		pid_t p2;
		int st;

		snprintf(log2, sizeof(log2), "%s/shut2.log", tmpdir);
		p2 = fork();
		ck_assert_int_ge(p2, 0);
		if (p2 == 0) {
			fd = open(log2, O_WRONLY | O_CREAT | O_TRUNC, 0644);
			dup2(fd, 2);
			execl(emud_bin(), "hc-emud", "--rom", rom_path, "--socket", sock,
			      (char *)NULL);
			_exit(127);
		}
		ck_assert_int_eq(waitpid(p2, &st, 0), p2);
		ck_assert(WIFEXITED(st));
		ck_assert_int_eq(WEXITSTATUS(st), 1);
	}
	/* garbage hello: rejected with -EPROTO, daemon unaffected */
	fd = tc_sock_connect(sock);
	ck_assert_int_ge(fd, 0);
	memset(junk, 0xa5, sizeof(junk));
	ck_assert_int_eq(write(fd, junk, sizeof(junk)), sizeof(junk));
	ck_assert_int_eq(read(fd, &w, sizeof(w)), sizeof(w));
	ck_assert_int_eq(w.status, -EPROTO);
	close(fd);
	/* connect and vanish without a word */
	fd = tc_sock_connect(sock);
	close(fd);
	/* a client with an open context when SIGTERM arrives */
	ck_assert_int_eq(tc_connect(&a, sock, 0), 0);
	ck_assert_uint_eq(tc_qp_setup(&a, 0, 16, 16, 1), HC_QP_STATE_ENABLED);
	ck_assert_uint_ne(open_prefill(&a, 0, prompt, PROMPT_N), 0);
	ck_assert_int_eq(tc_daemon_stop(pid), 0);
	ck_assert_int_ne(access(sock, F_OK), 0);
	tc_close(&a);
}
END_TEST

/* The PCI transport: a fake QEMU speaks the ivshmem protocol; the card behaves the same. */
START_TEST(test_pci_transport)
{
	char sock[160], ivs[160], log[160];
	const char *extra[] = { "--ivshmem", ivs, "--ivshmem-mem", "4M", NULL };
	struct tc_decode d = { .temperature = 0.8f, .top_p = 0.9f, .seed = 77, .max_tokens = 30 };
	uint32_t want[30], ctx;
	struct tc g1, g2, cl;
	struct gen g;
	struct ref r;
	int32_t stop;
	int64_t v;
	pid_t pid;
	int fd, t;

	REQUIRE_DAEMON();
	ref_open(&r);
	ck_assert_uint_eq(ref_generate(&r, 0, prompt, PROMPT_N, &d, 30, want, &stop), 30);
	snprintf(sock, sizeof(sock), "%s/pci-emu.sock", tmpdir);
	snprintf(ivs, sizeof(ivs), "%s/ivshmem.sock", tmpdir);
	snprintf(log, sizeof(log), "%s/pci.log", tmpdir);
	pid = tc_daemon_start(rom_path, sock, log, extra);
	ck_assert_int_gt(pid, 0);

	for (t = 0; t < 2; t++) {	/* the second guest finds a clean card */
		ck_assert_int_eq(tc_pci_connect(&g1, ivs), 0);
		ck_assert_uint_eq(g1.mem_size, 4 << 20);
		ck_assert_uint_eq(g1.regs->magic, HC_CARD_MAGIC);
		ck_assert(g1.regs->caps & HC_CAP_TRANSPORT_PCI);
		ck_assert_uint_eq(g1.regs->fn_id, 0);
		ck_assert_uint_eq(g1.regs->fn_contexts_in_use, 0);
		ck_assert_uint_eq(g1.regs->qp[0].state, HC_QP_STATE_DISABLED);
		ck_assert_uint_eq(g1.n_db, 1 + g1.regs->n_queue_pairs);
		/* one card, one guest: a second QEMU is turned away */
		fd = tc_sock_connect(ivs);
		ck_assert_int_ge(fd, 0);
		{ int f2; ck_assert_int_ne(tc_iv_recv(fd, &v, &f2), 0); }
		close(fd);

		ck_assert_uint_eq(tc_qp_setup(&g1, 0, 32, 32, 1), HC_QP_STATE_ENABLED);
		ctx = open_prefill(&g1, 0, prompt, PROMPT_N);
		gen_start(&g1, &g, ctx, 8, &d);
		pump(&g1, &g, 1);
		ck_assert_uint_eq(g.cqe.status, HC_STATUS_DONE_MAX_TOKENS);
		ck_assert_int_eq(memcmp(g.out, want, sizeof(want)), 0);
		ck_assert_uint_ne(open_prefill(&g1, 0, prompt, 3), 0);

		/* a socket client shares the card: it sees the guest's two KV slots */
		ck_assert_int_eq(tc_connect(&cl, sock, 0), 0);
		WAIT_TELE_EQ(&cl, contexts_in_use, 2);
		/* the guest goes away (QEMU quits): its contexts are freed */
		tc_close(&g1);
		WAIT_TELE_EQ(&cl, contexts_in_use, 0);
		tc_close(&cl);
	}
	(void)g2;
	ck_assert_int_eq(tc_daemon_stop(pid), 0);
	ck_assert_int_ne(access(ivs, F_OK), 0);
	ref_close(&r);
}
END_TEST

/*
 * Another process of the daemon's own user cannot map a client's card memory through
 * /proc/<hc-emud>/fd either (the daemon is not dumpable). Needs root to switch users.
 */
START_TEST(test_proc_fd_isolation)
{
	char dir[160], sock[200], log[200], path[300];
	const uid_t nobody = 65534;
	struct stat sa;
	struct tc a;
	pid_t pid, child;
	int st;

	REQUIRE_DAEMON();
	if (geteuid() != 0)
		HC_SKIP("needs root to run the daemon and a client as another user");
	snprintf(dir, sizeof(dir), "%s/nobody", tmpdir);
	snprintf(sock, sizeof(sock), "%s/emud.sock", dir);
	snprintf(log, sizeof(log), "%s/emud.log", dir);
	ck_assert_int_eq(mkdir(dir, 0777), 0);
	ck_assert_int_eq(chmod(dir, 0777), 0);
	ck_assert_int_eq(chmod(tmpdir, 0755), 0);
	ck_assert_int_eq(chmod(rom_path, 0644), 0);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		int fd = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0644);

		if (fd < 0 || dup2(fd, 2) < 0 || setgid(nobody) || setuid(nobody))
			_exit(126);
		execl(emud_bin(), "hc-emud", "--rom", rom_path, "--socket", sock, (char *)NULL);
		_exit(127);
	}
	{
		uint64_t t0 = tc_ms();
		int fd;

		while ((fd = tc_sock_connect(sock)) < 0 && tc_ms() - t0 < TC_HANG_MS)
			tc_nap();
		ck_assert_int_ge(fd, 0);
		close(fd);
	}
	ck_assert_int_eq(tc_connect(&a, sock, 0), 0);
	ck_assert_int_eq(fstat(a.memfd, &sa), 0);
	snprintf(path, sizeof(path), "/proc/%d/fd", (int)pid);

	child = fork();
	ck_assert_int_ge(child, 0);
	if (child == 0) {
		struct tc b;
		DIR *dp;
		struct dirent *de;
		int leaked = 0;

		if (setgid(nobody) || setuid(nobody) || tc_connect(&b, sock, 0))
			_exit(2);
		dp = opendir(path);
		if (!dp)
			_exit(errno == EACCES ? 0 : 3);
		while ((de = readdir(dp))) {
			char p2[600];
			struct stat sx;
			int fd;

			snprintf(p2, sizeof(p2), "%s/%s", path, de->d_name);
			fd = open(p2, O_RDWR);
			if (fd >= 0 && fstat(fd, &sx) == 0 && sx.st_ino == sa.st_ino &&
			    sx.st_dev == sa.st_dev)
				leaked = 1;
			if (fd >= 0)
				close(fd);
		}
		closedir(dp);
		_exit(leaked ? 1 : 0);
	}
	ck_assert_int_eq(waitpid(child, &st, 0), child);
	ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0,
		      "another process of the daemon's user reached client memory (status %d)", st);
	tc_close(&a);
	ck_assert_int_eq(tc_daemon_stop(pid), 0);
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
	snprintf(rom, sizeof(rom), "%s/stories260K.rom", tmpdir);
	snprintf(log, sizeof(log), "%s/stories-bake.log", tmpdir);
	if (ft_bake(bake_argv, log) != 0) {
		ft_show_log(log);
		ck_abort_msg("hc-bake failed on %s", ckpt);
	}
	snprintf(sock, sizeof(sock), "%s/stories.sock", tmpdir);
	snprintf(log, sizeof(log), "%s/stories-emud.log", tmpdir);
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

/* Run hc-emud with @argv to completion; its exit status, its stderr in @out. */
static int run_emud(const char *const *argv, char *out, size_t len)
{
	char log[200];
	pid_t pid;
	int st, fd;
	ssize_t n;

	snprintf(log, sizeof(log), "%s/args.log", tmpdir);
	pid = fork();
	if (pid == 0) {
		fd = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0644);
		dup2(fd, 2);
		execv(emud_bin(), (char *const *)argv);
		_exit(127);
	}
	if (pid < 0 || waitpid(pid, &st, 0) != pid || !WIFEXITED(st))
		return -1;
	fd = open(log, O_RDONLY);
	n = fd >= 0 ? read(fd, out, len - 1) : -1;
	out[n > 0 ? n : 0] = 0;
	if (fd >= 0)
		close(fd);
	return WEXITSTATUS(st);
}

/* Bad command lines and bad ROMs: one clear line, a non-zero exit, no socket left behind. */
START_TEST(test_bad_startup)
{
	char out[1024], bad[160], sock[160];
	const char *no_rom[] = { "hc-emud", NULL };
	const char *missing[] = { "hc-emud", "--rom", "/nonexistent/x.rom", "--socket", sock, NULL };
	const char *garbage[] = { "hc-emud", "--rom", bad, "--socket", sock, NULL };
	const char *zero[] = { "hc-emud", "--rom", rom_path, "--contexts", "0", NULL };
	const char *pow2[] = { "hc-emud", "--rom", rom_path, "--ivshmem-mem", "3M", NULL };
	FILE *f;

	REQUIRE_DAEMON();
	snprintf(bad, sizeof(bad), "%s/garbage.rom", tmpdir);
	snprintf(sock, sizeof(sock), "%s/bad.sock", tmpdir);
	f = fopen(bad, "w");
	ck_assert_ptr_nonnull(f);
	fputs("not a rom at all, but long enough to be read as a header? no.\n", f);
	fclose(f);
	ck_assert_int_eq(run_emud(no_rom, out, sizeof(out)), 2);
	ck_assert_ptr_nonnull(strstr(out, "--rom"));
	ck_assert_int_eq(run_emud(missing, out, sizeof(out)), 1);
	ck_assert_ptr_nonnull(strstr(out, "/nonexistent/x.rom"));
	ck_assert_int_eq(run_emud(garbage, out, sizeof(out)), 1);
	ck_assert_ptr_nonnull(strstr(out, bad));
	ck_assert_int_eq(run_emud(zero, out, sizeof(out)), 2);
	ck_assert_ptr_nonnull(strstr(out, "--contexts"));
	ck_assert_int_eq(run_emud(pow2, out, sizeof(out)), 2);
	ck_assert_ptr_nonnull(strstr(out, "power of two"));
	ck_assert_int_ne(access(sock, F_OK), 0);
}
END_TEST

static Suite *emud_suite(void)
{
	Suite *s = suite_create("emud");
	TCase *tc = hc_tcase(s, "card", 300);

	tcase_add_unchecked_fixture(tc, suite_setup, suite_teardown);
	tcase_add_test(tc, test_decode_exact);
	tcase_add_test(tc, test_parallel_contexts_exact);
	tcase_add_test(tc, test_round_robin);
	tcase_add_test(tc, test_coalescing);
	tcase_add_test(tc, test_stop_token);
	tcase_add_test(tc, test_context_full);
	tcase_add_test(tc, test_backpressure_and_cancel);
	tcase_add_test(tc, test_garbage_sqes);
	tcase_add_test(tc, test_bad_qp_config);
	tcase_add_test(tc, test_memory_chaos);
	tcase_add_test(tc, test_client_killed);
	tcase_add_test(tc, test_isolation);
	tcase_add_test(tc, test_heartbeat_telemetry);
	tcase_add_test(tc, test_faults);
	tcase_add_test(tc, test_limits_no_faults);
	tcase_add_test(tc, test_kv_budget);
	tcase_add_test(tc, test_queue_limits);
	tcase_add_test(tc, test_hello_and_shutdown);
	tcase_add_test(tc, test_bad_startup);
	tcase_add_test(tc, test_golden_stories260k);
	tcase_add_test(tc, test_pci_transport);
	tcase_add_test(tc, test_proc_fd_isolation);
	return s;
}

HC_TEST_MAIN(emud_suite)
