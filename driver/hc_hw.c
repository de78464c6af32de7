// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * hc_accel: register page, doorbells, queue-pair setup and card reset.
 * Control changes follow the card interface: write the fields, store-release the sequence
 * number, ring HC_DOORBELL_CONTROL, wait for the card's acknowledgement (HC_IRQ_CONTROL wakes
 * us; we also poll, so a lost interrupt only costs a few milliseconds).
 */
#include <linux/delay.h>
#include <linux/dma-mapping.h>
#include <linux/io.h>
#include <linux/jiffies.h>
#include <linux/sched.h>
#include <linux/slab.h>
#include <drm/drm_managed.h>

#include "hc_hw.h"

bool hc_hw_signature_ok(void __iomem *bar2, resource_size_t len)
{
	if (len < HC_CARD_REGS_SIZE)
		return false;
	return readq(bar2) == HC_CARD_MAGIC;
}

/* Wait up to @ms for @cond, woken by interrupts and re-checked every 10 ms. */
#define hc_hw_wait_for(hdev, cond, ms) ({					\
	unsigned long __end = jiffies + msecs_to_jiffies(ms);			\
	bool __ok;								\
	while (!(__ok = (cond)) && time_before(jiffies, __end))		\
		wait_event_timeout((hdev)->wq, (cond), msecs_to_jiffies(10));	\
	__ok; })

void hc_hw_doorbell(struct hc_device *hdev, u32 vector)
{
	/* Card memory is ordinary write-back memory: order it before the MMIO write. */
	wmb();
	writel((hc_card_peer << 16) | vector, hdev->mmio + IVSHMEM_DOORBELL);
}

u64 hc_hw_heartbeat(struct hc_device *hdev)
{
	return hc_reg_read64(hdev, heartbeat);
}

u32 hc_hw_status(struct hc_device *hdev)
{
	return hc_reg_read32(hdev, status);
}

int hc_mem_alloc(struct hc_device *hdev, struct drm_mm_node *node, u64 size, u64 align)
{
	int ret;

	memset(node, 0, sizeof(*node));
	mutex_lock(&hdev->mm_lock);
	ret = drm_mm_insert_node_in_range(&hdev->mm, node, size, align, 0, hdev->data_offset,
					  hdev->mem_size, DRM_MM_INSERT_BEST);
	if (!ret)
		hdev->mem_used += node->size;
	mutex_unlock(&hdev->mm_lock);
	return ret;
}

void hc_mem_free(struct hc_device *hdev, struct drm_mm_node *node)
{
	mutex_lock(&hdev->mm_lock);
	if (drm_mm_node_allocated(node)) {
		hdev->mem_used -= node->size;
		drm_mm_remove_node(node);
	}
	mutex_unlock(&hdev->mm_lock);
}

static u64 hc_hw_cq_bytes(struct hc_device *hdev)
{
	return HC_RING_BYTES(hdev->cq_entries, sizeof(struct hc_cqe));
}

/* Check what the card claims against what we mapped before trusting any of it. */
static int hc_hw_check_ident(struct hc_device *hdev)
{
	struct hc_card_regs *id = &hdev->ident;

	memcpy(id, hdev->regs, sizeof(*id));
	if (id->version != HC_CARD_VERSION || id->regs_size != HC_CARD_REGS_SIZE) {
		hc_err(hdev, "card interface version %u (regs %u bytes) unsupported\n",
		       id->version, id->regs_size);
		return -ENODEV;
	}
	if (id->mem_size > hdev->mem_size || id->data_offset < HC_CARD_REGS_SIZE ||
	    id->data_offset >= id->mem_size) {
		hc_err(hdev, "card memory layout invalid (mem %llu, data at %llu, BAR %llu)\n",
		       id->mem_size, id->data_offset, hdev->mem_size);
		return -ENODEV;
	}
	if (id->n_queue_pairs < 1 || id->n_queue_pairs > HC_CARD_MAX_QP ||
	    id->max_sq_entries < 1 || id->max_cq_entries < 2 || id->n_irq_vectors < 1 ||
	    id->n_doorbells < 2 || id->max_stream_entries < 1) {
		hc_err(hdev, "card limits invalid\n");
		return -ENODEV;
	}
	id->model_name[HC_CARD_NAME_LEN - 1] = '\0';
	hdev->mem_size = id->mem_size;
	hdev->data_offset = id->data_offset;
	return 0;
}

