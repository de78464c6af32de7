// SPDX-License-Identifier: MIT
/*
 * Contexts (KV slots), their job queues, and the scheduler: each round gives every runnable
 * context of every function one step (one decode token, or one prefill chunk), so clients
 * and contexts share the card fairly and a cancel lands within one step.
 *
 * Exactness: a DECODE samples token i of the job with hc_sample(step = step_base + i) on a
 * copy of the context's logits and feeds each shown token before sampling the next, which
 * is exactly the in-process loop hc_forward(prompt); { t = hc_sample(); hc_forward(t); }.
 *
 * Batching: at the start of a round, every decoding context whose shown token still has to
 * be fed, and every prefilling context's next chunk, go through one hc_forward_items (each
 * gets the bits of its own hc_forward), so N streams read the weights once per round instead
 * of N times, and a prompt arriving meanwhile rides along.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include "emud.h"

struct emud_ctx *emud_ctx_get(struct emud_fn *fn, uint32_t id)
{
	if (id == 0 || id > fn->max_contexts)
		return NULL;
	return fn->ctx[id - 1];
}

static void update_ctx_counts(struct emud_fn *fn)
{
	struct emud_card *card = fn->card;

	__atomic_store_n(&card->cnt.contexts_in_use, card->kv_in_use, __ATOMIC_RELAXED);
	hc_ring_store(&fn->regs->fn_contexts_in_use, fn->n_open);
}

int emud_ctx_open(struct emud_fn *fn, uint32_t max_ctx, uint32_t *id, uint16_t *reason)
{
	struct emud_card *card = fn->card;
	uint32_t cap = max_ctx ? max_ctx : card->max_ctx;
	uint64_t bytes = (uint64_t)cap * card->kv_pos_bytes;
	struct emud_ctx *c;
	uint32_t i;

	if (card->kv_in_use >= card->opt.n_contexts || fn->n_open >= fn->max_contexts ||
	    bytes > card->opt.kv_mem - card->kv_reserved) {
		*reason = HC_REASON_NO_CONTEXTS;
		return -EBUSY;
	}
	for (i = 0; i < fn->max_contexts && fn->ctx[i]; i++)
		;
	c = calloc(1, sizeof(*c));
	if (c) {
		c->kv = hc_kv_new(card->model, cap);
		c->logits = malloc(sizeof(float) * card->arch->vocab_size);
	}
	if (!c || !c->kv || !c->logits) {
		if (c) {
			if (c->kv)
				hc_kv_free(c->kv);
			free(c->logits);
			free(c);
		}
		*reason = HC_REASON_NO_MEMORY;
		return -ENOMEM;
	}
	c->id = i + 1;
	c->kv_bytes = bytes;
	fn->ctx[i] = c;
	fn->n_open++;
	card->kv_in_use++;
	card->kv_reserved += bytes;
	update_ctx_counts(fn);
	*id = c->id;
	if (card->opt.verbose)
		emud_dbg("%s %u: context %u opened (%u positions), %u KV slots in use",
			 fn->ops->kind, fn->id, c->id, hc_kv_capacity(c->kv), card->kv_in_use);
	return 0;
}

void emud_job_free(struct emud_fn *fn, struct emud_job *j)
{
	if (j->wake_at)
		fn->n_deferred--;
	if (j->tokens)
		fn->tok_bytes -= ((uint64_t)j->n_tokens + 1) * sizeof(*j->tokens);
	free(j->tokens);
	free(j);
}

void emud_job_enqueue(struct emud_fn *fn, struct emud_ctx *c, struct emud_job *j)
{
	if (j->tokens)
		fn->tok_bytes += ((uint64_t)j->n_tokens + 1) * sizeof(*j->tokens);
	j->next = NULL;
	if (c->tail)
		c->tail->next = j;
	else
		c->head = j;
	c->tail = j;
	fn->qp[j->qp].inflight++;
}

/* Take the head job off its context: it is about to complete. */
static void job_pop(struct emud_fn *fn, struct emud_ctx *c, struct emud_job *j)
{
	struct emud_qp *qp = &fn->qp[j->qp];

	c->head = j->next;
	if (!c->head)
		c->tail = NULL;
	if (qp->inflight)
		qp->inflight--;
}

