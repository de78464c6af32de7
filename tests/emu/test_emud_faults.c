// SPDX-License-Identifier: MIT
/*
 * hc-emud's health and limits through the raw card interface: the register page, heartbeat
 * and telemetry; TEST-ONLY fault injection (corrupt CQEs, lost interrupts, stalls) and
 * recovery by card reset; and the limits a daemon is started with (contexts per client and
 * card-wide, client memory, the KV budget, queued prompt copies and jobs). One daemon
 * (emud_fixture.h, faults allowed) serves the program; the limit tests start their own.
 */
#include "emud_fixture.h"
#include "hc/hc_version.h"
#include "hc_test.h"

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
	ck_assert_uint_eq(rg->fw_version, HC_VERSION_NUMBER);	/* the firmware is hc-emud */
	ck_assert_uint_eq(rg->ident_reserved[0] | rg->ident_reserved[1], 0);
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
	snprintf(sock, sizeof(sock), "%s/limits.sock", emud.dir);
	snprintf(log, sizeof(log), "%s/limits.log", emud.dir);
	pid = tc_daemon_start(emud.rom, sock, log, extra);
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
	ck_assert_int_eq(tc_connect(&a, emud.sock, 0), 0);
	pos_bytes = 2ull * a.regs->n_layers * a.regs->n_kv_heads * a.regs->head_dim * 4;
	ck_assert_uint_eq(a.regs->max_ctx_len, a.regs->max_ctx);	/* default: RAM / 2 */
	tc_close(&a);
	snprintf(mem, sizeof(mem), "%llu", (unsigned long long)(300 * pos_bytes + 7));
	snprintf(sock, sizeof(sock), "%s/kv.sock", emud.dir);
	snprintf(log, sizeof(log), "%s/kv.log", emud.dir);
	pid = tc_daemon_start(emud.rom, sock, log, extra);
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

/*
 * Queue limits: a client cannot make the daemon hold unbounded prompt copies or jobs; the
 * excess gets NO_MEMORY errors while the SQ keeps flowing, so a CANCEL still gets through.
 */
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
	snprintf(sock, sizeof(sock), "%s/queue.sock", emud.dir);
	snprintf(log, sizeof(log), "%s/queue.log", emud.dir);
	pid = tc_daemon_start(emud.rom, sock, log, extra);
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

static Suite *emud_faults_suite(void)
{
	Suite *s = suite_create("emud_faults");
	TCase *tc = hc_tcase(s, "card", 300);

	tcase_add_unchecked_fixture(tc, emud_fx_setup, emud_fx_teardown);
	tcase_add_test(tc, test_heartbeat_telemetry);
	tcase_add_test(tc, test_faults);
	tcase_add_test(tc, test_limits_no_faults);
	tcase_add_test(tc, test_kv_budget);
	tcase_add_test(tc, test_queue_limits);
	return s;
}

HC_TEST_MAIN(emud_faults_suite)
