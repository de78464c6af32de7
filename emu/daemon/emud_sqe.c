// SPDX-License-Identifier: MIT
/*
 * Validate one SQE (already copied out of card memory) and act on it: control opcodes
 * take effect now, model work is queued on its context. Anything wrong becomes an error
 * CQE with a reason; nothing the host writes can make the card misbehave.
 */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "emud.h"

static void post(struct emud_fn *fn, uint32_t q, const struct hc_sqe *sqe, uint32_t ctx_id,
		 uint16_t status, uint32_t count, uint32_t pos)
{
	struct hc_cqe cqe = {
		.user_data = sqe->user_data,
		.ctx_id = ctx_id,
		.status = status,
		.count = count,
		.pos = pos,
	};

	emud_post_cqe(fn, q, &cqe);
}

static void post_error(struct emud_fn *fn, uint32_t q, const struct hc_sqe *sqe, uint16_t reason,
		       const char *why)
{
	struct hc_cqe cqe = {
		.user_data = sqe->user_data,
		.ctx_id = sqe->ctx_id,
		.status = HC_STATUS_ERROR,
		.reason = reason,
		.aux = sqe->opcode,
	};

	emud_fn_log_bad(fn, sqe, reason, why);
	emud_post_cqe(fn, q, &cqe);
}

static bool all_zero(const void *p, size_t n)
{
	const unsigned char *b = p;
	size_t i;

	for (i = 0; i < n; i++)
		if (b[i])
			return false;
	return true;
}

static float bits_to_float(uint32_t u)
{
	float f;

	memcpy(&f, &u, sizeof(f));
	return f;
}

/* Each checker returns 0 or an HC_REASON_* and sets *why. */
static uint16_t check_prefill(struct emud_fn *fn, const struct hc_sqe *sqe, int32_t **out,
			      const char **why)
{
	const struct hc_sqe_prefill *p = &sqe->prefill;
	const volatile uint32_t *src;
	uint32_t i, n = p->n_tokens, vocab = fn->card->arch->vocab_size;
	int32_t *tok;

	if (p->reserved0 || !all_zero(p->reserved, sizeof(p->reserved)))
		return *why = "reserved field not zero", HC_REASON_BAD_DESCRIPTOR;
	if (n == 0 || n > fn->card->max_ctx)
		return *why = "n_tokens is 0 or above max_prefill_tokens", HC_REASON_BAD_DESCRIPTOR;
	if (!emud_fn_range_ok(fn, p->tokens_offset, (uint64_t)n * 4, 4))
		return *why = "token array outside card memory or misaligned", HC_REASON_BAD_OFFSET;
	tok = malloc(((size_t)n + 1) * sizeof(*tok));
	if (!tok)
		return *why = "out of memory", HC_REASON_NO_MEMORY;
	/* copy once, then check the copy: the host may be scribbling on the array */
	src = (const volatile uint32_t *)(fn->mem + p->tokens_offset);
	for (i = 0; i < n; i++)
		tok[i + 1] = (int32_t)src[i];
	for (i = 0; i < n; i++) {
		if ((uint32_t)tok[i + 1] >= vocab) {
			free(tok);
			return *why = "token id >= vocab_size", HC_REASON_BAD_TOKEN;
		}
	}
	*out = tok;
	return 0;
}