static void prefill_advance(struct emud_card *card, struct emud_job *j, uint32_t chunk);

static void job_complete(struct emud_fn *fn, struct emud_ctx *c, struct emud_job *j,
			 uint16_t status, uint16_t reason, uint32_t aux)
{
	struct hc_cqe cqe;

	if (c->fed) {	/* ended before its step: the chunk in the cache counts */
		prefill_advance(fn->card, j, c->fed);
		c->fed = 0;
	}
	cqe = (struct hc_cqe){
		.user_data = j->user_data,
		.ctx_id = c->id,
		.status = status,
		.reason = reason,
		.count = j->count,
		.pos = hc_kv_pos(c->kv),
		.aux = aux,
	};

	job_pop(fn, c, j);
	if (j->op == HC_OP_DECODE) {
		hc_ring_prod_wait_done(&j->stream);
		/* the job ends: a deferred wake-up has nothing left to wait for */
		if (j->wake_at && hc_ring_prod_need_wakeup(&j->stream))
			fn->irq_mask |= 1u << fn->qp[j->qp].irq_vector;
	}
	emud_post_cqe(fn, j->qp, &cqe);
	emud_job_free(fn, j);
}

/*
 * A job other than OK ends a linked PREFILL's chain (HC_SQE_F_LINK): the context's next job
 * completes CANCELLED without running, and so on while those are linked PREFILLs too; with
 * no next job queued yet, the next one submitted is (emud_sqe_submit).
 */
static void job_fail(struct emud_fn *fn, struct emud_ctx *c, struct emud_job *j,
		     uint16_t status, uint16_t reason, uint32_t aux)
{
	bool link = j->link;

	job_complete(fn, c, j, status, reason, aux);
	while (link && c->head) {
		j = c->head;
		link = j->link;
		job_complete(fn, c, j, HC_STATUS_CANCELLED, 0, 0);
	}
	if (link)
		c->link_broken = true;
}

uint32_t emud_ctx_cancel(struct emud_fn *fn, struct emud_ctx *c)
{
	struct emud_job *j;
	uint32_t n = 0;

	/* a sampled token not yet in the stream is dropped: c->logits are untouched */
	while ((j = c->head)) {
		/* the last job a linked PREFILL: the chain goes on to the next one submitted */
		if (!j->next && j->link)
			c->link_broken = true;
		job_complete(fn, c, j, HC_STATUS_CANCELLED, 0, 0);
		n++;
	}
	return n;
}

static void ctx_free(struct emud_fn *fn, uint32_t i)
{
	struct emud_ctx *c = fn->ctx[i];
	struct emud_job *j;

	while ((j = c->head)) {
		job_pop(fn, c, j);
		emud_job_free(fn, j);
	}
	fn->card->kv_reserved -= c->kv_bytes;
	hc_kv_free(c->kv);
	free(c->logits);
	free(c);
	fn->ctx[i] = NULL;
	fn->n_open--;
	fn->card->kv_in_use--;
	update_ctx_counts(fn);
}

void emud_ctx_close(struct emud_fn *fn, uint32_t id)
{
	struct emud_ctx *c = emud_ctx_get(fn, id);

	if (!c)
		return;
	emud_ctx_cancel(fn, c);
	ctx_free(fn, id - 1);
	if (fn->card->opt.verbose)
		emud_dbg("%s %u: context %u closed, %u KV slots in use", fn->ops->kind, fn->id, id,
			 fn->card->kv_in_use);
}

void emud_ctx_free_all(struct emud_fn *fn)
{
	uint32_t i, n = 0;

	for (i = 0; fn->ctx && i < fn->max_contexts; i++) {
		if (fn->ctx[i]) {
			ctx_free(fn, i);
			n++;
		}
	}
	if (n)
		emud_dbg("%s %u: freed %u contexts, %u KV slots in use", fn->ops->kind, fn->id, n,
			 fn->card->kv_in_use);
}

