// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * hc_accel: debugfs, in the DRM minor's directory (debugfs accel/N or dri/N).
 *   ring_state      queue-pair indices, where the CQ is, jobs in flight, heartbeat, card status
 *   force_recovery  write 1: run the recovery path now
 *   fault_dma       TEST ONLY: the next N DECODEs name their stream at a bus address outside
 *                   host memory (the card refuses them: HC_REASON_DMA_FAULT)
 *   fault_*         TEST ONLY: the card's fault-injection controls (struct hc_card_fault),
 *                   honoured only when the card advertises HC_CAP_FAULT_INJECTION
 */
#include <linux/debugfs.h>
#include <linux/seq_file.h>
#include <linux/uaccess.h>
#include <drm/drm_drv.h>
#include <drm/drm_file.h>

#include "hc_hw.h"
#include "hc_job.h"

static int hc_ring_state_show(struct seq_file *m, void *unused)
{
	struct hc_device *hdev = m->private;
	struct hc_card_qp *qp = &hdev->regs->qp[HC_QP];
	int idx;

	/* Card memory goes away with the device (devm): read it only inside drm_dev_enter(). */
	if (!drm_dev_enter(&hdev->drm, &idx)) {
		seq_puts(m, "device removed\n");
		return 0;
	}
	seq_printf(m, "status: %u error: %u heartbeat: %llu\n", hc_hw_status(hdev),
		   READ_ONCE(hdev->regs->error), hc_hw_heartbeat(hdev));
	if (hdev->sq.hdr) {
		seq_printf(m, "sq: entries %u head %u tail %u\n", hdev->sq_entries,
			   READ_ONCE(hdev->sq.hdr->head), READ_ONCE(hdev->sq.hdr->tail));
		seq_printf(m, "cq: entries %u head %u tail %u in %s\n", hdev->cq_entries,
			   READ_ONCE(hdev->cq.hdr->head), READ_ONCE(hdev->cq.hdr->tail),
			   hdev->cq_host ? "host memory (DMA)" : "card memory");
	}
	seq_printf(m, "qp: state %u error %u card_inflight %u\n", READ_ONCE(qp->state),
		   READ_ONCE(qp->error), READ_ONCE(qp->jobs_inflight));
	drm_dev_exit(idx);
	seq_printf(m, "driver: inflight %d contexts %d resets %lld lost %lld spurious %lld\n",
		   atomic_read(&hdev->inflight), atomic_read(&hdev->n_ctx),
		   (long long)atomic64_read(&hdev->resets),
		   (long long)atomic64_read(&hdev->jobs_lost),
		   (long long)atomic64_read(&hdev->spurious_cqes));
	seq_printf(m, "streams_host: %lld streams_card: %lld dma_faults: %lld\n",
		   (long long)atomic64_read(&hdev->streams_host),
		   (long long)atomic64_read(&hdev->streams_card),
		   (long long)atomic64_read(&hdev->dma_faults));
	seq_printf(m, "wait_spurious: %lld poll_wakeups: %lld poll_filtered: %lld\n",
		   (long long)atomic64_read(&hdev->wait_spurious),
		   (long long)atomic64_read(&hdev->poll_wakeups),
		   (long long)atomic64_read(&hdev->poll_filtered));
	return 0;
}
DEFINE_SHOW_ATTRIBUTE(hc_ring_state);

static ssize_t hc_force_recovery_write(struct file *file, const char __user *buf, size_t len,
				       loff_t *pos)
{
	struct hc_device *hdev = file->private_data;
	bool yes;
	int ret;

	ret = kstrtobool_from_user(buf, len, &yes);
	if (ret)
		return ret;
	if (yes) {
		ret = hc_recover(hdev, "forced");
		if (ret)
			return ret;
	}
	return len;
}

static const struct file_operations hc_force_recovery_fops = {
	.owner = THIS_MODULE,
	.open = simple_open,
	.write = hc_force_recovery_write,
};

/* Fault knobs: write a count, the driver bumps fault.seq and rings the control doorbell. */
static int hc_fault_set(struct hc_device *hdev, size_t off, u64 val)
{
	struct hc_card_fault *f = &hdev->regs->fault;
	int idx;

	if (!(hdev->ident.caps & HC_CAP_FAULT_INJECTION))
		return -EOPNOTSUPP;
	if (val > U32_MAX)
		return -EINVAL;
	if (!drm_dev_enter(&hdev->drm, &idx))
		return -ENODEV;
	WRITE_ONCE(*(u32 *)((u8 *)f + off), (u32)val);
	smp_store_release(&f->seq, READ_ONCE(f->seq) + 1);
	hc_hw_doorbell(hdev, HC_DOORBELL_CONTROL);
	drm_dev_exit(idx);
	return 0;
}

#define HC_FAULT_ATTR(name)							\
static int hc_fault_##name##_get(void *data, u64 *val)			\
{										\
	struct hc_device *hdev = data;						\
	int idx;								\
										\
	if (!drm_dev_enter(&hdev->drm, &idx))					\
		return -ENODEV;							\
	*val = READ_ONCE(hdev->regs->fault.name);				\
	drm_dev_exit(idx);							\
	return 0;								\
}										\
static int hc_fault_##name##_set(void *data, u64 val)				\
{										\
	return hc_fault_set(data, offsetof(struct hc_card_fault, name), val);	\
}										\
DEFINE_DEBUGFS_ATTRIBUTE(hc_fault_##name##_fops, hc_fault_##name##_get,	\
			 hc_fault_##name##_set, "%llu\n")

HC_FAULT_ATTR(stall);
HC_FAULT_ATTR(stall_after_tokens);
HC_FAULT_ATTR(drop_irqs);
HC_FAULT_ATTR(corrupt_cqes);

/* The driver's own DMA fault: only where streams are in host memory (HC_CAP_HOST_MEMORY). */
static int hc_fault_dma_get(void *data, u64 *val)
{
	struct hc_device *hdev = data;

	*val = atomic_read(&hdev->fault_dma);
	return 0;
}

static int hc_fault_dma_set(void *data, u64 val)
{
	struct hc_device *hdev = data;

	if (!hdev->cq_host)
		return -EOPNOTSUPP;
	if (val > INT_MAX)
		return -EINVAL;
	atomic_set(&hdev->fault_dma, (int)val);
	return 0;
}
DEFINE_DEBUGFS_ATTRIBUTE(hc_fault_dma_fops, hc_fault_dma_get, hc_fault_dma_set, "%llu\n");

void hc_debugfs_init(struct hc_device *hdev)
{
	struct dentry *root = hc_debugfs_root(&hdev->drm);

	if (IS_ERR_OR_NULL(root))
		return;
	debugfs_create_file("ring_state", 0444, root, hdev, &hc_ring_state_fops);
	debugfs_create_file("force_recovery", 0200, root, hdev, &hc_force_recovery_fops);
	debugfs_create_file_unsafe("fault_dma", 0600, root, hdev, &hc_fault_dma_fops);
	debugfs_create_file_unsafe("fault_stall", 0600, root, hdev, &hc_fault_stall_fops);
	debugfs_create_file_unsafe("fault_stall_after_tokens", 0600, root, hdev,
				   &hc_fault_stall_after_tokens_fops);
	debugfs_create_file_unsafe("fault_drop_irqs", 0600, root, hdev, &hc_fault_drop_irqs_fops);
	debugfs_create_file_unsafe("fault_corrupt_cqes", 0600, root, hdev,
				   &hc_fault_corrupt_cqes_fops);
}
