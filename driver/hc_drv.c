// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * hc_accel: module and DRM driver. On kernels with the accel subsystem the node is
 * /dev/accel/accelN (DRIVER_COMPUTE_ACCEL); before it, a render node with the same ioctls
 * (hc_compat.h).
 */
#include <linux/module.h>
#include <linux/slab.h>
#include <linux/uaccess.h>
#include <drm/drm_drv.h>
#include <drm/drm_file.h>
#include <drm/drm_gem.h>
#include <drm/drm_ioctl.h>
#include <drm/drm_print.h>

#include "hc_hw.h"
#include "hc_job.h"
#include "hc_quota.h"

unsigned int hc_hang_timeout_ms = 2000;
module_param_named(hang_timeout_ms, hc_hang_timeout_ms, uint, 0644);
MODULE_PARM_DESC(hang_timeout_ms,
		 "Reset the card when jobs are in flight and its heartbeat stalls this long (ms)");

unsigned int hc_job_timeout_ms;
module_param_named(job_timeout_ms, hc_job_timeout_ms, uint, 0644);
MODULE_PARM_DESC(job_timeout_ms,
		 "Reset the card when one job runs longer than this even with a live heartbeat (ms, 0 = no limit)");

unsigned int hc_reset_timeout_ms = 2000;
module_param_named(reset_timeout_ms, hc_reset_timeout_ms, uint, 0644);
MODULE_PARM_DESC(reset_timeout_ms, "How long the card may take to reset or ack a setup (ms)");

bool hc_disable_recovery;
module_param_named(disable_recovery, hc_disable_recovery, bool, 0644);
MODULE_PARM_DESC(disable_recovery, "Detect hangs but do not reset the card (debugging)");

unsigned int hc_card_peer;
module_param_named(card_peer, hc_card_peer, uint, 0444);
MODULE_PARM_DESC(card_peer, "ivshmem peer id of the card (hc-emud serves as peer 0)");

unsigned int hc_max_jobs_per_context = 64;
module_param_named(max_jobs_per_context, hc_max_jobs_per_context, uint, 0644);
MODULE_PARM_DESC(max_jobs_per_context,
		 "Jobs one context may have in flight; SUBMIT beyond it returns -EBUSY (a context runs its jobs in order, so more only hold queue slots others need)");

static int hc_open(struct drm_device *drm, struct drm_file *file)
{
	struct hc_file *hfile = kzalloc(sizeof(*hfile), GFP_KERNEL);

	if (!hfile)
		return -ENOMEM;
	hfile->hdev = to_hc_device(drm);
	mutex_init(&hfile->lock);
	spin_lock_init(&hfile->busy_lock);
	xa_init_flags(&hfile->ctxs, XA_FLAGS_ALLOC1);
	if (hc_quota_open(hfile)) {
		kfree(hfile);
		return -ENOMEM;
	}
	file->driver_priv = hfile;
	return 0;
}

static void hc_postclose(struct drm_device *drm, struct drm_file *file)
{
	struct hc_file *hfile = file->driver_priv;

	hc_ctx_close_all(file);
	hc_quota_close(hfile);	/* what jobs and streams still hold is returned later */
	xa_destroy(&hfile->ctxs);
	mutex_destroy(&hfile->lock);
	kfree(hfile);
}

int hc_ioctl_get_info(struct drm_device *drm, void *data, struct drm_file *file)
{
	struct hc_device *hdev = to_hc_device(drm);
	const struct hc_card_regs *id = &hdev->ident;
	struct drm_hc_info *info = data;
	int idx;

	if (info->flags)
		return -EINVAL;
	memset(info, 0, sizeof(*info));
	info->interface_version = id->version;
	/* Only what the driver supports: a card feature it does not pass on is not there. */
	info->caps = id->caps & HC_DRIVER_CAPS;
	memcpy(info->model_identity, id->model_identity, sizeof(info->model_identity));
	strscpy(info->model_name, id->model_name, sizeof(info->model_name));
	info->vocab_size = id->vocab_size;
	info->dim = id->dim;
	info->n_layers = id->n_layers;
	info->n_heads = id->n_heads;
	info->n_kv_heads = id->n_kv_heads;
	info->head_dim = id->head_dim;
	info->ffn_dim = id->ffn_dim;
	info->max_ctx = id->max_ctx;
	info->n_contexts = id->n_contexts;
	info->max_contexts = hdev->max_contexts_per_file;
	info->max_ctx_len = id->max_ctx_len;
	info->max_ring_entries = DRM_HC_MAX_RING_ENTRIES;
	info->max_stream_entries = id->max_stream_entries;
	info->max_stop_tokens = min_t(u32, id->max_stop_tokens, DRM_HC_MAX_STOP);
	info->max_prefill_tokens = id->max_prefill_tokens;
	if (drm_dev_enter(drm, &idx)) {
		info->status = hc_hw_status(hdev);
		drm_dev_exit(idx);
	} else {
		return -ENODEV;	/* card memory is gone with the device */
	}
	info->stream_mem_bytes = id->data_size;
	info->fw_version = id->fw_version;
	return 0;
}