void emud_fn_unblock(struct emud_fn *fn)
{
	uint32_t i;

	for (i = 0; i < fn->max_contexts; i++)
		if (fn->ctx[i] && fn->ctx[i]->head)
			fn->ctx[i]->head->waiting = false;
}

/* A job that can make progress now: not paused on its ring, not holding a paced token. */
static bool job_ready(const struct emud_job *j, uint64_t now)
{
	return !j->waiting && !(j->paced && now < j->not_before);
}

bool emud_fn_runnable(const struct emud_fn *fn)
{
	const uint64_t now = fn->card->opt.pace ? emud_now_ns() : 0;
	uint32_t i;

	if (__atomic_load_n(&fn->stalled, __ATOMIC_RELAXED))
		return false;
	for (i = 0; i < fn->max_contexts; i++)
		if (fn->ctx[i] && fn->ctx[i]->head && job_ready(fn->ctx[i]->head, now))
			return true;
	return false;
}

uint64_t emud_sched_next_timer(const struct emud_card *card)
{
	const struct emud_fn *fn;
	uint64_t next = 0;
	uint32_t i;

	for (fn = card->fns; fn; fn = fn->next) {
		/* a stalled function shows nothing and raises nothing: a timer for its held
		 * token or due wake-up would fire again at once, for ever */
		if (__atomic_load_n(&fn->stalled, __ATOMIC_RELAXED))
			continue;
		for (i = 0; i < fn->max_contexts; i++) {
			const struct emud_job *j = fn->ctx[i] ? fn->ctx[i]->head : NULL;

			if (j && j->paced && !j->waiting && (!next || j->not_before < next))
				next = j->not_before;
			if (j && j->wake_at && (!next || j->wake_at < next))
				next = j->wake_at;
		}
	}
	return next;
}

/* hc_forward with the time counted as busy. */
static int forward(struct emud_card *card, struct emud_ctx *c, const int32_t *tok, uint32_t n,
		   float *logits)
{
	uint64_t t0 = emud_now_ns();
	int rc;

	__atomic_store_n(&card->in_forward, 1, __ATOMIC_RELAXED);
	rc = card->opt.null_model ? 0 : hc_forward(card->model, c->kv, tok, n, logits);
	__atomic_store_n(&card->in_forward, 0, __ATOMIC_RELAXED);

	emud_count(&card->cnt.busy_ns, emud_now_ns() - t0);
	return rc;
}

/*
 * A PREFILL's first step: the whole prompt must fit (all or nothing, a prompt that does not
 * fit changes nothing) and a pending token goes first. False when the job failed.
 */
static bool prefill_start(struct emud_fn *fn, struct emud_ctx *c, struct emud_job *j)
{
	uint32_t need;

	if (j->started)
		return true;
	need = j->n_tokens + (c->state == CTX_PENDING);
	if ((uint64_t)hc_kv_pos(c->kv) + need > hc_kv_capacity(c->kv)) {
		job_fail(fn, c, j, HC_STATUS_CONTEXT_FULL, 0, 0);
		return false;
	}
	j->off = 1;
	if (c->state == CTX_PENDING) {
		j->tokens[0] = c->pending;
		j->off = 0;
	}
	c->state = CTX_EMPTY;
	j->started = true;
	return true;
}

/*
 * The started PREFILL's next chunk: tokens from j->tokens + j->off; *last: the prompt's end.
 * With no context decoding (@idle) nobody waits for the round, so unless --prefill-chunk was
 * given a chunk is the model's whole pass: 128 tokens reuse each weight 4x as often as 32.
 */
static uint32_t prefill_left(const struct emud_job *j)
{
	return j->n_tokens + 1 - j->off;
}

