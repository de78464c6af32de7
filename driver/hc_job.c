// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * hc_accel: job submission and completion.
 *
 * SUBMIT takes entries from the context's submission ring (process memory): each entry is
 * copied to the kernel stack first and only the copy is validated and translated (no
 * time-of-check/time-of-use window), then written into the card's SQ, tail store-released,
 * and one doorbell rung for the batch. Completions come back on the card's CQ; the driver
 * matches them by its own job id, writes the process's completion into the context's
 * completion ring and wakes waiters.
 */
#include <linux/hrtimer.h>
#include <linux/ktime.h>
#include <linux/sched/signal.h>
#include <linux/slab.h>
#include <linux/uaccess.h>
#include <drm/drm_drv.h>

#include "hc_hw.h"
#include "hc_job.h"

/* A job of @hfile went onto the card (@begin) or left it. Completions may come from the
 * interrupt path, hence irqsave. */
void hc_file_busy(struct hc_file *hfile, bool begin)
{
	ktime_t now = ktime_get();
	unsigned long flags;

	spin_lock_irqsave(&hfile->busy_lock, flags);
	if (begin) {
		if (!hfile->busy_jobs++)
			hfile->busy_since = now;
	} else if (hfile->busy_jobs && !--hfile->busy_jobs) {
		hfile->busy_ns += ktime_to_ns(ktime_sub(now, hfile->busy_since));
	}
	spin_unlock_irqrestore(&hfile->busy_lock, flags);
}

/* The busy time so far, the interval in progress included. */
u64 hc_file_busy_ns(struct hc_file *hfile)
{
	unsigned long flags;
	u64 ns;

	spin_lock_irqsave(&hfile->busy_lock, flags);
	ns = hfile->busy_ns;
	if (hfile->busy_jobs)
		ns += ktime_to_ns(ktime_sub(ktime_get(), hfile->busy_since));
	spin_unlock_irqrestore(&hfile->busy_lock, flags);
	return ns;
}

static bool hc_job_is_user(const struct hc_job *job)
{
	return job->ctx && !job->internal;
}

/*
 * Put @job on the card's SQ (no doorbell yet); the caller holds reset_lock (read). On success
 * the job belongs to the CQ path. The job appears in hdev->jobs in the same sq_lock section
 * that publishes its SQE: nobody (completion, abort, timeout walk) ever sees a job that is not
 * on the card, and a failure here leaves no trace to undo.
 */
int hc_job_queue(struct hc_device *hdev, struct hc_job *job, struct hc_sqe *sqe)
{
	bool user = hc_job_is_user(job);
	void *curr;
	int space, ret;
	u32 id;

	lockdep_assert_held(&hdev->reset_lock);
	if (READ_ONCE(hdev->dead))
		return -EIO;
	if (atomic_inc_return(&hdev->inflight) > hdev->cq_entries) {
		ret = -EBUSY;
		goto undo_inflight;
	}
	if (user && atomic_inc_return(&hdev->user_inflight) >
		    hdev->cq_entries - HC_INTERNAL_SLOTS) {
		ret = -EBUSY;
		goto undo_user;
	}
	/* Reserve the id only (a NULL entry: xa_load() and xa_for_each() do not see it). */
	ret = xa_alloc_cyclic(&hdev->jobs, &id, NULL, xa_limit_32b, &hdev->next_job_id,
			      GFP_KERNEL);
	if (ret < 0)
		goto undo_user;
	job->id = id;
	job->queued_at = jiffies;
	sqe->user_data = id;

	spin_lock(&hdev->sq_lock);
	space = hc_ring_prod_space(&hdev->sq);
	/* SQ entries too are kept for the driver's own jobs: a card slow to take its SQ (or a
	 * stalled one) must not let processes' jobs fill it to the last entry. */
	if (space <= (user ? HC_INTERNAL_SLOTS : 0)) {
		spin_unlock(&hdev->sq_lock);
		xa_release(&hdev->jobs, id);
		ret = space < 0 ? -EIO : -EBUSY;
		goto undo_user;
	}
	/*
	 * Fills the reserved slot, which nobody else touches (the CQ path erases only ids it
	 * finds a job at): no allocation. (Not xa_cmpxchg(NULL): newer kernels do not match a
	 * reserved entry with NULL.)
	 */
	curr = xa_store(&hdev->jobs, id, job, GFP_ATOMIC);
	if (xa_is_err(curr)) {
		spin_unlock(&hdev->sq_lock);
		xa_release(&hdev->jobs, id);
		ret = xa_err(curr);
		goto undo_user;
	}
	if (user) {
		job->busy = true;
		hc_file_busy(job->ctx->hfile, true);
	}
	memcpy(hc_ring_prod_entry(&hdev->sq, 0), sqe, sizeof(*sqe));
	hc_ring_prod_publish(&hdev->sq, 1);
	hdev->queued_gen++;
	spin_unlock(&hdev->sq_lock);
	return 0;

undo_user:
	if (user)
		atomic_dec(&hdev->user_inflight);
undo_inflight:
	atomic_dec(&hdev->inflight);
	return ret;
}

