// SPDX-License-Identifier: MIT
/*
 * One card function: its register page, control registers (reset, queue pairs, test-only
 * faults), SQ fetching, CQ posting with overflow, interrupts and coalescing.
 * Everything read from card memory is hostile: copied, then checked.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include "emud.h"
#include "hc/hc_version.h"

static void fn_raise(struct emud_fn *fn, uint32_t vector)
{
	if (fn->drop_irqs) {
		/* TEST ONLY fault: the interrupt is lost */
		fn->drop_irqs--;
		fn->irqs_dropped++;
		hc_ring_store(&fn->regs->fault_state.irqs_dropped, fn->irqs_dropped);
		emud_log("%s %u: fault: dropped interrupt vector %u", fn->ops->kind, fn->id, vector);
		return;
	}
	fn->ops->raise_irq(fn, vector);
}

bool emud_fn_range_ok(const struct emud_fn *fn, uint64_t off, uint64_t len, uint64_t align)
{
	if (off & (align - 1))
		return false;
	if (off < fn->data_offset || off > fn->mem_size)
		return false;
	return len <= fn->mem_size - off;
}

bool emud_fn_host_ok(const struct emud_fn *fn, uint64_t addr, uint64_t len, uint64_t align)
{
	if (!fn->host_mem || (addr & (align - 1)) || addr > fn->host_size)
		return false;
	return len <= fn->host_size - addr;
}

/*
 * The ROM's tokenizer blob goes right after the register page (HC_CAP_TOKENIZER): hosts need
 * it to turn text into ids and back without the ROM file. Host-managed memory starts after
 * it. Skipped when it would leave less than half of the memory for rings.
 */
static void emud_fn_place_tokenizer(struct emud_fn *fn, struct emud_card *card,
				    struct hc_card_regs *r, unsigned char *mem, uint64_t mem_size)
{
	size_t len = 0;
	const void *blob = hc_rom_tokenizer_blob(card->rom, &len);
	uint64_t data = (HC_CARD_REGS_SIZE + (uint64_t)len + 4095) & ~(uint64_t)4095;

	if (!blob || !len || data > mem_size / 2)
		return;
	memcpy(mem + HC_CARD_REGS_SIZE, blob, len);
	r->tokenizer_offset = HC_CARD_REGS_SIZE;
	r->tokenizer_size = len;
	r->data_offset = data;
	r->data_size = mem_size - data;
	r->caps |= HC_CAP_TOKENIZER;
	(void)fn;
}

int emud_fn_init(struct emud_fn *fn, struct emud_card *card, void *mem, uint64_t mem_size,
		 uint64_t caps, const struct emud_fn_ops *ops, void *transport)
{
	const struct hc_rom_arch *a = card->arch;
	struct hc_card_regs *r = mem;
	uint32_t q;

	fn->card = card;
	fn->ops = ops;
	fn->transport = transport;
	fn->mem = mem;
	fn->mem_size = mem_size;
	fn->regs = r;
	fn->n_qp = card->opt.n_qp;
	fn->n_irq = 1 + fn->n_qp;
	fn->max_contexts = card->opt.max_contexts;
	fn->ctx = calloc(fn->max_contexts, sizeof(*fn->ctx));
	if (!fn->ctx)
		return -ENOMEM;

	memset(r, 0, sizeof(*r));
	r->magic = HC_CARD_MAGIC;
	r->version = HC_CARD_VERSION;
	r->regs_size = sizeof(*r);
	if (!fn->host_mem)
		caps &= ~HC_CAP_HOST_MEMORY;
	r->caps = caps | HC_CAP_COALESCE | HC_CAP_WAKEUP_DELAY | HC_CAP_LINK |
		  (card->opt.allow_faults ? HC_CAP_FAULT_INJECTION : 0);
	r->mem_size = mem_size;
	r->data_offset = HC_CARD_REGS_SIZE;
	r->data_size = mem_size - HC_CARD_REGS_SIZE;
	emud_fn_place_tokenizer(fn, card, r, mem, mem_size);
	fn->data_offset = r->data_offset;
	r->fn_id = fn->id;
	r->fw_version = HC_VERSION_NUMBER;	/* the card's firmware is hc-emud itself */
	memcpy(r->model_identity, card->rom_hdr->identity, sizeof(r->model_identity));
	memcpy(r->model_name, card->rom_hdr->name, sizeof(r->model_name) - 1);
	r->vocab_size = a->vocab_size;
	r->dim = a->dim;
	r->n_layers = a->n_layers;
	r->n_heads = a->n_heads;
	r->n_kv_heads = a->n_kv_heads;
	r->head_dim = a->head_dim;
	r->ffn_dim = a->ffn_dim;
	r->max_ctx = a->max_ctx;
	r->n_contexts = card->opt.n_contexts;
	r->max_contexts = fn->max_contexts;
	r->max_ctx_len = card->max_ctx;
	r->n_queue_pairs = fn->n_qp;
	r->max_sq_entries = EMUD_MAX_SQ_ENTRIES;
	r->max_cq_entries = EMUD_MAX_CQ_ENTRIES;
	r->max_stream_entries = EMUD_MAX_STREAM_ENTRIES;
	r->max_stop_tokens = HC_CARD_MAX_STOP;
	r->n_doorbells = 1 + fn->n_qp;
	r->n_irq_vectors = fn->n_irq;
	r->max_prefill_tokens = card->max_ctx;
	for (q = 0; q < HC_CARD_MAX_QP; q++)
		fn->qp[q].seen_seq = 0;
	hc_ring_store_release(&r->status, HC_CARD_STATUS_READY);
	return 0;
}