static uint16_t check_decode(struct emud_fn *fn, const struct hc_sqe *sqe, const char **why)
{
	const struct hc_sqe_decode *d = &sqe->decode;
	uint32_t i, vocab = fn->card->arch->vocab_size;
	float t = bits_to_float(d->temperature), p = bits_to_float(d->top_p);

	if (!all_zero(d->reserved, sizeof(d->reserved)))
		return *why = "reserved field not zero", HC_REASON_BAD_DESCRIPTOR;
	if (!hc_is_pow2_u32(d->stream_entries) || d->stream_entries > EMUD_MAX_STREAM_ENTRIES)
		return *why = "stream_entries not a power of two or too many", HC_REASON_BAD_RING;
	if (sqe->flags & HC_SQE_F_STREAM_HOST) {
		if (!emud_fn_host_ok(fn, d->stream_offset, HC_RING_BYTES(d->stream_entries, 4),
				     HC_CARD_RING_ALIGN))
			return *why = "stream ring outside host memory or misaligned",
			       HC_REASON_DMA_FAULT;
	} else if (!emud_fn_range_ok(fn, d->stream_offset, HC_RING_BYTES(d->stream_entries, 4),
				     HC_CARD_RING_ALIGN)) {
		return *why = "stream ring outside card memory or misaligned", HC_REASON_BAD_OFFSET;
	}
	if (d->wakeup_usec > HC_CARD_MAX_WAKEUP_USEC)
		return *why = "wakeup_usec above HC_CARD_MAX_WAKEUP_USEC", HC_REASON_BAD_DESCRIPTOR;
	if (d->wakeup_tokens > d->stream_entries)
		return *why = "wakeup_tokens above stream_entries", HC_REASON_BAD_DESCRIPTOR;
	if (d->max_tokens == 0)
		return *why = "max_tokens is 0", HC_REASON_BAD_DESCRIPTOR;
	if (!isfinite(t) || t < 0 || !isfinite(p) || p < 0)
		return *why = "temperature/top_p not finite and >= 0", HC_REASON_BAD_DESCRIPTOR;
	if (d->n_stop > HC_CARD_MAX_STOP)
		return *why = "n_stop above 8", HC_REASON_BAD_DESCRIPTOR;
	for (i = 0; i < HC_CARD_MAX_STOP; i++) {
		if (i < d->n_stop && d->stop[i] >= vocab)
			return *why = "stop token id >= vocab_size", HC_REASON_BAD_TOKEN;
		if (i >= d->n_stop && d->stop[i])
			return *why = "unused stop slot not zero", HC_REASON_BAD_DESCRIPTOR;
	}
	return 0;
}

/* Jobs that queue on their context, and so take part in HC_SQE_F_LINK chains. */
static bool queued_op(uint8_t opcode)
{
	return opcode == HC_OP_PREFILL || opcode == HC_OP_DECODE || opcode == HC_OP_RESET_CONTEXT;
}

/*
 * An error CQE for @sqe. A refused job of context @c is still the context's next job: it
 * takes a failed linked PREFILL's break, and a refused linked PREFILL is a failed one.
 */
static void refuse(struct emud_fn *fn, uint32_t q, const struct hc_sqe *sqe,
		   struct emud_ctx *c, uint16_t reason, const char *why)
{
	post_error(fn, q, sqe, reason, why);
	if (c && queued_op(sqe->opcode))
		c->link_broken = sqe->flags & HC_SQE_F_LINK;
}