/* Tell the card about newly queued jobs and watch them for hangs. */
void hc_job_kick(struct hc_device *hdev)
{
	int idx;

	/* Also called outside ioctls (file release): never touch a device being removed. */
	if (!drm_dev_enter(&hdev->drm, &idx))
		return;
	hc_hw_doorbell(hdev, HC_DOORBELL_QP(HC_QP));
	hc_recovery_arm(hdev);
	hc_irq_poll_kick(hdev);
	drm_dev_exit(idx);
}

static void hc_job_release(struct hc_device *hdev, struct hc_job *job)
{
	if (job->stream)
		hc_bo_put(job->stream);
	hc_mem_free(hdev, &job->prompt);
	hc_quota_uncharge(&job->charge);
	if (job->ctx)
		hc_ctx_put(job->ctx);
	kfree(job);
}

static void hc_job_orphan_done(struct hc_device *hdev, struct hc_job *job,
			       const struct hc_cqe *cqe);

/* Deliver @cqe for @job, which the caller has removed from hdev->jobs (and so owns). */
void hc_job_complete(struct hc_device *hdev, struct hc_job *job, const struct hc_cqe *cqe)
{
	atomic_dec(&hdev->inflight);
	if (hc_job_is_user(job))
		atomic_dec(&hdev->user_inflight);
	if (job->internal) {
		if (job->orphan) {
			hc_job_orphan_done(hdev, job, cqe);
			return;
		}
		job->cqe = *cqe;
		complete(&job->done);	/* the waiter frees it */
		return;
	}
	if (job->ctx) {
		struct hc_file *hfile = job->ctx->hfile;

		hc_ctx_post_cqe(job->ctx, job->user_data, cqe);
		if (job->busy)
			hc_file_busy(hfile, false);
		atomic64_inc(&hfile->jobs_completed);
		if (job->opcode == HC_OP_DECODE)
			atomic64_add(cqe->count, &hfile->tokens);
		else if (job->opcode == HC_OP_PREFILL)
			atomic64_add(cqe->count, &hfile->prompt_tokens);
	}
	hc_job_release(hdev, job);
}

/*
 * A CONTEXT_OPEN whose waiter was killed. If the card opened the context, nobody knows its
 * id: orphan_work closes it (fire and forget), unless a reset closes it first (the reset
 * generation it was opened in is kept with it). Called under cq_lock.
 */
struct hc_orphan {
	struct list_head node;
	u32 card_id;
	u32 gen;
};

static void hc_job_orphan_done(struct hc_device *hdev, struct hc_job *job,
			       const struct hc_cqe *cqe)
{
	struct hc_orphan *o;

	if (cqe->status == HC_STATUS_OK && job->opcode == HC_OP_CONTEXT_OPEN) {
		o = kzalloc(sizeof(*o), GFP_ATOMIC);
		if (o) {
			o->card_id = cqe->ctx_id;
			o->gen = hdev->reset_gen;	/* stable under cq_lock */
			spin_lock(&hdev->orphan_lock);
			list_add_tail(&o->node, &hdev->orphans);
			spin_unlock(&hdev->orphan_lock);
			schedule_work(&hdev->orphan_work);
		} else {
			drm_err(&hdev->drm, "card context %u of a killed CTX_CREATE leaks\n",
				cqe->ctx_id);
		}
	}
	kfree(job);
}