void emud_fn_destroy(struct emud_fn *fn)
{
	uint32_t q;

	emud_ctx_free_all(fn);
	for (q = 0; q < HC_CARD_MAX_QP; q++)
		emud_fn_qp_abandon(fn, q);
	free(fn->ctx);
	fn->ctx = NULL;
}

static void ovf_free(struct emud_qp *qp)
{
	while (qp->ovf_head) {
		struct emud_cqe_node *n = qp->ovf_head;

		qp->ovf_head = n->next;
		free(n);
	}
	qp->ovf_tail = NULL;
	qp->n_ovf = 0;
}

void emud_fn_qp_abandon(struct emud_fn *fn, uint32_t q)
{
	struct emud_qp *qp = &fn->qp[q];
	uint32_t i;

	/* jobs of this queue pair go away without completions */
	for (i = 0; i < fn->max_contexts && fn->ctx; i++) {
		struct emud_ctx *c = fn->ctx[i];
		struct emud_job **pp, *j;

		if (!c)
			continue;
		pp = &c->head;
		c->tail = NULL;
		while ((j = *pp)) {
			if (j->qp == q) {
				*pp = j->next;
				emud_job_free(fn, j);
				continue;
			}
			c->tail = j;
			pp = &j->next;
		}
	}
	ovf_free(qp);
	qp->enabled = false;
	qp->inflight = 0;
	qp->unsignalled = 0;
	qp->sq_need_wakeup = false;
}

/* The queue pair's rings are corrupt: stop it and tell the host through its registers. */
static void qp_fail(struct emud_fn *fn, uint32_t q, uint16_t reason, const char *what)
{
	struct hc_card_qp *r = &fn->regs->qp[q];

	emud_fn_qp_abandon(fn, q);
	hc_ring_store(&r->error, reason);
	hc_ring_store(&r->state, HC_QP_STATE_ERROR);
	if (emud_fn_log_ok(fn))
		emud_warn("%s %u: qp %u: %s; queue pair stopped", fn->ops->kind, fn->id, q, what);
	fn_raise(fn, HC_IRQ_CONTROL);
}