static uint32_t prefill_chunk(const struct emud_card *card, const struct emud_job *j,
			      bool idle, bool *last)
{
	const uint32_t left = prefill_left(j);
	const uint32_t max = idle && !card->opt.prefill_chunk_set ? EMUD_IDLE_CHUNK
								   : card->opt.prefill_chunk;
	const uint32_t chunk = left < max ? left : max;

	*last = chunk == left;
	return chunk;
}

/* @chunk more tokens of the prompt are in the cache */
static void prefill_advance(struct emud_card *card, struct emud_job *j, uint32_t chunk)
{
	emud_count(&card->cnt.prompt_tokens, chunk - (j->off == 0));
	j->off += chunk;
	j->count = j->off - 1;
	j->passes++;
}

static void step_prefill(struct emud_fn *fn, struct emud_ctx *c, struct emud_job *j)
{
	struct emud_card *card = fn->card;
	uint32_t chunk;
	bool last;
	int rc;

	if (!prefill_start(fn, c, j))
		return;
	if (c->fed) {	/* this round's batched pass ran it */
		chunk = c->fed;
		last = chunk == prefill_left(j);
		c->fed = 0;
	} else {
		chunk = prefill_chunk(card, j, false, &last);
		rc = forward(card, c, j->tokens + j->off, chunk, last ? c->logits : NULL);
		if (rc < 0) {
			emud_err("%s %u: context %u: prefill failed: %s", fn->ops->kind, fn->id,
				 c->id, strerror(-rc));
			job_fail(fn, c, j, HC_STATUS_ERROR, HC_REASON_INTERNAL, HC_OP_PREFILL);
			return;
		}
	}
	prefill_advance(card, j, chunk);
	if (last) {
		emud_dbg("%s %u: context %u: prefilled %u tokens in %u passes, %u shared",
			 fn->ops->kind, fn->id, c->id, j->count, j->passes, j->shared);
		c->state = CTX_LOGITS;
		job_complete(fn, c, j, HC_STATUS_OK, 0, 0);
	}
}

static bool is_stop(const struct emud_job *j, int32_t t)
{
	uint32_t i;

	for (i = 0; i < j->n_stop; i++)
		if ((uint32_t)t == j->stop[i])
			return true;
	return false;
}

static void token_shown(struct emud_fn *fn)
{
	emud_count(&fn->card->cnt.tokens_generated, 1);
	if (fn->stall_after && --fn->stall_after == 0) {
		/* TEST ONLY fault: hang mid-decode */
		__atomic_store_n(&fn->stalled, 1, __ATOMIC_RELAXED);
		hc_ring_store(&fn->regs->fault_state.stalled, 1);
		emud_log("%s %u: fault: stalled mid-decode", fn->ops->kind, fn->id);
	}
}