/* Clear our ring headers and (re)configure queue pair HC_QP; wait for the card's ack. */
int hc_hw_qp_enable(struct hc_device *hdev)
{
	struct hc_card_qp *qp = &hdev->regs->qp[HC_QP];
	void *cq = hdev->cq_host ?: hc_mem_ptr(hdev, hdev->cq_node.start);
	u64 cq_addr = hdev->cq_host ? hdev->cq_dma : hdev->cq_node.start;
	u32 seq;

	memset(hc_mem_ptr(hdev, hdev->sq_node.start), 0, hdev->sq_node.size);
	memset(cq, 0, hc_hw_cq_bytes(hdev));
	hc_ring_init(&hdev->sq, hc_mem_ptr(hdev, hdev->sq_node.start), hdev->sq_entries,
		     sizeof(struct hc_sqe));
	hc_ring_init(&hdev->cq, cq, hdev->cq_entries, sizeof(struct hc_cqe));
	/* We always sleep on the CQ: ask the card to interrupt after every completion batch. */
	if (!hdev->polling)
		hc_ring_store(&hdev->cq.hdr->consumer_flags, HC_RING_CONSUMER_NEED_WAKEUP);

	/* Continue the card's sequence: a previous driver instance may have used it. */
	hdev->ctrl_seq = READ_ONCE(qp->ctrl_seq);
	WRITE_ONCE(qp->sq_offset, hdev->sq_node.start);
	WRITE_ONCE(qp->cq_offset, cq_addr);
	WRITE_ONCE(qp->sq_entries, hdev->sq_entries);
	WRITE_ONCE(qp->cq_entries, hdev->cq_entries);
	WRITE_ONCE(qp->irq_vector, hdev->qp_vector);
	WRITE_ONCE(qp->ctrl, HC_QP_CTRL_ENABLE | (hdev->cq_host ? HC_QP_CTRL_CQ_HOST : 0));
	WRITE_ONCE(qp->coalesce_count, 0);
	WRITE_ONCE(qp->coalesce_usec, 0);
	memset(qp->host_reserved, 0, sizeof(qp->host_reserved));
	seq = ++hdev->ctrl_seq;
	smp_store_release(&qp->ctrl_seq, seq);
	hc_hw_doorbell(hdev, HC_DOORBELL_CONTROL);

	if (!hc_hw_wait_for(hdev, smp_load_acquire(&qp->ack_seq) == seq, hc_reset_timeout_ms)) {
		hc_err(hdev, "card did not acknowledge queue pair %d setup\n", HC_QP);
		return -ETIMEDOUT;
	}
	if (READ_ONCE(qp->state) != HC_QP_STATE_ENABLED) {
		hc_err(hdev, "card refused queue pair %d: state %u error %u\n", HC_QP,
		       READ_ONCE(qp->state), READ_ONCE(qp->error));
		return -EIO;
	}
	return 0;
}

/*
 * Reset the whole card through its register interface: it abandons every job without a
 * completion, closes every context and disables every queue pair.
 */
int hc_hw_reset(struct hc_device *hdev)
{
	struct hc_card_regs *regs = hdev->regs;
	u64 req = READ_ONCE(regs->reset_done) + 1;

	smp_store_release(&regs->reset_request, req);
	hc_hw_doorbell(hdev, HC_DOORBELL_CONTROL);
	if (!hc_hw_wait_for(hdev, smp_load_acquire(&regs->reset_done) == req,
			    hc_reset_timeout_ms)) {
		hc_err(hdev, "card did not complete reset %llu\n", req);
		return -ETIMEDOUT;
	}
	if (!hc_hw_wait_for(hdev, hc_hw_status(hdev) == HC_CARD_STATUS_READY,
			    hc_reset_timeout_ms)) {
		hc_err(hdev, "card not ready after reset (status %u)\n", hc_hw_status(hdev));
		return -EIO;
	}
	return 0;
}