static void qp_apply(struct emud_fn *fn, uint32_t q)
{
	struct hc_card_qp *r = &fn->regs->qp[q];
	struct emud_qp *qp = &fn->qp[q];
	uint32_t seq = hc_ring_load_acquire(&r->ctrl_seq);
	uint64_t sq_off, cq_off, sq_len, cq_len;
	uint32_t sq_n, cq_n, vec, ctrl, cc, cus, i;
	uint16_t reason = 0;
	bool cq_host;
	const char *why = NULL;

	if (seq == qp->seen_seq)
		return;
	qp->seen_seq = seq;
	if (qp->enabled)
		emud_fn_qp_abandon(fn, q);

	sq_off = hc_ring_load64(&r->sq_offset);
	cq_off = hc_ring_load64(&r->cq_offset);
	sq_n = hc_ring_load(&r->sq_entries);
	cq_n = hc_ring_load(&r->cq_entries);
	vec = hc_ring_load(&r->irq_vector);
	ctrl = hc_ring_load(&r->ctrl);
	cq_host = !!(ctrl & HC_QP_CTRL_CQ_HOST);
	cc = hc_ring_load(&r->coalesce_count);
	cus = hc_ring_load(&r->coalesce_usec);
	for (i = 0; i < 5; i++)
		if (hc_ring_load(&r->host_reserved[i]))
			reason = HC_REASON_BAD_DESCRIPTOR, why = "reserved field not zero";
	if (ctrl & ~(HC_QP_CTRL_ENABLE | HC_QP_CTRL_CQ_HOST))
		reason = HC_REASON_BAD_DESCRIPTOR, why = "unknown ctrl bits";
	else if (cq_host && !fn->host_mem)	/* not the register page's caps: hosts write it */
		reason = HC_REASON_BAD_DESCRIPTOR, why = "CQ in host memory without HC_CAP_HOST_MEMORY";

	if (!reason && (ctrl & HC_QP_CTRL_ENABLE)) {
		sq_len = HC_RING_BYTES(sq_n, sizeof(struct hc_sqe));
		cq_len = HC_RING_BYTES(cq_n, sizeof(struct hc_cqe));
		if (!hc_is_pow2_u32(sq_n) || sq_n > EMUD_MAX_SQ_ENTRIES ||
		    !hc_is_pow2_u32(cq_n) || cq_n > EMUD_MAX_CQ_ENTRIES)
			reason = HC_REASON_BAD_RING, why = "ring entries not a power of two or too many";
		else if (!emud_fn_range_ok(fn, sq_off, sq_len, HC_CARD_RING_ALIGN) ||
			 (!cq_host && !emud_fn_range_ok(fn, cq_off, cq_len, HC_CARD_RING_ALIGN)))
			reason = HC_REASON_BAD_OFFSET, why = "ring outside card memory or misaligned";
		else if (cq_host && !emud_fn_host_ok(fn, cq_off, cq_len, HC_CARD_RING_ALIGN))
			reason = HC_REASON_DMA_FAULT, why = "CQ outside host memory or misaligned";
		else if (!cq_host && sq_off < cq_off + cq_len && cq_off < sq_off + sq_len)
			reason = HC_REASON_BAD_OFFSET, why = "SQ and CQ overlap";
		else if (vec >= fn->n_irq)
			reason = HC_REASON_BAD_VECTOR, why = "irq_vector out of range";
	}

	if (reason) {
		hc_ring_store(&r->error, reason);
		hc_ring_store(&r->state, HC_QP_STATE_ERROR);
		if (emud_fn_log_ok(fn))
			emud_warn("%s %u: qp %u: rejected: %s", fn->ops->kind, fn->id, q, why);
	} else if (ctrl & HC_QP_CTRL_ENABLE) {
		hc_ring_init(&qp->sq, fn->mem + sq_off, sq_n, sizeof(struct hc_sqe));
		hc_ring_cons_sync(&qp->sq);
		hc_ring_init(&qp->cq, (cq_host ? fn->host_mem : fn->mem) + cq_off, cq_n,
			     sizeof(struct hc_cqe));
		hc_ring_prod_sync(&qp->cq);
		qp->irq_vector = vec;
		qp->coalesce_count = cc;
		qp->coalesce_ns = (uint64_t)cus * 1000;
		qp->enabled = true;
		hc_ring_store(&r->error, 0);
		hc_ring_store(&r->state, HC_QP_STATE_ENABLED);
		emud_dbg("%s %u: qp %u enabled: sq %u entries at 0x%llx, cq %u at %s 0x%llx, irq %u",
			 fn->ops->kind, fn->id, q, sq_n, (unsigned long long)sq_off, cq_n,
			 cq_host ? "host" : "card", (unsigned long long)cq_off, vec);
	} else {
		hc_ring_store(&r->error, 0);
		hc_ring_store(&r->state, HC_QP_STATE_DISABLED);
	}
	hc_ring_store_release(&r->ack_seq, seq);
	fn_raise(fn, HC_IRQ_CONTROL);
}

