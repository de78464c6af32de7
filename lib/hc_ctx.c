// SPDX-License-Identifier: MIT
/* Contexts: one KV slot on the card each; prefill, decode, cancel, reset. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include "hc_internal.h"
#include "tokenizer.h"

static void ctx_track(struct hc_ctx *ctx, const struct hc_cqe *cqe)
{
	ctx->pos = cqe->pos;
}

int hc_ctx_create(struct hc_card *card, struct hc_ctx **out)
{
	struct hc_ctx *ctx;
	int ret;

	if (!card || !out)
		return -EINVAL;
	ctx = calloc(1, sizeof(*ctx));
	if (!ctx)
		return -ENOMEM;
	ctx->card = card;
	ret = card->ops->ctx_open(card, ctx);
	if (ret) {
		free(ctx);
		return ret;
	}
	ctx->pos = 0;
	pthread_mutex_lock(&card->lock);
	ctx->next = card->ctxs;
	card->ctxs = ctx;
	pthread_mutex_unlock(&card->lock);
	*out = ctx;
	return 0;
}

static void streams_free_all(struct hc_ctx *ctx)
{
	while (ctx->streams)
		hc_stream_free(&ctx->streams->pub);
}

void hc_ctx_destroy(struct hc_ctx *ctx)
{
	struct hc_card *card;
	struct hc_ctx **pp;

	if (!ctx)
		return;
	card = ctx->card;
	/* closing cancels the running decode (its CQE arrives first) and frees the KV slot */
	card->ops->ctx_close(card, ctx);
	streams_free_all(ctx);
	pthread_mutex_lock(&card->lock);
	for (pp = &card->ctxs; *pp; pp = &(*pp)->next)
		if (*pp == ctx) {
			*pp = ctx->next;
			break;
		}
	pthread_mutex_unlock(&card->lock);
	if (ctx->uring)
		hc__uring_free(ctx->uring);
	free(ctx);
}

uint32_t hc_ctx_position(const struct hc_ctx *ctx)
{
	return ctx ? ctx->pos : 0;
}

/* Reap, so a decode that already completed no longer counts as running. */
static int ctx_busy(struct hc_ctx *ctx)
{
	int busy;

	if (!ctx->running)
		return 0;
	hc__reap(ctx->card, ctx->qp);
	pthread_mutex_lock(&ctx->qp->lock);
	busy = !ctx->running->ended;
	pthread_mutex_unlock(&ctx->qp->lock);
	if (!busy)
		ctx->running = NULL;
	return busy;
}

/* A prompt of @n ids for @ctx: each in the vocabulary, no decode running, room for all. */
static int prompt_check(struct hc_ctx *ctx, const int32_t *ids, size_t n)
{
	const struct hc_card *card = ctx->card;
	size_t i;

	for (i = 0; i < n; i++)
		if (ids[i] < 0 || (uint32_t)ids[i] >= card->info.vocab_size)
			return -EINVAL;
	if (ctx_busy(ctx))
		return -EBUSY;
	/* All or nothing: the card checks each PREFILL, we check the whole prompt first. */
	if ((uint64_t)ctx->pos + ctx->pending + n > card->info.max_ctx)
		return -ENOSPC;
	return 0;
}

int hc_ctx_prefill_tokens(struct hc_ctx *ctx, const int32_t *ids, size_t n)
{
	struct hc_card *card;
	struct hc_sqe sqe;
	struct hc_cqe cqe;
	uint64_t cookie, bytes;
	uint32_t *dst;
	size_t i, done = 0;
	uint32_t chunk, max;
	int ret = 0;

	if (!ctx || !ids || !n)
		return -EINVAL;
	card = ctx->card;
	ret = prompt_check(ctx, ids, n);
	if (ret)
		return ret;
	max = card->max_prefill ? card->max_prefill : 1;
	chunk = n < max ? (uint32_t)n : max;
	bytes = (uint64_t)chunk * sizeof(uint32_t);
	ret = card->ops->buf_alloc(card, HC_BUF_PROMPT, bytes, &cookie, (void **)&dst);
	if (ret)
		return ret;
	while (done < n) {
		uint32_t k = n - done < chunk ? (uint32_t)(n - done) : chunk;

		for (i = 0; i < k; i++)
			dst[i] = (uint32_t)ids[done + i];
		memset(&sqe, 0, sizeof(sqe));
		sqe.opcode = HC_OP_PREFILL;
		sqe.ctx_id = ctx->id;
		sqe.prefill.tokens_offset = cookie;
		sqe.prefill.n_tokens = k;
		ret = hc__exec(card, ctx->qp, &sqe, &cqe);
		if (!ret)
			ret = hc__status_errno(&cqe);
		if (ret)
			break;
		ctx_track(ctx, &cqe);
		ctx->pending = 0;
		ctx->has_logits = 1;
		done += k;
	}
	card->ops->buf_free(card, HC_BUF_PROMPT, cookie, dst, bytes);
	return ret;
}

