// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * hc_accel: contexts. A context is a KV slot on the card (CONTEXT_OPEN/CLOSE, run by the
 * driver) plus a ring buffer in system memory that only its file can map: the submission
 * ring (struct drm_hc_job) and the completion ring (struct drm_hc_cqe).
 *
 * Lifetime: a context is visible to other threads of its file (through its handle) only
 * once it is completely set up, on the card and in hdev->ctx_list; it joins ctx_list under
 * reset_lock in the same reset generation as its CONTEXT_OPEN, so a recovery either sees it
 * (and marks it lost) or happened before its card id was given out.
 */
#include <linux/slab.h>
#include <drm/drm_drv.h>
#include <drm/drm_vma_manager.h>

#include "hc_hw.h"
#include "hc_job.h"

static void hc_ctx_release(struct kref *ref)
{
	struct hc_ctx *ctx = container_of(ref, struct hc_ctx, ref);
	struct hc_device *hdev = ctx->hdev;

	spin_lock(&hdev->ctx_lock);
	list_del(&ctx->node);
	spin_unlock(&hdev->ctx_lock);
	hc_bo_put(ctx->ring_bo);
	mutex_destroy(&ctx->submit_lock);
	kfree(ctx);
}

void hc_ctx_put(struct hc_ctx *ctx)
{
	kref_put(&ctx->ref, hc_ctx_release);
}

struct hc_ctx *hc_ctx_lookup(struct drm_file *file, u32 handle)
{
	struct hc_file *hfile = file->driver_priv;
	struct hc_ctx *ctx;

	mutex_lock(&hfile->lock);
	ctx = xa_load(&hfile->ctxs, handle);
	if (ctx)
		kref_get(&ctx->ref);
	mutex_unlock(&hfile->lock);
	return ctx;
}

/* The card's statuses are the UAPI's; anything else a card says is its failure. */
static_assert(DRM_HC_STATUS_OK == HC_STATUS_OK);
static_assert(DRM_HC_STATUS_DONE_MAX_TOKENS == HC_STATUS_DONE_MAX_TOKENS);
static_assert(DRM_HC_STATUS_DONE_STOP_TOKEN == HC_STATUS_DONE_STOP_TOKEN);
static_assert(DRM_HC_STATUS_CANCELLED == HC_STATUS_CANCELLED);
static_assert(DRM_HC_STATUS_CONTEXT_FULL == HC_STATUS_CONTEXT_FULL);
static_assert(DRM_HC_STATUS_ERROR == HC_STATUS_ERROR);
static_assert(sizeof(struct drm_hc_cqe) == 32);

/* Write one completion into the context's ring; never blocks (room was reserved at submit). */
void hc_ctx_post_cqe(struct hc_ctx *ctx, u64 user_data, const struct hc_cqe *cqe)
{
	struct drm_hc_cqe c = {
		.user_data = user_data,
		.ctx_id = ctx->handle,
		.status = cqe->status,
		.reason = cqe->reason,
		.count = cqe->count,
		.pos = cqe->pos,
		.aux = cqe->aux,
	};

	if (c.status > DRM_HC_STATUS_ERROR) {
		c.status = DRM_HC_STATUS_ERROR;
		c.reason = HC_REASON_INTERNAL;
	}
	spin_lock(&ctx->cq_lock);
	memcpy(hc_ring_prod_entry(&ctx->ucq, 0), &c, sizeof(c));
	hc_ring_prod_publish(&ctx->ucq, 1);
	if (ctx->inflight)
		ctx->inflight--;
	spin_unlock(&ctx->cq_lock);
}

void hc_ctx_mark_all_lost(struct hc_device *hdev)
{
	struct hc_ctx *ctx;

	lockdep_assert_held_write(&hdev->reset_lock);
	spin_lock(&hdev->ctx_lock);
	list_for_each_entry(ctx, &hdev->ctx_list, node)
		WRITE_ONCE(ctx->lost, true);
	spin_unlock(&hdev->ctx_lock);
}

static int hc_card_errno(const struct hc_cqe *cqe)
{
	if (cqe->status != HC_STATUS_ERROR)
		return -EIO;
	switch (cqe->reason) {
	case HC_REASON_NO_CONTEXTS:
		return -ENOSPC;
	case HC_REASON_NO_MEMORY:
		return -ENOMEM;
	case HC_REASON_BAD_DESCRIPTOR:
		return -EINVAL;
	case DRM_HC_REASON_RESET:
	case DRM_HC_REASON_TIMEOUT:
		return -ECANCELED;
	default:
		return -EIO;
	}
}