static void fn_reset(struct emud_fn *fn, uint64_t req)
{
	struct hc_card_regs *r = fn->regs;
	uint32_t q;

	hc_ring_store(&r->status, HC_CARD_STATUS_RESETTING);
	emud_ctx_free_all(fn);
	for (q = 0; q < HC_CARD_MAX_QP; q++) {
		emud_fn_qp_abandon(fn, q);
		fn->qp[q].seen_seq = hc_ring_load(&r->qp[q].ctrl_seq);
		hc_ring_store(&r->qp[q].state, HC_QP_STATE_DISABLED);
		hc_ring_store(&r->qp[q].error, 0);
		hc_ring_store(&r->qp[q].jobs_inflight, 0);
		hc_ring_store_release(&r->qp[q].ack_seq, fn->qp[q].seen_seq);
	}
	__atomic_store_n(&fn->stalled, 0, __ATOMIC_RELAXED);
	fn->stall_after = fn->drop_irqs = fn->corrupt_cqes = 0;
	fn->seen_fault_seq = hc_ring_load(&r->fault.seq);
	hc_ring_store(&r->fault_state.stalled, 0);
	hc_ring_store(&r->fault_state.seq, fn->seen_fault_seq);
	fn->seen_reset = req;
	hc_ring_store_release64(&r->reset_done, req);
	hc_ring_store_release(&r->status, HC_CARD_STATUS_READY);
	if (emud_fn_log_ok(fn))
		emud_log("%s %u: reset %llu done", fn->ops->kind, fn->id, (unsigned long long)req);
	fn_raise(fn, HC_IRQ_CONTROL);
}

static void fn_faults(struct emud_fn *fn)
{
	struct hc_card_fault *f = &fn->regs->fault;
	uint32_t seq;

	if (!fn->card->opt.allow_faults)
		return;
	seq = hc_ring_load_acquire(&f->seq);
	if (seq == fn->seen_fault_seq)
		return;
	fn->seen_fault_seq = seq;
	__atomic_store_n(&fn->stalled, hc_ring_load(&f->stall) ? 1 : 0, __ATOMIC_RELAXED);
	fn->stall_after = hc_ring_load(&f->stall_after_tokens);
	fn->drop_irqs = hc_ring_load(&f->drop_irqs);
	fn->corrupt_cqes = hc_ring_load(&f->corrupt_cqes);
	hc_ring_store(&fn->regs->fault_state.stalled, fn->stalled);
	hc_ring_store_release(&fn->regs->fault_state.seq, seq);
	if (emud_fn_log_ok(fn))
		emud_notice("%s %u: TEST fault injection: stall %u, stall after %u tokens, "
			    "drop %u irqs, corrupt %u cqes", fn->ops->kind, fn->id, fn->stalled,
			    fn->stall_after, fn->drop_irqs, fn->corrupt_cqes);
}

/* Register-page changes: reset first (it wins), then faults, then queue pairs. */
static void fn_control(struct emud_fn *fn)
{
	uint64_t req = hc_ring_load_acquire64(&fn->regs->reset_request);
	uint32_t q;

	if (req != fn->seen_reset)
		fn_reset(fn, req);
	fn_faults(fn);
	if (__atomic_load_n(&fn->stalled, __ATOMIC_RELAXED))
		return;
	for (q = 0; q < fn->n_qp; q++)
		qp_apply(fn, q);
}

void emud_fn_kick(struct emud_fn *fn)
{
	fn->kicked = true;
}

/* Write one CQE into the CQ if there is room; false if full (or the ring is corrupt). */
static bool cq_put(struct emud_fn *fn, uint32_t q, const struct hc_cqe *cqe)
{
	struct emud_qp *qp = &fn->qp[q];
	int space = hc_ring_prod_space(&qp->cq);

	if (space == 0)
		space = hc_ring_prod_wait_prepare(&qp->cq);
	if (space < 0) {
		qp_fail(fn, q, HC_REASON_BAD_RING, "CQ head inconsistent with tail");
		return false;
	}
	if (space == 0)
		return false;
	hc_ring_prod_wait_done(&qp->cq);
	memcpy(hc_ring_prod_entry(&qp->cq, 0), cqe, sizeof(*cqe));
	hc_ring_prod_publish(&qp->cq, 1);
	if (!qp->unsignalled++)
		qp->first_unsignalled_ns = emud_now_ns();
	return true;
}

static void cq_flush(struct emud_fn *fn, uint32_t q)
{
	struct emud_qp *qp = &fn->qp[q];

	while (qp->enabled && qp->ovf_head) {
		struct emud_cqe_node *n = qp->ovf_head;

		if (!cq_put(fn, q, &n->cqe))
			return;
		qp->ovf_head = n->next;
		if (!qp->ovf_head)
			qp->ovf_tail = NULL;
		qp->n_ovf--;
		free(n);
	}
}