static void hc_job_orphan_work(struct work_struct *work)
{
	struct hc_device *hdev = container_of(work, struct hc_device, orphan_work);
	struct hc_orphan *o;
	bool reset = false;

	for (;;) {
		spin_lock(&hdev->orphan_lock);
		o = list_first_entry_or_null(&hdev->orphans, struct hc_orphan, node);
		if (o)
			list_del(&o->node);
		spin_unlock(&hdev->orphan_lock);
		if (!o)
			break;
		down_read(&hdev->reset_lock);
		if (o->gen == hdev->reset_gen && !hdev->dead) {
			struct hc_sqe sqe = { .opcode = HC_OP_CONTEXT_CLOSE, .ctx_id = o->card_id };
			struct hc_job *job = kzalloc(sizeof(*job), GFP_KERNEL);

			/* fire and forget, as CANCEL: the CQ path frees it */
			if (job) {
				job->opcode = HC_OP_CONTEXT_CLOSE;
				if (hc_job_queue(hdev, job, &sqe)) {
					kfree(job);
					reset = true;
				}
			} else {
				reset = true;
			}
		}
		up_read(&hdev->reset_lock);
		kfree(o);
	}
	hc_job_kick(hdev);
	if (reset)	/* the close could not be queued: a reset frees the slot */
		hc_recover(hdev, "closing a killed creator's context failed");
}

void hc_job_orphans_init(struct hc_device *hdev)
{
	spin_lock_init(&hdev->orphan_lock);
	INIT_LIST_HEAD(&hdev->orphans);
	INIT_WORK(&hdev->orphan_work, hc_job_orphan_work);
}

/* At remove, after the card was reset (which closed every context): drop what is left. */
void hc_job_orphans_fini(struct hc_device *hdev)
{
	struct hc_orphan *o, *tmp;

	cancel_work_sync(&hdev->orphan_work);
	list_for_each_entry_safe(o, tmp, &hdev->orphans, node)
		kfree(o);
	INIT_LIST_HEAD(&hdev->orphans);
}

/* Complete @job (owned by the caller) with a driver-made error. */
void hc_job_fail(struct hc_device *hdev, struct hc_job *job, u16 reason)
{
	struct hc_cqe cqe = {
		.user_data = job->id,
		.status = HC_STATUS_ERROR,
		.reason = reason,
		.aux = job->opcode,
	};

	hc_job_complete(hdev, job, &cqe);
}

/*
 * Fail every job in flight (of context @only, or all); the card must no longer run them.
 * The caller holds cq_lock, as every taker of jobs out of hdev->jobs does.
 */
void hc_job_abort_all(struct hc_device *hdev, struct hc_ctx *only, u16 reason)
{
	struct hc_job *job;
	unsigned long id;

	lockdep_assert_held(&hdev->cq_lock);
	xa_for_each(&hdev->jobs, id, job) {
		if (only && job->ctx != only)
			continue;
		if (xa_erase(&hdev->jobs, id) != job)
			continue;	/* completed meanwhile */
		if (reason == DRM_HC_REASON_LOST)
			atomic64_inc(&hdev->jobs_lost);
		hc_job_fail(hdev, job, reason);
	}
	wake_up_all(&hdev->wq);
}

/*
 * Queue a driver-internal job and wait for its completion. With @ctx, the job is about that
 * context's card id: it is queued only if the context was not lost in a reset (checked under
 * the reset_lock section that queues it; -ECANCELED otherwise), so it can never reach a card
 * context id that a reset freed and the card gave to someone else. @gen (if not NULL)
 * receives the reset generation the job was queued in.
 */
static int hc_job_run(struct hc_device *hdev, struct hc_ctx *ctx, struct hc_sqe *sqe,
		      struct hc_cqe *cqe, u32 *gen, bool killable)
{
	unsigned long tmo = msecs_to_jiffies(hc_hang_timeout_ms * 2 + hc_reset_timeout_ms * 2);
	struct hc_job *job;
	int ret;

	job = kzalloc(sizeof(*job), GFP_KERNEL);
	if (!job)
		return -ENOMEM;
	job->internal = true;
	job->opcode = sqe->opcode;
	init_completion(&job->done);

	down_read(&hdev->reset_lock);
	if (ctx && READ_ONCE(ctx->lost))
		ret = -ECANCELED;
	else
		ret = hc_job_queue(hdev, job, sqe);
	if (gen)
		*gen = hdev->reset_gen;
	up_read(&hdev->reset_lock);
	if (ret) {
		kfree(job);
		return ret;
	}
	hc_job_kick(hdev);