int hc_ioctl_get_tokenizer(struct drm_device *drm, void *data, struct drm_file *file)
{
	struct hc_device *hdev = to_hc_device(drm);
	struct drm_hc_get_tokenizer *args = data;
	u64 have = args->size;

	if (args->flags || args->pad)
		return -EINVAL;
	if (!hdev->tok_blob)
		return -EOPNOTSUPP;
	args->size = hdev->tok_size;
	if (!args->ptr)
		return 0;
	if (have < hdev->tok_size)
		return -ENOSPC;
	if (copy_to_user(u64_to_user_ptr(args->ptr), hdev->tok_blob, hdev->tok_size))
		return -EFAULT;
	return 0;
}

/* Per-process usage in /proc/PID/fdinfo (kernels with drm_driver.show_fdinfo). */
static void __maybe_unused hc_show_fdinfo(struct drm_printer *p, struct drm_file *file)
{
	struct hc_file *hfile = file->driver_priv;
	unsigned long n = 0, i;
	void *ctx;

	mutex_lock(&hfile->lock);
	xa_for_each(&hfile->ctxs, i, ctx)
		n++;
	mutex_unlock(&hfile->lock);
	/* the standard keys (drm-usage-stats.rst), which nvtop and gputop read */
	drm_printf(p, "drm-engine-hc:\t%llu ns\n", hc_file_busy_ns(hfile));
	hc_show_memory_stats(p, file);
	drm_printf(p, "hc-contexts:\t%lu\n", n);
	drm_printf(p, "hc-jobs-completed:\t%lld\n",
		   (long long)atomic64_read(&hfile->jobs_completed));
	drm_printf(p, "hc-tokens:\t%lld\n", (long long)atomic64_read(&hfile->tokens));
	drm_printf(p, "hc-prompt-tokens:\t%lld\n",
		   (long long)atomic64_read(&hfile->prompt_tokens));
}

static const struct drm_ioctl_desc hc_ioctls[] = {
	DRM_IOCTL_DEF_DRV(HC_GET_INFO, hc_ioctl_get_info, HC_IOCTL_FLAGS),
	DRM_IOCTL_DEF_DRV(HC_CTX_CREATE, hc_ioctl_ctx_create, HC_IOCTL_FLAGS),
	DRM_IOCTL_DEF_DRV(HC_CTX_DESTROY, hc_ioctl_ctx_destroy, HC_IOCTL_FLAGS),
	DRM_IOCTL_DEF_DRV(HC_STREAM_CREATE, hc_ioctl_stream_create, HC_IOCTL_FLAGS),
	DRM_IOCTL_DEF_DRV(HC_SUBMIT, hc_ioctl_submit, HC_IOCTL_FLAGS),
	DRM_IOCTL_DEF_DRV(HC_WAIT, hc_ioctl_wait, HC_IOCTL_FLAGS),
	DRM_IOCTL_DEF_DRV(HC_CANCEL, hc_ioctl_cancel, HC_IOCTL_FLAGS),
	DRM_IOCTL_DEF_DRV(HC_GET_TOKENIZER, hc_ioctl_get_tokenizer, HC_IOCTL_FLAGS),
	DRM_IOCTL_DEF_DRV(HC_STREAM_POLLFD, hc_ioctl_stream_pollfd, HC_IOCTL_FLAGS),
};

HC_DEFINE_FOPS(hc_fops);

const struct drm_driver hc_drm_driver = {
	.driver_features = HC_DRIVER_FEATURES,
	.open = hc_open,
	.postclose = hc_postclose,
	HC_DRIVER_FDINFO(hc_show_fdinfo)
	.ioctls = hc_ioctls,
	.num_ioctls = ARRAY_SIZE(hc_ioctls),
	.fops = &hc_fops,
	.name = HC_DRIVER_NAME,
	.desc = HC_DRIVER_DESC,
	.date = HC_DRIVER_DATE,
	.major = HC_DRIVER_MAJOR,
	.minor = HC_DRIVER_MINOR,
};

MODULE_AUTHOR("HC card project");
MODULE_DESCRIPTION(HC_DRIVER_DESC);
MODULE_LICENSE("Dual MIT/GPL");
MODULE_VERSION(HC_DRIVER_VERSION);
