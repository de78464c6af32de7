// SPDX-License-Identifier: MIT
/*
 * The shared fixture of the test_emud_* programs (see emud_fixture.h): bakes the synthetic
 * ROM, runs one hc-emud for a whole program, computes reference generations in-process and
 * drives DECODEs on the card until they complete.
 */
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "emud_fixture.h"
#include "forward_util.h"
#include "rom.h"

struct emud_fixture emud = { .pid = -1 };

void emud_fx_setup(void)
{
	char log[160];
	char *argv[] = { "hc-bake", "--synthetic", "tiny", "--seed", "3", "-o", emud.rom, NULL };
	const char *extra[] = { "-t", "2", "--prefill-chunk", "3", "--allow-faults", "-v", NULL };

	strcpy(emud.dir, "/tmp/hc-emud-XXXXXX");
	if (!mkdtemp(emud.dir)) {
		emud.dir[0] = 0;
		return;
	}
	snprintf(emud.rom, sizeof(emud.rom), "%s/tiny.rom", emud.dir);
	snprintf(emud.sock, sizeof(emud.sock), "%s/emud.sock", emud.dir);
	snprintf(emud.log, sizeof(emud.log), "%s/emud.log", emud.dir);
	snprintf(log, sizeof(log), "%s/bake.log", emud.dir);
	if (ft_bake(argv, log) != 0) {
		ft_show_log(log);
		return;
	}
	emud.pid = tc_daemon_start(emud.rom, emud.sock, emud.log, extra);
}

void emud_fx_teardown(void)
{
	int st = tc_daemon_stop(emud.pid);

	if (emud.pid > 0 && st != 0)
		printf("hc-emud exited with status %d; log in %s\n", st, emud.log);
	else
		ft_rmdir(emud.dir);
}

/* ---- the in-process reference ---- */

void ref_open(struct ref *r)
{
	char err[256];

	ck_assert_msg(hc_rom_open(emud.rom, &r->rom, err, sizeof(err)) == 0, "%s", err);
	ck_assert_msg(hc_model_new(r->rom, 1, HC_PATH_REFERENCE, &r->m, err, sizeof(err)) == 0,
		      "%s", err);
	r->vocab = hc_model_arch(r->m)->vocab_size;
}

void ref_close(struct ref *r)
{
	hc_model_free(r->m);
	hc_rom_close(r->rom);
}

uint32_t ref_generate(struct ref *r, uint32_t capacity, const int32_t *p, uint32_t n,
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
	ck_assert_int_eq(hc_forward(r->m, kv, p, n, logits), 0);
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

void gen_start(struct tc *c, struct gen *g, uint32_t ctx, uint32_t entries,
	       const struct tc_decode *d)
{
	memset(g, 0, sizeof(*g));
	g->entries = entries;
	g->stream = tc_stream(c, entries);
	ck_assert(g->stream);
	hc_ring_init(&g->r, tc_ptr(c, g->stream), entries, 4);
	g->ud = tc_decode(c, ctx, g->stream, entries, d);
}

void gen_again(struct tc *c, struct gen *g, uint32_t ctx, const struct tc_decode *d)
{
	g->done = false;
	g->ud = tc_decode(c, ctx, g->stream, g->entries, d);
}

void pump(struct tc *c, struct gen *g, int n)
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
				if (!g[i].hold && !g[i].done)
					hc_ring_cons_sleep_done(&g[i].r);
		}
	}
}

void connect_qp(struct tc *c)
{
	ck_assert_int_eq(tc_connect(c, emud.sock, 0), 0);
	ck_assert_uint_eq(c->regs->magic, HC_CARD_MAGIC);
	ck_assert_uint_eq(hc_ring_load_acquire(&c->regs->status), HC_CARD_STATUS_READY);
	ck_assert_uint_eq(tc_qp_setup(c, 0, 64, 64, 1), HC_QP_STATE_ENABLED);
}

uint32_t open_prefill(struct tc *c, uint32_t max_ctx, const int32_t *p, uint32_t n)
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

/* ---- telemetry ---- */

uint64_t tele(struct tc *c, size_t off)
{
	return hc_ring_load64((const __u64 *)((const unsigned char *)&c->regs->telemetry + off));
}

void wait_tele_eq(struct tc *c, size_t off, uint64_t want)
{
	uint64_t t0 = tc_ms();

	while (tele(c, off) != want && tc_ms() - t0 < TC_HANG_MS)
		tc_nap();
	ck_assert_uint_eq(tele(c, off), want);
}