	/* Hang detection fails the job if the card stops; this bound only covers its absence. */
	if (killable) {
		long left = wait_for_completion_killable_timeout(&job->done, tmo);

		if (left < 0) {
			/* Killed: the CQ path (or an abort) disposes of the job, under cq_lock. */
			mutex_lock(&hdev->cq_lock);
			if (xa_load(&hdev->jobs, job->id) == job) {
				job->orphan = true;
				mutex_unlock(&hdev->cq_lock);
				return -EINTR;
			}
			mutex_unlock(&hdev->cq_lock);
			wait_for_completion(&job->done);	/* completed meanwhile */
		} else if (!left) {
			goto timed_out;
		}
	} else if (!wait_for_completion_timeout(&job->done, tmo)) {
timed_out:
		/* Under cq_lock: the hang work may be looking at this job (hc_oldest_job). */
		mutex_lock(&hdev->cq_lock);
		if (xa_load(&hdev->jobs, job->id) == job) {
			xa_erase(&hdev->jobs, job->id);
			atomic_dec(&hdev->inflight);
			mutex_unlock(&hdev->cq_lock);
			kfree(job);
			return -ETIMEDOUT;
		}
		mutex_unlock(&hdev->cq_lock);
		wait_for_completion(&job->done);
	}
	*cqe = job->cqe;
	kfree(job);
	return 0;
}

int hc_job_run_internal(struct hc_device *hdev, struct hc_ctx *ctx, struct hc_sqe *sqe,
			struct hc_cqe *cqe, u32 *gen)
{
	return hc_job_run(hdev, ctx, sqe, cqe, gen, false);
}

/*
 * The CONTEXT_OPEN of CTX_CREATE: a fatal signal ends the wait (-EINTR) instead of keeping a
 * dying process in D state until the card answers or the bound expires; the job stays with
 * the CQ path, and a context the card opens for it is closed (hc_job_orphan_done). Closes are
 * never killable: a dying process's contexts must be closed before their streams go.
 */
int hc_job_run_open(struct hc_device *hdev, struct hc_sqe *sqe, struct hc_cqe *cqe, u32 *gen)
{
	return hc_job_run(hdev, NULL, sqe, cqe, gen, true);
}

/* Consume the card's CQ. Called from the interrupt thread and the hang-check work. */
void hc_cq_process(struct hc_device *hdev)
{
	struct hc_cqe cqe;
	struct hc_job *job;
	bool any = false;
	int n;

	mutex_lock(&hdev->cq_lock);
	if (!hdev->cq.hdr)
		goto out;
	while ((n = hc_ring_cons_avail(&hdev->cq)) > 0) {
		while (n--) {
			memcpy(&cqe, hc_ring_cons_entry(&hdev->cq, 0), sizeof(cqe));
			hc_ring_cons_release(&hdev->cq, 1);
			any = true;
			/* xa_load first: never free an id that hc_job_queue has only reserved. */
			job = cqe.user_data <= U32_MAX ?
			      xa_load(&hdev->jobs, (unsigned long)cqe.user_data) : NULL;
			if (job)
				xa_erase(&hdev->jobs, (unsigned long)cqe.user_data);
			if (!job) {
				atomic64_inc(&hdev->spurious_cqes);
				dev_warn_ratelimited(hdev->drm.dev,
					"completion for unknown job %#llx (status %#x)\n",
					cqe.user_data, cqe.status);
				continue;
			}
			if (cqe.status == HC_STATUS_ERROR && cqe.reason == HC_REASON_DMA_FAULT) {
				/* the card refused to write where we pointed it: our bug, or a
				 * test; the job fails with the reason, the card carries on */
				atomic64_inc(&hdev->dma_faults);
				dev_err_ratelimited(hdev->drm.dev,
					"card reports a DMA fault: job %llu (opcode %u) named memory outside host memory\n",
					cqe.user_data, job->opcode);
			}
			hc_job_complete(hdev, job, &cqe);
		}
	}
	if (n < 0)
		dev_warn_ratelimited(hdev->drm.dev, "card completion queue indices corrupt\n");
	if (any && hc_ring_cons_producer_waiting(&hdev->cq))
		hc_hw_doorbell(hdev, HC_DOORBELL_QP(HC_QP));
out:
	mutex_unlock(&hdev->cq_lock);
	if (any)
		wake_up_all(&hdev->wq);
}

/* ---- ioctls ---------------------------------------------------------------------------- */

static bool hc_float_ok(u32 bits)
{
	if ((bits & 0x7f800000) == 0x7f800000)
		return false;			/* inf or NaN */
	return !(bits & 0x80000000) || !(bits & 0x7fffffff);	/* >= 0 (or -0) */
}

static bool hc_all_zero(const void *p, size_t len)
{
	return !memchr_inv(p, 0, len);
}