void emud_post_cqe(struct emud_fn *fn, uint32_t q, const struct hc_cqe *in)
{
	struct emud_qp *qp = &fn->qp[q];
	struct hc_cqe cqe = *in;
	struct emud_cqe_node *n;

	if (!qp->enabled)
		return;
	if (cqe.status == HC_STATUS_ERROR)
		emud_count(&fn->card->cnt.jobs_failed, 1);
	else
		emud_count(&fn->card->cnt.jobs_completed, 1);
	if (fn->corrupt_cqes) {
		/* TEST ONLY fault: a corrupt completion replaces the real one */
		fn->corrupt_cqes--;
		fn->cqes_corrupted++;
		hc_ring_store(&fn->regs->fault_state.cqes_corrupted, fn->cqes_corrupted);
		emud_log("%s %u: fault: corrupted completion of user_data 0x%llx", fn->ops->kind,
			 fn->id, (unsigned long long)cqe.user_data);
		cqe.user_data = ~cqe.user_data;
		cqe.ctx_id = 0xffffffffu;
		cqe.status = HC_STATUS_CORRUPT_FAULT;
		cqe.reason = 0xffff;
		cqe.count = cqe.pos = cqe.aux = cqe.flags = 0xffffffffu;
	}
	if (!qp->ovf_head && cq_put(fn, q, &cqe))
		return;
	if (!qp->enabled)
		return;
	n = malloc(sizeof(*n));
	if (!n) {
		qp_fail(fn, q, HC_REASON_NO_MEMORY, "out of memory for a completion");
		return;
	}
	n->next = NULL;
	n->cqe = cqe;
	if (qp->ovf_tail)
		qp->ovf_tail->next = n;
	else
		qp->ovf_head = n;
	qp->ovf_tail = n;
	qp->n_ovf++;
}

bool emud_fn_log_ok(struct emud_fn *fn)
{
	if (fn->logged > EMUD_LOG_LIMIT)
		return false;
	if (fn->logged++ == EMUD_LOG_LIMIT) {
		emud_warn("%s %u: too many events; not logging this function's any more",
			  fn->ops->kind, fn->id);
		return false;
	}
	return true;
}

void emud_fn_log_bad(struct emud_fn *fn, const struct hc_sqe *sqe, uint16_t reason,
		     const char *why)
{
	if (!emud_fn_log_ok(fn))
		return;
	emud_warn("%s %u: bad SQE (opcode %u, ctx %u, user_data 0x%llx): %s (reason %u)",
		  fn->ops->kind, fn->id, sqe->opcode, sqe->ctx_id,
		  (unsigned long long)sqe->user_data, why, reason);
}

/* Copy @n bytes of hostile memory once, 8 bytes at a time (@src and @n 8-aligned). */
static void copy_in64(void *dst, const void *src, size_t n)
{
	const volatile uint64_t *s = src;
	uint64_t *d = dst;
	size_t i;

	for (i = 0; i < n / 8; i++)
		d[i] = s[i];
}

static void qp_fetch(struct emud_fn *fn, uint32_t q)
{
	struct emud_qp *qp = &fn->qp[q];
	bool consumed = false;

	/* stop taking SQEs only while completions pile up for a full CQ: the host must read */
	while (qp->enabled && qp->n_ovf < EMUD_QP_MAX_OVF) {
		struct hc_sqe sqe;
		int n = hc_ring_cons_avail(&qp->sq);

		if (n < 0) {
			qp_fail(fn, q, HC_REASON_BAD_RING, "SQ tail inconsistent with head");
			return;
		}
		if (n == 0)
			break;
		copy_in64(&sqe, hc_ring_cons_entry(&qp->sq, 0), sizeof(sqe));
		hc_ring_cons_release(&qp->sq, 1);
		consumed = true;
		emud_sqe_submit(fn, q, &sqe);
	}
	if (consumed && qp->enabled && hc_ring_cons_producer_waiting(&qp->sq))
		fn->irq_mask |= 1u << qp->irq_vector;
	if (qp->enabled)
		hc_ring_store(&fn->regs->qp[q].jobs_inflight, qp->inflight);
}

/* Raise @j's stream vector this round (the wake-up is no longer deferred). */
static void stream_raise(struct emud_fn *fn, struct emud_job *j)
{
	fn->irq_mask |= 1u << fn->qp[j->qp].irq_vector;
	if (j->wake_at) {
		j->wake_at = 0;
		fn->n_deferred--;
	}
}