static void step_decode(struct emud_fn *fn, struct emud_ctx *c, struct emud_job *j)
{
	struct emud_card *card = fn->card;
	uint32_t vocab = card->arch->vocab_size;
	int space, rc;

	if (!j->started) {
		if (c->state == CTX_EMPTY) {
			emud_fn_log_bad(fn, &(struct hc_sqe){ .opcode = HC_OP_DECODE,
				.ctx_id = c->id, .user_data = j->user_data }, HC_REASON_BAD_STATE,
				"DECODE with nothing to continue from (no PREFILL)");
			job_complete(fn, c, j, HC_STATUS_ERROR, HC_REASON_BAD_STATE, HC_OP_DECODE);
			return;
		}
		hc_ring_prod_sync(&j->stream);
		j->started = true;
		j->not_before = emud_now_ns();
	}
	if (c->state == CTX_PENDING) {
		rc = forward(card, c, &c->pending, 1, c->logits);
		if (rc == -ENOSPC) {
			job_complete(fn, c, j, HC_STATUS_CONTEXT_FULL, 0, 0);
			return;
		}
		if (rc < 0) {
			emud_err("%s %u: context %u: decode failed: %s", fn->ops->kind, fn->id,
				 c->id, strerror(-rc));
			job_complete(fn, c, j, HC_STATUS_ERROR, HC_REASON_INTERNAL, HC_OP_DECODE);
			return;
		}
		c->state = CTX_LOGITS;
	}
	if (!j->have_tok) {
		if (card->opt.null_model) {
			j->tok = emud_null_token(j->step_base + j->count, vocab);
		} else {
			j->tok = hc_sample(c->logits, vocab, &j->samp, j->step_base + j->count,
					   card->prob);
		}
		if (j->tok < 0 || (uint32_t)j->tok >= vocab) {
			emud_err("%s %u: context %u: sampler returned id %d", fn->ops->kind, fn->id,
				 c->id, j->tok);
			job_complete(fn, c, j, HC_STATUS_ERROR, HC_REASON_INTERNAL, HC_OP_DECODE);
			return;
		}
		if (is_stop(j, j->tok)) {
			c->state = CTX_PENDING;
			c->pending = j->tok;
			job_complete(fn, c, j, HC_STATUS_DONE_STOP_TOKEN, 0, (uint32_t)j->tok);
			return;
		}
		j->have_tok = true;
	}
	if (card->opt.pace) {
		/* the card's timing model: a context shows at most --pace tokens per second */
		const uint64_t now = emud_now_ns();

		j->paced = now < j->not_before;
		if (j->paced)
			return;
	}
	space = hc_ring_prod_space(&j->stream);
	if (space == 0)
		space = hc_ring_prod_wait_prepare(&j->stream);
	if (space < 0) {
		emud_fn_log_bad(fn, &(struct hc_sqe){ .opcode = HC_OP_DECODE, .ctx_id = c->id,
			.user_data = j->user_data }, HC_REASON_BAD_RING,
			"stream ring head inconsistent with tail");
		job_complete(fn, c, j, HC_STATUS_ERROR, HC_REASON_BAD_RING, HC_OP_DECODE);
		return;
	}
	if (space == 0) {
		j->waiting = true;	/* paused until the host frees space and rings */
		return;
	}
	hc_ring_prod_wait_done(&j->stream);
	hc_ring_store(hc_stream_entry(&j->stream, j->stream.local), (uint32_t)j->tok);
	hc_ring_prod_publish(&j->stream, 1);
	if (hc_ring_prod_need_wakeup(&j->stream))
		emud_fn_stream_wakeup(fn, j);
	j->have_tok = false;
	if (card->opt.pace) {
		const uint64_t now = emud_now_ns(), gap = 1000000000ull / card->opt.pace;

		/* one interval after the last, or after now when the model fell behind */
		j->not_before = j->not_before + gap > now ? j->not_before + gap : now;
	}
	j->count++;
	c->state = CTX_PENDING;
	c->pending = j->tok;
	token_shown(fn);
	if (j->count == j->max_tokens)
		job_complete(fn, c, j, HC_STATUS_DONE_MAX_TOKENS, 0, 0);
}

static void step(struct emud_fn *fn, struct emud_ctx *c)
{
	struct emud_job *j = c->head;
	bool linked;

	switch (j->op) {
	case HC_OP_PREFILL:
		linked = j->link;
		step_prefill(fn, c, j);
		/* the prompt is in: the DECODE linked behind it shows its first token (sampled
		 * from the prompt's logits) in this round too, so that one interrupt brings the
		 * host the prefill's completion and the first token, not one each */
		if (linked && c->state == CTX_LOGITS && c->head && c->head->op == HC_OP_DECODE &&
		    !c->head->started)
			step_decode(fn, c, c->head);
		break;
	case HC_OP_DECODE:
		step_decode(fn, c, j);
		break;
	case HC_OP_RESET_CONTEXT:
		hc_kv_reset(c->kv);
		c->state = CTX_EMPTY;
		job_complete(fn, c, j, HC_STATUS_OK, 0, 0);
		break;
	default:
		job_complete(fn, c, j, HC_STATUS_ERROR, HC_REASON_INTERNAL, j->op);
		break;
	}
}