/* Close the card side of @ctx and fail whatever of it is still in flight. */
static void hc_ctx_close(struct hc_ctx *ctx, struct drm_file *file)
{
	struct hc_device *hdev = ctx->hdev;
	struct hc_sqe sqe = { .opcode = HC_OP_CONTEXT_CLOSE };
	struct hc_cqe cqe;

	int ret;

	mutex_lock(&ctx->submit_lock);
	ctx->closing = true;
	wake_up_all(&hdev->wq);		/* WAITs on this context return -ENOENT */
	sqe.ctx_id = ctx->card_id;
	/*
	 * The card cancels the context's jobs, which complete before the close does. The close
	 * is not sent if a reset already closed the context (-ECANCELED): its id may be someone
	 * else's by now. Internal jobs have queue slots of their own (HC_INTERNAL_SLOTS).
	 */
	ret = hc_job_run_internal(hdev, ctx, &sqe, &cqe, NULL);
	if (ret && ret != -ECANCELED)
		drm_dbg_driver(&hdev->drm, "closing card context %u: %d\n", ctx->card_id, ret);
	else if (!ret && cqe.status != HC_STATUS_OK)
		drm_dbg_driver(&hdev->drm, "closing card context %u: status %u\n", ctx->card_id,
			       cqe.status);
	/*
	 * The close did not reach the card or got no answer (busy, out of memory, timeout): the
	 * card may still write into this context's streams, which are about to be freed and
	 * reused. Only a reset proves it stopped. (-EIO: the card is dead and writes nothing.)
	 */
	if (ret && ret != -ECANCELED && ret != -EIO && !READ_ONCE(ctx->lost))
		hc_recover(hdev, "context close failed");
	/*
	 * Anything left had its completion lost (or the card is gone). Under cq_lock: once it
	 * is ours no completion of this context is in progress (they use ctx->hfile).
	 */
	hc_cq_process(hdev);
	mutex_lock(&hdev->cq_lock);
	hc_job_abort_all(hdev, ctx, DRM_HC_REASON_LOST);
	mutex_unlock(&hdev->cq_lock);
	mutex_unlock(&ctx->submit_lock);

	drm_vma_node_revoke(&ctx->ring_bo->base.vma_node, file);
	atomic_dec(&hdev->n_ctx);
	hc_quota_uncharge(&ctx->charge);
	hc_ctx_put(ctx);
}

/* Close the card side of @ctx, which no process has seen; on failure reset the card (the
 * context must not stay there holding a KV slot). */
static void hc_ctx_card_close(struct hc_device *hdev, struct hc_ctx *ctx)
{
	struct hc_sqe sqe = { .opcode = HC_OP_CONTEXT_CLOSE, .ctx_id = ctx->card_id };
	struct hc_cqe cqe;
	int ret;

	ret = hc_job_run_internal(hdev, ctx, &sqe, &cqe, NULL);
	if (ret && ret != -ECANCELED && ret != -EIO)
		hc_recover(hdev, "closing an unused context failed");
}