int hc_ctx_prefill_text(struct hc_ctx *ctx, const char *text, size_t len, unsigned flags)
{
	int32_t stack[256], *ids = stack;
	size_t n = 0;
	int ret;

	if (!ctx)
		return -EINVAL;
	if (!ctx->card->tok)
		return -EOPNOTSUPP;
	ret = hc_tokenize(ctx->card, text, len, flags, ids, 256, &n);
	if (ret == -ENOSPC) {
		ids = malloc(n * sizeof(*ids));
		if (!ids)
			return -ENOMEM;
		ret = hc_tokenize(ctx->card, text, len, flags, ids, n, &n);
	}
	if (!ret)
		ret = n ? hc_ctx_prefill_tokens(ctx, ids, n) : 0;
	if (ids != stack)
		free(ids);
	return ret;
}

int hc_ctx_prefill_chat(struct hc_ctx *ctx, const struct hc_message *msgs, size_t n_msgs,
			int add_generation_prompt)
{
	int32_t stack[512], *ids = stack;
	size_t n = 0, skip = 0;
	int32_t bos;
	int ret;

	if (!ctx)
		return -EINVAL;
	if (!ctx->card->tok)
		return -EOPNOTSUPP;
	ret = hc_chat_tokenize(ctx->card, msgs, n_msgs, add_generation_prompt, ids, 512, &n);
	if (ret == -ENOSPC) {
		ids = malloc(n * sizeof(*ids));
		if (!ids)
			return -ENOMEM;
		ret = hc_chat_tokenize(ctx->card, msgs, n_msgs, add_generation_prompt, ids, n,
				       &n);
	}
	/* Continuing a kept history: BOS only once, at position 0. */
	bos = hc_tok_bos(ctx->card->tok);
	if (!ret && n && (ctx->pos || ctx->pending) && bos >= 0 && ids[0] == bos)
		skip = 1;
	if (!ret && n > skip)
		ret = hc_ctx_prefill_tokens(ctx, ids + skip, n - skip);
	if (ids != stack)
		free(ids);
	return ret;
}

int hc_ctx_cancel(struct hc_ctx *ctx)
{
	if (!ctx)
		return -EINVAL;
	if (!ctx_busy(ctx))
		return 0;
	return ctx->card->ops->cancel(ctx->card, ctx);
}

int hc_ctx_reset(struct hc_ctx *ctx)
{
	struct hc_sqe sqe = { .opcode = HC_OP_RESET_CONTEXT };
	struct hc_cqe cqe;
	int ret;

	if (!ctx)
		return -EINVAL;
	if (ctx_busy(ctx)) {
		struct hc_stream_impl *si = ctx->running;

		ret = hc_ctx_cancel(ctx);
		if (ret)
			return ret;
		ret = hc__wait_op(ctx->card, ctx->qp, &si->op, -1);
		if (ret)
			return ret;
		ctx->running = NULL;
	}
	sqe.ctx_id = ctx->id;
	ret = hc__exec(ctx->card, ctx->qp, &sqe, &cqe);
	if (!ret)
		ret = hc__status_errno(&cqe);
	if (!ret) {
		ctx->pos = 0;
		ctx->pending = 0;
		ctx->has_logits = 0;
		ctx->generated = 0;
	}
	return ret;
}

static int f32_bits(float f, uint32_t *out)
{
	memcpy(out, &f, sizeof(*out));
	return 0;
}