/*
 * Copy the ring entry at @entry and check it; for PREFILL also copy the prompt from the process
 * (into @a->tokens) and check it. Runs with no lock but the context's submit_lock: a prompt
 * page fault that never completes (userfaultfd, FUSE) blocks this call only, never recovery
 * or other processes.
 */
static int hc_job_copy_args(struct hc_device *hdev, const void *entry, struct hc_job_args *a)
{
	const struct hc_card_regs *id = &hdev->ident;
	const struct drm_hc_job *uj = &a->uj;
	u32 i;

	/* Every union member covers all of args: no byte of an entry goes unchecked. */
	BUILD_BUG_ON(sizeof(struct drm_hc_job_prefill) != sizeof(uj->args));
	BUILD_BUG_ON(sizeof(struct drm_hc_job_decode) != sizeof(uj->args));
	BUILD_BUG_ON(sizeof(struct drm_hc_job) != 128);

	/* Copy first: the process may rewrite the entry at any moment. */
	memcpy(&a->uj, entry, sizeof(a->uj));
	a->tokens = NULL;
	if (uj->flags || uj->reserved0 || uj->reserved1)
		return -EINVAL;

	switch (uj->opcode) {
	case DRM_HC_OP_NOP:
	case DRM_HC_OP_RESET_CONTEXT:
		return hc_all_zero(uj->args, sizeof(uj->args)) ? 0 : -EINVAL;
	case DRM_HC_OP_PREFILL: {
		const struct drm_hc_job_prefill *p = &uj->prefill;

		if (p->pad || !hc_all_zero(p->reserved, sizeof(p->reserved)))
			return -EINVAL;
		if (!p->n_tokens || p->n_tokens > id->max_prefill_tokens)
			return -EINVAL;
		a->tokens = kvmalloc_array(p->n_tokens, sizeof(u32), GFP_KERNEL);
		if (!a->tokens)
			return -ENOMEM;
		if (copy_from_user(a->tokens, u64_to_user_ptr(p->tokens_ptr),
				   (size_t)p->n_tokens * sizeof(u32)))
			return -EFAULT;
		for (i = 0; i < p->n_tokens; i++)
			if (a->tokens[i] >= id->vocab_size)
				return -EINVAL;
		return 0;
	}
	case DRM_HC_OP_DECODE: {
		const struct drm_hc_job_decode *d = &uj->decode;

		if (!hc_all_zero(d->reserved, sizeof(d->reserved)))
			return -EINVAL;
		if (!d->max_tokens || d->n_stop > DRM_HC_MAX_STOP ||
		    d->n_stop > id->max_stop_tokens)
			return -EINVAL;
		if (!hc_float_ok(d->temperature) || !hc_float_ok(d->top_p))
			return -EINVAL;
		for (i = 0; i < DRM_HC_MAX_STOP; i++) {
			if (i < d->n_stop ? d->stop[i] >= id->vocab_size : d->stop[i] != 0)
				return -EINVAL;
		}
		if ((d->wakeup_usec || d->wakeup_tokens) && !(id->caps & HC_CAP_WAKEUP_DELAY))
			return -EINVAL;
		if (d->wakeup_usec > HC_CARD_MAX_WAKEUP_USEC)
			return -EINVAL;
		return 0;
	}
	default:
		return -EINVAL;
	}
}

/*
 * Build the card's SQE for the checked entry @a: the card's opcode for the UAPI one, the
 * prompt placed in card memory no process can map, the stream looked up. Under reset_lock
 * (read) and drm_dev_enter().
 */