#define HC_TOKENIZER_MAX	(64u << 20)

static void hc_hw_tok_release(struct drm_device *drm, void *arg)
{
	kvfree(arg);
}

/* Keep a copy of the ROM tokenizer: processes fetch it with GET_TOKENIZER. */
static int hc_hw_copy_tokenizer(struct hc_device *hdev)
{
	const struct hc_card_regs *id = &hdev->ident;
	u64 off = id->tokenizer_offset, len = id->tokenizer_size;

	if (!(id->caps & HC_CAP_TOKENIZER) || !len)
		return 0;
	if (off < HC_CARD_REGS_SIZE || off > id->data_offset || len > id->data_offset - off ||
	    len > HC_TOKENIZER_MAX) {
		hc_err(hdev, "card tokenizer at %llu (+%llu) outside its area\n", off, len);
		return -ENODEV;
	}
	hdev->tok_blob = kvmalloc(len, GFP_KERNEL);
	if (!hdev->tok_blob)
		return -ENOMEM;
	memcpy(hdev->tok_blob, hc_mem_ptr(hdev, off), len);
	hdev->tok_size = len;
	return drmm_add_action_or_reset(&hdev->drm, hc_hw_tok_release, hdev->tok_blob);
}

/* Buffer objects may outlive the PCI device; the allocator lives as long as the drm_device. */
static void hc_hw_mm_release(struct drm_device *drm, void *arg)
{
	struct hc_device *hdev = arg;

	drm_mm_takedown(&hdev->mm);
}

int hc_hw_init(struct hc_device *hdev)
{
	int ret;

	hdev->regs = hdev->mem;
	ret = hc_hw_check_ident(hdev);
	if (ret)
		return ret;
	drm_mm_init(&hdev->mm, hdev->data_offset, hdev->mem_size - hdev->data_offset);
	ret = drmm_add_action_or_reset(&hdev->drm, hc_hw_mm_release, hdev);
	if (ret)
		return ret;
	ret = hc_hw_copy_tokenizer(hdev);
	if (ret)
		return ret;

	/* Start from a clean card: a previous driver instance may have left work behind. */
	ret = hc_hw_reset(hdev);
	if (ret)
		return ret;

	hdev->sq_entries = min_t(u32, HC_CARD_SQ_ENTRIES,
				 rounddown_pow_of_two(hdev->ident.max_sq_entries));
	hdev->cq_entries = min_t(u32, 2 * hdev->sq_entries,
				 rounddown_pow_of_two(hdev->ident.max_cq_entries));
	ret = hc_mem_alloc(hdev, &hdev->sq_node,
			   HC_RING_BYTES(hdev->sq_entries, sizeof(struct hc_sqe)), PAGE_SIZE);
	if (ret)
		return ret;
	/*
	 * Completions in host memory when the card can put them there (HC_CAP_HOST_MEMORY): it
	 * writes them by DMA, and the interrupt path reads RAM instead of the BAR (on a real
	 * card, uncached reads across the bus). Device-managed: freed after remove, which has
	 * reset the card (no more writes) by then.
	 */
	if (hdev->ident.caps & HC_CAP_HOST_MEMORY)
		hdev->cq_host = dmam_alloc_coherent(hdev->drm.dev, hc_hw_cq_bytes(hdev),
						    &hdev->cq_dma, GFP_KERNEL);
	if (hdev->cq_host) {
		atomic64_add(hc_hw_cq_bytes(hdev), &hdev->host_mem_used);
		return 0;
	}
	ret = hc_mem_alloc(hdev, &hdev->cq_node, hc_hw_cq_bytes(hdev), PAGE_SIZE);
	if (ret) {
		hc_mem_free(hdev, &hdev->sq_node);
		return ret;
	}
	return 0;
}

void hc_hw_fini(struct hc_device *hdev)
{
	hc_mem_free(hdev, &hdev->cq_node);
	hc_mem_free(hdev, &hdev->sq_node);
}