void emud_sqe_submit(struct emud_fn *fn, uint32_t q, const struct hc_sqe *sqe)
{
	struct emud_ctx *c = NULL;
	struct emud_job *j;
	const char *why = "";
	int32_t *tokens = NULL;
	uint16_t reason = 0;
	uint32_t id;

	if ((sqe->flags & ~(HC_SQE_F_STREAM_HOST | HC_SQE_F_LINK)) || sqe->reserved0) {
		post_error(fn, q, sqe, HC_REASON_BAD_DESCRIPTOR, "flags or reserved0 not zero");
		return;
	}
	if ((sqe->flags & HC_SQE_F_LINK) && sqe->opcode != HC_OP_PREFILL) {
		post_error(fn, q, sqe, HC_REASON_BAD_DESCRIPTOR, "HC_SQE_F_LINK on other than PREFILL");
		return;
	}
	if ((sqe->flags & HC_SQE_F_STREAM_HOST) && (sqe->opcode != HC_OP_DECODE || !fn->host_mem)) {
		post_error(fn, q, sqe, HC_REASON_BAD_DESCRIPTOR,
			   "HC_SQE_F_STREAM_HOST without DECODE or HC_CAP_HOST_MEMORY");
		return;
	}
	switch (sqe->opcode) {
	case HC_OP_NOP:
	case HC_OP_CONTEXT_OPEN:
		if (sqe->ctx_id) {
			post_error(fn, q, sqe, HC_REASON_BAD_DESCRIPTOR, "ctx_id must be 0");
			return;
		}
		break;
	case HC_OP_CONTEXT_CLOSE:
	case HC_OP_PREFILL:
	case HC_OP_DECODE:
	case HC_OP_CANCEL:
	case HC_OP_RESET_CONTEXT:
		c = emud_ctx_get(fn, sqe->ctx_id);
		if (!c) {
			post_error(fn, q, sqe, HC_REASON_BAD_CONTEXT, "no such context here");
			return;
		}
		break;
	default:
		post_error(fn, q, sqe, HC_REASON_BAD_OPCODE, "unknown opcode");
		return;
	}

	switch (sqe->opcode) {
	case HC_OP_NOP:
	case HC_OP_CONTEXT_CLOSE:
	case HC_OP_CANCEL:
	case HC_OP_RESET_CONTEXT:
		if (!all_zero(sqe->args, sizeof(sqe->args)))
			reason = HC_REASON_BAD_DESCRIPTOR, why = "arguments must be zero";
		break;
	case HC_OP_CONTEXT_OPEN:
		if (sqe->open.reserved0 || !all_zero(sqe->open.reserved, sizeof(sqe->open.reserved)))
			reason = HC_REASON_BAD_DESCRIPTOR, why = "reserved field not zero";
		else if (sqe->open.max_ctx > fn->card->max_ctx)
			reason = HC_REASON_BAD_DESCRIPTOR, why = "max_ctx above max_ctx_len";
		break;
	case HC_OP_PREFILL:
		reason = check_prefill(fn, sqe, &tokens, &why);
		break;
	case HC_OP_DECODE:
		reason = check_decode(fn, sqe, &why);
		break;
	}
	if (reason) {
		refuse(fn, q, sqe, c, reason, why);
		return;
	}

	switch (sqe->opcode) {
	case HC_OP_NOP:
		post(fn, q, sqe, 0, HC_STATUS_OK, 0, 0);
		return;
	case HC_OP_CONTEXT_OPEN:
		if (emud_ctx_open(fn, sqe->open.max_ctx, &id, &reason) < 0) {
			post_error(fn, q, sqe, reason, reason == HC_REASON_NO_CONTEXTS ?
				   "no free KV slot" : "cannot allocate the context");
			return;
		}
		post(fn, q, sqe, id, HC_STATUS_OK, 0, 0);
		return;
	case HC_OP_CONTEXT_CLOSE:
		id = sqe->ctx_id;
		emud_ctx_close(fn, id);
		post(fn, q, sqe, id, HC_STATUS_OK, 0, 0);
		return;
	case HC_OP_CANCEL:
		id = emud_ctx_cancel(fn, c);
		post(fn, q, sqe, sqe->ctx_id, HC_STATUS_OK, id, hc_kv_pos(c->kv));
		return;
	}

	/* the linked PREFILL before this job failed: it does nothing (and passes the break on
	 * if it is a linked PREFILL itself) */
	if (c->link_broken) {
		c->link_broken = sqe->flags & HC_SQE_F_LINK;
		free(tokens);
		post(fn, q, sqe, c->id, HC_STATUS_CANCELLED, 0, hc_kv_pos(c->kv));
		return;
	}
	/* PREFILL, DECODE, RESET_CONTEXT: queued on the context, run in order; bounded so that
	 * a client cannot make the daemon hold unbounded memory (errors keep the SQ flowing) */
	if (fn->qp[q].inflight >= EMUD_QP_MAX_INFLIGHT ||
	    (tokens && fn->tok_bytes + ((uint64_t)sqe->prefill.n_tokens + 1) * 4 > fn->mem_size)) {
		free(tokens);
		refuse(fn, q, sqe, c, HC_REASON_NO_MEMORY, "too many queued jobs or prompt tokens");
		return;
	}
	j = calloc(1, sizeof(*j));
	if (!j) {
		free(tokens);
		refuse(fn, q, sqe, c, HC_REASON_NO_MEMORY, "out of memory for a job");
		return;
	}
	j->op = sqe->opcode;
	j->link = sqe->flags & HC_SQE_F_LINK;
	j->qp = (uint8_t)q;
	j->user_data = sqe->user_data;
	if (j->op == HC_OP_PREFILL) {
		j->tokens = tokens;
		j->n_tokens = sqe->prefill.n_tokens;
	} else if (j->op == HC_OP_DECODE) {
		const struct hc_sqe_decode *d = &sqe->decode;

		hc_ring_init(&j->stream, (sqe->flags & HC_SQE_F_STREAM_HOST ? fn->host_mem : fn->mem) +
			     d->stream_offset, d->stream_entries, 4);
		j->max_tokens = d->max_tokens;
		j->n_stop = d->n_stop;
		memcpy(j->stop, d->stop, sizeof(j->stop));
		j->samp.temperature = bits_to_float(d->temperature);
		j->samp.top_p = bits_to_float(d->top_p);
		j->samp.top_k = d->top_k;
		j->samp.seed = d->seed;
		j->step_base = d->step_base;
		j->wake_ns = (uint64_t)d->wakeup_usec * 1000;
		j->wake_tokens = d->wakeup_tokens;
	}
	emud_job_enqueue(fn, c, j);
}