static int hc_job_prepare(struct hc_device *hdev, struct drm_file *file, struct hc_ctx *ctx,
			  const struct hc_job_args *a, struct hc_sqe *sqe, struct hc_job *job)
{
	const struct drm_hc_job *uj = &a->uj;
	int ret;

	memset(sqe, 0, sizeof(*sqe));
	sqe->ctx_id = ctx->card_id;

	switch (uj->opcode) {
	case DRM_HC_OP_NOP:
		sqe->opcode = HC_OP_NOP;
		sqe->ctx_id = 0;	/* the card wants no context for a NOP */
		break;
	case DRM_HC_OP_RESET_CONTEXT:
		sqe->opcode = HC_OP_RESET_CONTEXT;
		break;
	case DRM_HC_OP_PREFILL: {
		size_t bytes = (size_t)uj->prefill.n_tokens * sizeof(u32);

		sqe->opcode = HC_OP_PREFILL;
		ret = hc_quota_charge(file->driver_priv, &job->charge, 0,
				      ALIGN(bytes, HC_CARD_RING_ALIGN));
		if (ret)
			return ret;	/* -EDQUOT */
		ret = hc_mem_alloc(hdev, &job->prompt, bytes, HC_CARD_RING_ALIGN);
		if (ret)
			return -ENOMEM;
		memcpy(hc_mem_ptr(hdev, job->prompt.start), a->tokens, bytes);
		sqe->prefill.tokens_offset = job->prompt.start;
		sqe->prefill.n_tokens = uj->prefill.n_tokens;
		break;
	}
	case DRM_HC_OP_DECODE: {
		const struct drm_hc_job_decode *d = &uj->decode;

		sqe->opcode = HC_OP_DECODE;
		job->stream = hc_bo_lookup_stream(file, d->stream_handle);
		if (!job->stream)
			return -ENOENT;
		if (job->stream->host) {
			sqe->flags |= HC_SQE_F_STREAM_HOST;
			sqe->decode.stream_offset = job->stream->dma;
			/* TEST ONLY: a bus address no host memory has (debugfs fault_dma) */
			if (unlikely(atomic_read(&hdev->fault_dma)) &&
			    atomic_dec_if_positive(&hdev->fault_dma) >= 0)
				sqe->decode.stream_offset += HC_FAULT_DMA_OFFSET;
		} else {
			sqe->decode.stream_offset = job->stream->node.start;
		}
		sqe->decode.stream_entries = job->stream->entries;
		sqe->decode.max_tokens = d->max_tokens;
		sqe->decode.temperature = d->temperature;
		sqe->decode.top_p = d->top_p;
		sqe->decode.top_k = d->top_k;
		sqe->decode.n_stop = d->n_stop;
		sqe->decode.seed = d->seed;
		sqe->decode.step_base = d->step_base;
		memcpy(sqe->decode.stop, d->stop, sizeof(d->stop));
		if (d->wakeup_tokens > job->stream->entries)
			return -EINVAL;
		sqe->decode.wakeup_usec = d->wakeup_usec;
		sqe->decode.wakeup_tokens = d->wakeup_tokens;
		break;
	}
	default:
		return -EINVAL;	/* hc_job_copy_args let nothing else through */
	}
	job->opcode = sqe->opcode;
	job->user_data = uj->user_data;
	return 0;
}

/* Reserve room in the context's completion ring for one more job in flight. */
static int hc_ctx_reserve_cqe(struct hc_ctx *ctx)
{
	u32 entries = hc_ring_entries(&ctx->ucq);
	u32 pending;
	int ret = 0;

	spin_lock(&ctx->cq_lock);
	/* The head is the process's: treat nonsense as a full ring, never trust it further. */
	pending = ctx->ucq.local - READ_ONCE(ctx->ucq.hdr->head);
	if (pending > entries)
		pending = entries;
	if (ctx->inflight + pending >= entries || ctx->inflight >= hc_max_jobs_per_context)
		ret = -EBUSY;
	else
		ctx->inflight++;
	spin_unlock(&ctx->cq_lock);
	return ret;
}

static void hc_ctx_unreserve_cqe(struct hc_ctx *ctx)
{
	spin_lock(&ctx->cq_lock);
	ctx->inflight--;
	spin_unlock(&ctx->cq_lock);
}

/* Queue the checked entry @a of @ctx; the caller holds reset_lock (read). */
static int hc_submit_one(struct hc_device *hdev, struct drm_file *file, struct hc_ctx *ctx,
			 const struct hc_job_args *a)
{
	struct hc_sqe sqe;
	struct hc_job *job;
	int ret;

	if (ctx->closing)
		return -ENOENT;
	if (hdev->dead)
		return -EIO;
	if (ctx->lost)
		return -ECANCELED;
	job = kzalloc(sizeof(*job), GFP_KERNEL);
	if (!job)
		return -ENOMEM;
	ret = hc_job_prepare(hdev, file, ctx, a, &sqe, job);
	if (!ret) {
		ret = hc_ctx_reserve_cqe(ctx);
		if (!ret) {
			kref_get(&ctx->ref);
			job->ctx = ctx;
			ret = hc_job_queue(hdev, job, &sqe);
			if (ret)
				hc_ctx_unreserve_cqe(ctx);
		}
	}
	if (ret)
		hc_job_release(hdev, job);
	return ret;
}