/*
 * One hc_forward_items of @n contexts, counted as busy: decoders' pending tokens, then they
 * have logits; prompt chunks, left for the context's step to account (c->fed). On an error
 * nothing ran: each context's own step runs it, and reports what fails.
 */
static void feed_pass(struct emud_card *card, struct emud_ctx **cs,
		      const struct hc_fwd_item *it, uint32_t n)
{
	uint64_t t0 = emud_now_ns();
	int rc;

	__atomic_store_n(&card->in_forward, 1, __ATOMIC_RELAXED);
	rc = hc_forward_items(card->model, it, n);
	__atomic_store_n(&card->in_forward, 0, __ATOMIC_RELAXED);
	emud_count(&card->cnt.busy_ns, emud_now_ns() - t0);
	if (rc < 0)
		return;
	for (uint32_t i = 0; i < n; i++) {
		if (cs[i]->head->op == HC_OP_PREFILL) {
			cs[i]->fed = it[i].n;
			cs[i]->head->shared += n > 1;
		} else {
			cs[i]->state = CTX_LOGITS;
		}
	}
}

/*
 * Feed, in passes of up to EMUD_BATCH contexts, everything this round's steps would run
 * through the model: a DECODE that is not paused, with a shown token pending and room in its
 * cache (a full one is step_decode's CONTEXT_FULL), and the next chunk of a PREFILL (whose
 * start checks run here), a longer one when no context has a DECODE to run.
 */
static void feed_round(struct emud_card *card)
{
	struct hc_fwd_item it[EMUD_BATCH];
	struct emud_ctx *cs[EMUD_BATCH];
	struct emud_fn *fn;
	uint32_t n = 0, i;
	bool idle = true;

	if (card->opt.null_model)
		return;
	for (fn = card->fns; fn && idle; fn = fn->next)
		for (i = 0; i < fn->max_contexts && idle; i++)
			idle = !fn->ctx[i] || !fn->ctx[i]->head ||
			       fn->ctx[i]->head->op != HC_OP_DECODE;
	for (fn = card->fns; fn; fn = fn->next) {
		if (__atomic_load_n(&fn->stalled, __ATOMIC_RELAXED))
			continue;
		for (i = 0; i < fn->max_contexts; i++) {
			struct emud_ctx *c = fn->ctx[i];
			struct emud_job *j = c ? c->head : NULL;
			bool last;

			if (!j || c->fed)
				continue;
			if (j->op == HC_OP_DECODE) {
				if (j->waiting || c->state != CTX_PENDING ||
				    hc_kv_pos(c->kv) >= hc_kv_capacity(c->kv))
					continue;
				it[n] = (struct hc_fwd_item){ c->kv, &c->pending, 1, c->logits };
			} else if (j->op == HC_OP_PREFILL) {
				if (!prefill_start(fn, c, j))
					continue;
				it[n] = (struct hc_fwd_item){ c->kv, j->tokens + j->off, 0, NULL };
				it[n].n = prefill_chunk(card, j, idle, &last);
				it[n].logits = last ? c->logits : NULL;
			} else {
				continue;
			}
			cs[n++] = c;
			if (n == EMUD_BATCH) {
				feed_pass(card, cs, it, n);
				n = 0;
			}
		}
	}
	if (n)
		feed_pass(card, cs, it, n);
}

bool emud_sched_round(struct emud_card *card)
{
	const uint64_t now = card->opt.pace ? emud_now_ns() : 0;
	struct emud_fn *fn;
	bool ran = false;
	uint32_t i;

	feed_round(card);

	for (fn = card->fns; fn; fn = fn->next) {
		for (i = 0; i < fn->max_contexts; i++) {
			struct emud_ctx *c = fn->ctx[i];

			if (__atomic_load_n(&fn->stalled, __ATOMIC_RELAXED))
				break;
			if (!c || !c->head || !job_ready(c->head, now))
				continue;
			step(fn, c);
			ran = true;
		}
	}
	return ran;
}