/* The parameters of a decode, checked; *@entries: its stream ring's size. */
static int decode_params_check(const struct hc_card *card, const struct hc_decode_params *p,
			       uint32_t *out_entries)
{
	uint32_t entries, i;

	if (!p->max_tokens || p->n_stop > HC_MAX_STOP_IDS ||
	    p->latency_budget_us > HC_MAX_LATENCY_BUDGET_US ||
	    !(p->temperature >= 0) || !(p->top_p >= 0) || p->temperature > 1e30f ||
	    p->top_p > 1e30f)
		return -EINVAL;
	for (i = 0; i < p->n_stop; i++)
		if (p->stop_ids[i] < 0 || (uint32_t)p->stop_ids[i] >= card->info.vocab_size)
			return -EINVAL;
	entries = p->ring_entries;
	if (entries && (entries & (entries - 1)))
		return -EINVAL;
	if (!entries) {
		entries = HC_STREAM_DEFAULT;
		while (entries / 2 >= p->max_tokens && entries > 64)
			entries /= 2;
	}
	if (entries > card->max_stream_entries) {
		if (p->ring_entries)
			return -EINVAL;
		entries = card->max_stream_entries;
		while (entries & (entries - 1))
			entries &= entries - 1;
	}
	*out_entries = entries;
	return 0;
}

/* A new stream of @entries for a decode of @p on @ctx, and its DECODE SQE (not submitted). */
static int stream_new(struct hc_ctx *ctx, const struct hc_decode_params *p, uint32_t entries,
		      struct hc_stream_impl **out, struct hc_sqe *sqe)
{
	struct hc_card *card = ctx->card;
	struct hc_stream_impl *si;
	uint32_t i;
	int ret;

	si = calloc(1, sizeof(*si));
	if (!si)
		return -ENOMEM;
	si->ctx = ctx;
	si->poll_fd = -1;
	si->max_tokens = p->max_tokens;
	si->budget_us = p->latency_budget_us;
	/* the card (through the driver: drm_hc_info.caps) says it can defer the wake-up */
	si->card_defers = hc__wakeup_defer_us(si->budget_us) &&
			  (card->info.capabilities & HC_CAP_WAKEUP_DELAY);
	si->ring_bytes = HC_RING_BYTES(entries, sizeof(uint32_t));
	ret = card->ops->buf_alloc(card, HC_BUF_STREAM, si->ring_bytes, &si->ring_cookie,
				   (void **)&si->hdr);
	if (ret) {
		free(si);
		return ret;
	}
	memset(si->hdr, 0, HC_RING_HDR_SIZE);
	si->pub.ktail = &si->hdr->tail;
	si->pub.khead = &si->hdr->head;
	si->pub.kflags = &si->hdr->producer_flags;
	si->pub.entries = (const uint32_t *)((uint8_t *)si->hdr + HC_RING_HDR_SIZE);
	si->pub.mask = entries - 1;
	si->pub.card_waiting = HC_STREAM_CARD_WAITING;
	si->pub.priv = si;
	si->op.stream = si;
	si->st.state = HC_STREAM_RUNNING;
	si->st.stop_id = -1;

	memset(sqe, 0, sizeof(*sqe));
	sqe->opcode = HC_OP_DECODE;
	sqe->ctx_id = ctx->id;
	sqe->decode.stream_offset = si->ring_cookie;
	sqe->decode.stream_entries = entries;
	sqe->decode.max_tokens = p->max_tokens;
	f32_bits(p->temperature, &sqe->decode.temperature);
	f32_bits(p->top_p, &sqe->decode.top_p);
	sqe->decode.top_k = p->top_k;
	sqe->decode.n_stop = p->n_stop;
	sqe->decode.seed = p->seed;
	sqe->decode.step_base = p->step_base;
	for (i = 0; i < p->n_stop; i++)
		sqe->decode.stop[i] = (uint32_t)p->stop_ids[i];
	if (si->card_defers) {
		/* the card defers the stream's interrupt by up to the budget less the wake-up's
		 * own time, or until half the ring waits (so that the context does not pause on
		 * a full ring meanwhile) */
		sqe->decode.wakeup_usec = hc__wakeup_defer_us(si->budget_us);
		sqe->decode.wakeup_tokens = entries / 2;
	}
	*out = si;
	return 0;
}