int hc_ioctl_submit(struct drm_device *drm, void *data, struct drm_file *file)
{
	struct hc_device *hdev = to_hc_device(drm);
	struct drm_hc_submit *args = data;
	struct hc_job_args a;
	struct hc_ctx *ctx;
	u32 submitted = 0;
	int avail, ret = 0, idx;

	args->submitted = 0;
	if (args->flags || args->reserved)
		return -EINVAL;
	ctx = hc_ctx_lookup(file, args->ctx_handle);
	if (!ctx)
		return -ENOENT;
	mutex_lock(&ctx->submit_lock);
	if (ctx->closing) {
		ret = -ENOENT;
		goto out;
	}
	avail = hc_ring_cons_avail(&ctx->usq);
	if (avail < 0) {
		ret = -EINVAL;	/* the process wrote a tail more than a ring ahead */
		goto out;
	}
	if (args->count && args->count < (u32)avail)
		avail = args->count;

	while (submitted < (u32)avail) {
		/* The entry and its prompt, copied with no device lock held. */
		ret = hc_job_copy_args(hdev, hc_ring_cons_entry(&ctx->usq, 0), &a);
		if (!ret) {
			if (drm_dev_enter(drm, &idx)) {
				down_read(&hdev->reset_lock);
				ret = hc_submit_one(hdev, file, ctx, &a);
				up_read(&hdev->reset_lock);
				drm_dev_exit(idx);
			} else {
				ret = -ENODEV;
			}
		}
		kvfree(a.tokens);
		if (ret)
			break;
		hc_ring_cons_release(&ctx->usq, 1);
		atomic64_inc(&hdev->jobs_submitted);
		submitted++;
	}
	if (submitted)
		hc_job_kick(hdev);
out:
	mutex_unlock(&ctx->submit_lock);
	hc_ctx_put(ctx);
	args->submitted = submitted;
	return ret;
}

/* Whether WAIT is over: the device is gone, the context destroyed, or a tail moved. Card
 * memory (the stream) is read only inside drm_dev_enter(): the BAR goes away at remove. */
static bool hc_wait_done(struct hc_device *hdev, struct hc_ctx *ctx, struct hc_bo *stream,
			 const struct drm_hc_wait *args)
{
	bool done;
	int idx;

	if (READ_ONCE(hdev->dead) || READ_ONCE(ctx->closing) ||
	    READ_ONCE(ctx->ucq.hdr->tail) != args->cq_tail)
		return true;
	if (!stream)
		return false;
	if (!drm_dev_enter(&hdev->drm, &idx))
		return true;
	done = READ_ONCE(((struct hc_ring_hdr *)stream->vaddr)->tail) != args->stream_tail;
	drm_dev_exit(idx);
	return done;
}

/*
 * A WAIT sleeping on the device's wait queue. The queue is woken for every completion batch
 * and stream interrupt of every context; this entry's wake function looks at its own
 * condition first and wakes the task only when it holds, so a sleeper is not woken by other
 * users' traffic (no thundering herd: sleepers of idle contexts stay asleep).
 */
struct hc_wait_entry {
	struct wait_queue_entry wq;
	struct hc_device *hdev;
	struct hc_ctx *ctx;
	struct hc_bo *stream;
	const struct drm_hc_wait *args;
};

static int hc_wait_wake(struct wait_queue_entry *wq, unsigned int mode, int sync, void *key)
{
	struct hc_wait_entry *w = container_of(wq, struct hc_wait_entry, wq);

	if (!hc_wait_done(w->hdev, w->ctx, w->stream, w->args))
		return 0;
	return default_wake_function(wq, mode, sync, key);
}

/* Sleep until hc_wait_done() or the absolute CLOCK_MONOTONIC @deadline: 0, -ETIME or
 * -ERESTARTSYS. */
static int hc_wait_sleep(struct hc_device *hdev, struct hc_ctx *ctx, struct hc_bo *stream,
			 const struct drm_hc_wait *args, ktime_t deadline)
{
	struct hc_wait_entry w = { .hdev = hdev, .ctx = ctx, .stream = stream, .args = args };
	int ret = 0;

	init_waitqueue_func_entry(&w.wq, hc_wait_wake);
	w.wq.private = current;
	add_wait_queue(&hdev->wq, &w.wq);
	for (;;) {
		set_current_state(TASK_INTERRUPTIBLE);
		if (hc_wait_done(hdev, ctx, stream, args))
			break;
		if (signal_pending(current)) {
			ret = -ERESTARTSYS;
			break;
		}
		if (!schedule_hrtimeout(&deadline, HRTIMER_MODE_ABS)) {
			ret = hc_wait_done(hdev, ctx, stream, args) ? 0 : -ETIME;
			break;
		}
		/* Woken with nothing to report: what the wake function is there to prevent. */
		if (!hc_wait_done(hdev, ctx, stream, args) && !signal_pending(current))
			atomic64_inc(&hdev->wait_spurious);
	}
	__set_current_state(TASK_RUNNING);
	remove_wait_queue(&hdev->wq, &w.wq);
	return ret;
}