int hc_ioctl_ctx_create(struct drm_device *drm, void *data, struct drm_file *file)
{
	struct hc_device *hdev = to_hc_device(drm);
	struct hc_file *hfile = file->driver_priv;
	struct drm_hc_ctx_create *args = data;
	struct hc_sqe sqe = { .opcode = HC_OP_CONTEXT_OPEN };
	struct hc_cqe cqe;
	struct hc_ctx *ctx;
	u32 sq_bytes, cq_off, cq_entries, handle, gen;
	u64 ring_offset, ring_size;
	unsigned long n_open = 0, i;
	void *entry;
	int ret, idx;

	if (args->flags || args->pad || args->reserved[0] || args->reserved[1])
		return -EINVAL;
	if (!is_power_of_2(args->sq_entries) || args->sq_entries > DRM_HC_MAX_RING_ENTRIES)
		return -EINVAL;
	cq_entries = args->cq_entries ? args->cq_entries : 2 * args->sq_entries;
	if (!is_power_of_2(cq_entries) || cq_entries < args->sq_entries ||
	    cq_entries > 2 * DRM_HC_MAX_RING_ENTRIES)
		return -EINVAL;
	if (args->max_ctx > hdev->ident.max_ctx_len)
		return -EINVAL;

	/* An early answer only: the limit is enforced where the handle is allocated. */
	mutex_lock(&hfile->lock);
	xa_for_each(&hfile->ctxs, i, entry)
		n_open++;
	mutex_unlock(&hfile->lock);
	if (n_open >= hdev->max_contexts_per_file)
		return -EMFILE;

	ctx = kzalloc(sizeof(*ctx), GFP_KERNEL);
	if (!ctx)
		return -ENOMEM;
	kref_init(&ctx->ref);
	ctx->hdev = hdev;
	ctx->hfile = hfile;
	INIT_LIST_HEAD(&ctx->node);
	mutex_init(&ctx->submit_lock);
	spin_lock_init(&ctx->cq_lock);

	sq_bytes = HC_RING_BYTES(args->sq_entries, sizeof(struct drm_hc_job));
	cq_off = ALIGN(sq_bytes, HC_CARD_RING_ALIGN);
	ctx->ring_bo = hc_bo_create_ring(hdev, cq_off + HC_RING_BYTES(cq_entries,
								     sizeof(struct drm_hc_cqe)));
	if (IS_ERR(ctx->ring_bo)) {
		ret = PTR_ERR(ctx->ring_bo);
		kfree(ctx);
		return ret;
	}
	hc_ring_init(&ctx->usq, ctx->ring_bo->vaddr, args->sq_entries, sizeof(struct drm_hc_job));
	hc_ring_init(&ctx->ucq, (u8 *)ctx->ring_bo->vaddr + cq_off, cq_entries,
		     sizeof(struct drm_hc_cqe));
	ring_offset = drm_vma_node_offset_addr(&ctx->ring_bo->base.vma_node);
	ring_size = ctx->ring_bo->base.size;

	if (!drm_dev_enter(drm, &idx)) {
		ret = -ENODEV;
		goto err_free;
	}
	sqe.open.max_ctx = args->max_ctx;
	ret = hc_job_run_open(hdev, &sqe, &cqe, &gen);
	drm_dev_exit(idx);
	if (ret == -ETIMEDOUT) {
		/* The open may still happen on the card and hold a slot nobody knows about. */
		hc_recover(hdev, "context open timed out");
		ret = -EAGAIN;
		goto err_free;
	}
	if (ret)
		goto err_free;
	if (cqe.status == HC_STATUS_ERROR && cqe.reason == DRM_HC_REASON_LOST) {
		/* The card may have opened it and lost only the answer: a reset frees the slot. */
		hc_recover(hdev, "context open lost");
		ret = -EAGAIN;
		goto err_free;
	}
	if (cqe.status == HC_STATUS_ERROR &&
	    (cqe.reason == DRM_HC_REASON_RESET || cqe.reason == DRM_HC_REASON_TIMEOUT)) {
		ret = -EAGAIN;	/* a reset came while the card opened it: try again */
		goto err_free;
	}
	if (cqe.status != HC_STATUS_OK) {
		ret = hc_card_errno(&cqe);
		goto err_free;
	}
	ctx->card_id = cqe.ctx_id;

	/*
	 * Join ctx_list in the reset generation the card id belongs to: if a reset came between
	 * the open and here, the card has forgotten the context and may give its id to someone
	 * else; the caller gets -EAGAIN (try again) and nothing is sent for it. From here on a
	 * reset marks it lost, and every job about it checks that under reset_lock.
	 */
	down_read(&hdev->reset_lock);
	if (hdev->reset_gen != gen) {
		up_read(&hdev->reset_lock);
		ret = -EAGAIN;
		goto err_free;
	}
	spin_lock(&hdev->ctx_lock);
	list_add_tail(&ctx->node, &hdev->ctx_list);
	spin_unlock(&hdev->ctx_lock);
	up_read(&hdev->reset_lock);

	ret = drm_vma_node_allow(&ctx->ring_bo->base.vma_node, file);
	if (ret)
		goto err_close;

	/*
	 * Publish last: from here another thread may destroy it (and we no longer touch it).
	 * The file's and the process's context limits are checked and charged here, under the
	 * lock that publishes.
	 */
	mutex_lock(&hfile->lock);
	ret = hc_quota_charge(hfile, &ctx->charge, 1, 0);
	if (!ret) {
		ret = xa_alloc(&hfile->ctxs, &handle, ctx, XA_LIMIT(1, INT_MAX), GFP_KERNEL);
		if (ret)
			hc_quota_uncharge(&ctx->charge);
	}
	if (!ret) {
		ctx->handle = handle;
		atomic_inc(&hdev->n_ctx);
	}
	mutex_unlock(&hfile->lock);
	if (ret)
		goto err_revoke;

	args->handle = handle;
	args->ring_mmap_offset = ring_offset;
	args->ring_size = ring_size;
	args->sq_offset = 0;
	args->cq_offset = cq_off;
	return 0;

err_revoke:
	drm_vma_node_revoke(&ctx->ring_bo->base.vma_node, file);
err_close:
	hc_ctx_card_close(hdev, ctx);
err_free:
	hc_ctx_put(ctx);
	return ret;
}

int hc_ioctl_ctx_destroy(struct drm_device *drm, void *data, struct drm_file *file)
{
	struct hc_file *hfile = file->driver_priv;
	struct drm_hc_ctx_destroy *args = data;
	struct hc_ctx *ctx;

	if (args->flags)
		return -EINVAL;
	mutex_lock(&hfile->lock);
	ctx = xa_erase(&hfile->ctxs, args->handle);
	mutex_unlock(&hfile->lock);
	if (!ctx)
		return -ENOENT;
	hc_ctx_close(ctx, file);
	return 0;
}

/* The file is going away (close or process death): close every context it still has. */
void hc_ctx_close_all(struct drm_file *file)
{
	struct hc_file *hfile = file->driver_priv;
	struct hc_ctx *ctx;
	unsigned long handle;

	xa_for_each(&hfile->ctxs, handle, ctx) {
		xa_erase(&hfile->ctxs, handle);
		hc_ctx_close(ctx, file);
	}
}