static void stream_discard(struct hc_stream_impl *si)
{
	struct hc_card *card = si->ctx->card;

	if (si->prompt)
		card->ops->buf_free(card, HC_BUF_PROMPT, si->prompt_cookie, si->prompt,
				    si->prompt_bytes);
	card->ops->buf_free(card, HC_BUF_STREAM, si->ring_cookie, si->hdr, si->ring_bytes);
	free(si);
}

/* The decode was submitted: the context's running stream. */
static void stream_commit(struct hc_ctx *ctx, struct hc_stream_impl *si, struct hc_stream **out)
{
	si->next = ctx->streams;
	ctx->streams = si;
	ctx->running = si;
	*out = &si->pub;
}

int hc_ctx_decode(struct hc_ctx *ctx, const struct hc_decode_params *p, struct hc_stream **out)
{
	struct hc_stream_impl *si;
	struct hc_sqe sqe;
	uint32_t entries;
	int ret;

	if (!ctx || !p || !out)
		return -EINVAL;
	ret = decode_params_check(ctx->card, p, &entries);
	if (ret)
		return ret;
	if (ctx_busy(ctx))
		return -EBUSY;
	if (!ctx->has_logits && !ctx->pending)
		return -EINVAL;	/* nothing to continue from: prefill first */
	ret = stream_new(ctx, p, entries, &si, &sqe);
	if (ret)
		return ret;
	ret = hc__submit(ctx->card, ctx->qp, &sqe, &si->op);
	if (ret) {
		stream_discard(si);
		return ret;
	}
	stream_commit(ctx, si, out);
	return 0;
}

int hc_ctx_generate(struct hc_ctx *ctx, const int32_t *ids, size_t n,
		    const struct hc_decode_params *p, struct hc_stream **out)
{
	struct hc_stream_impl *si;
	struct hc_card *card;
	struct hc_sqe sqe[2];
	struct hc_op *op[2];
	uint32_t entries, max;
	size_t head, i;
	int ret;

	if (!ctx || !ids || !n || !p || !out)
		return -EINVAL;
	card = ctx->card;
	ret = decode_params_check(card, p, &entries);
	if (!ret)
		ret = prompt_check(ctx, ids, n);
	if (ret)
		return ret;
	max = card->max_prefill ? card->max_prefill : 1;
	/* the card cannot link (the kernel driver does not pass HC_CAP_LINK on): two round
	 * trips, the same tokens */
	if (!(card->info.capabilities & HC_CAP_LINK) || !card->ops->push_n) {
		ret = hc_ctx_prefill_tokens(ctx, ids, n);
		return ret ? ret : hc_ctx_decode(ctx, p, out);
	}
	/* a prompt longer than one PREFILL: all but its last one first (below) */
	head = n > max ? n - (n - 1) % max - 1 : 0;
	ret = stream_new(ctx, p, entries, &si, &sqe[1]);
	if (ret)
		return ret;
	si->prompt_bytes = (uint64_t)(n - head) * sizeof(uint32_t);
	ret = card->ops->buf_alloc(card, HC_BUF_PROMPT, si->prompt_bytes, &si->prompt_cookie,
				   &si->prompt);
	if (ret) {
		si->prompt = NULL;
		stream_discard(si);
		return ret;
	}
	/* memory in hand, so nothing fails for want of it once the card has part of the prompt */
	if (head) {
		ret = hc_ctx_prefill_tokens(ctx, ids, head);
		if (ret) {
			stream_discard(si);
			return ret;
		}
	}
	for (i = head; i < n; i++)
		((uint32_t *)si->prompt)[i - head] = (uint32_t)ids[i];
	memset(&sqe[0], 0, sizeof(sqe[0]));
	sqe[0].opcode = HC_OP_PREFILL;
	sqe[0].flags = HC_SQE_F_LINK;
	sqe[0].ctx_id = ctx->id;
	sqe[0].prefill.tokens_offset = si->prompt_cookie;
	sqe[0].prefill.n_tokens = (uint32_t)(n - head);
	si->prefill_op.linked = si;
	op[0] = &si->prefill_op;
	op[1] = &si->op;
	ret = hc__submit_linked(card, ctx->qp, sqe, op);
	if (ret) {
		stream_discard(si);
		return ret;
	}
	/* as hc_ctx_prefill_tokens leaves it; the completions say what the card did */
	ctx->pending = 0;
	ctx->has_logits = 1;
	stream_commit(ctx, si, out);
	return 0;
}