int hc_ioctl_wait(struct drm_device *drm, void *data, struct drm_file *file)
{
	struct hc_device *hdev = to_hc_device(drm);
	struct drm_hc_wait *args = data;
	struct hc_bo *stream = NULL;
	struct hc_ctx *ctx;
	ktime_t left;
	int ret, idx;

	if ((args->flags & ~DRM_HC_WAIT_STREAM) || args->pad || args->reserved)
		return -EINVAL;
	if (!(args->flags & DRM_HC_WAIT_STREAM) && (args->stream_handle || args->stream_tail))
		return -EINVAL;
	ctx = hc_ctx_lookup(file, args->ctx_handle);
	if (!ctx)
		return -ENOENT;
	if (args->flags & DRM_HC_WAIT_STREAM) {
		stream = hc_bo_lookup_stream(file, args->stream_handle);
		if (!stream) {
			hc_ctx_put(ctx);
			return -ENOENT;
		}
	}

	/* The process freed stream space: if the card waits for it, wake the card up. */
	if (stream && drm_dev_enter(drm, &idx)) {
		if (READ_ONCE(((struct hc_ring_hdr *)stream->vaddr)->producer_flags) &
		    HC_STREAM_CARD_WAITING)
			hc_hw_doorbell(hdev, HC_DOORBELL_QP(HC_QP));
		drm_dev_exit(idx);
	}

	left = ktime_sub(ns_to_ktime(args->timeout_ns), ktime_get());
	if (hc_wait_done(hdev, ctx, stream, args))
		ret = 0;
	else if (ktime_to_ns(left) <= 0)
		ret = -ETIME;
	else
		ret = hc_wait_sleep(hdev, ctx, stream, args, ns_to_ktime(args->timeout_ns));
	if (!ret && READ_ONCE(ctx->closing))
		ret = -ENOENT;

	args->cq_tail = READ_ONCE(ctx->ucq.hdr->tail);
	if (stream) {
		if (drm_dev_enter(drm, &idx)) {
			args->stream_tail = READ_ONCE(((struct hc_ring_hdr *)stream->vaddr)->tail);
			drm_dev_exit(idx);
		} else if (!ret) {
			ret = -ENODEV;
		}
		hc_bo_put(stream);
	}
	if (!ret && READ_ONCE(hdev->dead))
		ret = -ENODEV;
	hc_ctx_put(ctx);
	return ret;
}

int hc_ioctl_cancel(struct drm_device *drm, void *data, struct drm_file *file)
{
	struct hc_device *hdev = to_hc_device(drm);
	struct drm_hc_cancel *args = data;
	struct hc_sqe sqe = { .opcode = HC_OP_CANCEL };
	struct hc_job *job;
	struct hc_ctx *ctx;
	int ret = 0, idx;

	if (args->flags)
		return -EINVAL;
	ctx = hc_ctx_lookup(file, args->ctx_handle);
	if (!ctx)
		return -ENOENT;
	job = kzalloc(sizeof(*job), GFP_KERNEL);
	if (!job) {
		hc_ctx_put(ctx);
		return -ENOMEM;
	}
	if (!drm_dev_enter(drm, &idx)) {
		ret = -ENODEV;
		goto free;
	}
	down_read(&hdev->reset_lock);
	if (ctx->lost || ctx->closing) {
		ret = 0;	/* nothing of it runs on the card any more */
	} else {
		/* Fire and forget: its completion is consumed by the driver (job->ctx NULL). */
		sqe.ctx_id = ctx->card_id;
		job->opcode = HC_OP_CANCEL;
		ret = hc_job_queue(hdev, job, &sqe);
		if (!ret)
			job = NULL;
	}
	up_read(&hdev->reset_lock);
	if (!job)
		hc_job_kick(hdev);
	drm_dev_exit(idx);
free:
	kfree(job);
	hc_ctx_put(ctx);
	return ret;
}