void emud_fn_stream_wakeup(struct emud_fn *fn, struct emud_job *j)
{
	if (j->wake_ns) {
		int space = hc_ring_prod_space(&j->stream);
		uint32_t unread = hc_ring_entries(&j->stream) - (uint32_t)space;

		/* a full ring pauses the context until the host reads: no reason to wait */
		if (space > 0 && (!j->wake_tokens || unread < j->wake_tokens)) {
			if (!j->wake_at) {
				j->wake_at = emud_now_ns() + j->wake_ns;
				fn->n_deferred++;
			}
			return;
		}
	}
	stream_raise(fn, j);
}

/*
 * Deferred stream wake-ups (HC_CAP_WAKEUP_DELAY). Once one is due, every deferred one of the
 * function goes with it: a consumer that sleeps on all its streams then wakes once per
 * budget, not once per queue pair (earlier than asked is always allowed). One whose vector
 * is raised this round anyway is delivered by that interrupt. A due one whose consumer
 * cleared HC_STREAM_HOST_NEED_WAKEUP meanwhile is dropped: that consumer is awake and
 * re-checks the tail after setting the flag again (the full-barrier pairing of hc_ring.h).
 */
static void fn_deferred_wakeups(struct emud_fn *fn)
{
	const uint64_t now = emud_now_ns();
	bool due = false;
	uint32_t i;

	for (i = 0; i < fn->max_contexts && !due; i++) {
		const struct emud_job *j = fn->ctx[i] ? fn->ctx[i]->head : NULL;

		due = j && j->wake_at && j->wake_at <= now;
	}
	for (i = 0; i < fn->max_contexts && fn->n_deferred; i++) {
		struct emud_job *j = fn->ctx[i] ? fn->ctx[i]->head : NULL;
		uint32_t bit;

		if (!j || !j->wake_at)
			continue;
		bit = 1u << fn->qp[j->qp].irq_vector;
		if (!due && !(fn->irq_mask & bit))
			continue;
		j->wake_at = 0;
		fn->n_deferred--;
		if (!(fn->irq_mask & bit) && hc_ring_prod_need_wakeup(&j->stream))
			fn->irq_mask |= bit;
	}
}

void emud_fn_service(struct emud_fn *fn, bool card_idle)
{
	uint64_t now = 0;
	uint32_t q, v;

	if (fn->kicked) {
		fn->kicked = false;
		fn_control(fn);
		emud_fn_unblock(fn);
	}
	if (__atomic_load_n(&fn->stalled, __ATOMIC_RELAXED)) {
		fn->irq_mask = 0;
		return;
	}
	for (q = 0; q < fn->n_qp; q++) {
		struct emud_qp *qp = &fn->qp[q];

		if (!qp->enabled)
			continue;
		if (!card_idle && qp->sq_need_wakeup) {
			/* we poll while busy: spare the host its doorbells */
			hc_ring_cons_sleep_done(&qp->sq);
			qp->sq_need_wakeup = false;
		}
		cq_flush(fn, q);
		qp_fetch(fn, q);
	}
	for (q = 0; q < fn->n_qp; q++) {
		struct emud_qp *qp = &fn->qp[q];
		bool due;

		if (!qp->enabled || !qp->unsignalled)
			continue;
		due = card_idle || qp->unsignalled >= (qp->coalesce_count ? qp->coalesce_count : 1);
		if (!due && qp->coalesce_ns) {
			if (!now)
				now = emud_now_ns();
			due = now - qp->first_unsignalled_ns >= qp->coalesce_ns;
		}
		if (!due)
			continue;
		qp->unsignalled = 0;
		if (hc_ring_prod_need_wakeup(&qp->cq))
			fn->irq_mask |= 1u << qp->irq_vector;
	}
	if (fn->n_deferred)
		fn_deferred_wakeups(fn);
	for (v = 0; fn->irq_mask; v++) {
		if (fn->irq_mask & (1u << v)) {
			fn->irq_mask &= ~(1u << v);
			fn_raise(fn, v);
		}
	}
}

bool emud_fn_sleep_prepare(struct emud_fn *fn)
{
	uint32_t q;

	if (__atomic_load_n(&fn->stalled, __ATOMIC_RELAXED))
		return true;
	for (q = 0; q < fn->n_qp; q++) {
		struct emud_qp *qp = &fn->qp[q];
		int n;

		/* a queue pair whose host does not read its CQ waits for its doorbell, not us */
		if (!qp->enabled || qp->n_ovf >= EMUD_QP_MAX_OVF)
			continue;
		n = hc_ring_cons_sleep_prepare(&qp->sq);
		qp->sq_need_wakeup = true;
		if (n != 0)
			return false;	/* new SQEs (or a corrupt tail): go round again */
	}
	return true;
}
