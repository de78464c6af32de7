/* SPDX-License-Identifier: GPL-2.0 OR MIT */
/*
 * hc_accel: the driver-wide structures (docs/driver.md).
 *
 * Locking, outermost first (as the code nests them):
 *   hc_ctx.submit_lock (mutex)     one SUBMIT or close at a time per context (consumes its
 *                                  ring); user copies happen under it and under nothing else
 *   hc_device.reset_lock (rwsem)   read: checking a context's card id and queueing work on
 *                                  the card; write: recovery, lost-completion cleanup
 *   hc_device.cq_lock (mutex)      consuming the card's completion queue; owning jobs taken
 *                                  out of hc_device.jobs (every walker of it holds cq_lock)
 *   hc_device.mm_lock (mutex)      card-memory allocator
 *   hc_device.sq_lock (spinlock)   producing into the card's submission queue
 *   hc_ctx.cq_lock (spinlock)      producing into a context's completion ring
 *   hc_file.lock (mutex)           a file's context table; only quota_lock under it
 *   hc_device.ctx_lock, hc_device.quota_lock (spinlocks): leaves
 * No lock is held across a copy from or to user memory, except submit_lock for the prompt.
 */
#ifndef HC_DRV_H
#define HC_DRV_H

#include <linux/atomic.h>
#include <linux/ktime.h>
#include <linux/mutex.h>
#include <linux/rwsem.h>
#include <linux/spinlock.h>
#include <linux/wait.h>
#include <linux/workqueue.h>
#include <linux/xarray.h>
#include <drm/drm_device.h>
#include <drm/drm_file.h>
#include <drm/drm_mm.h>

#include <uapi/hc_card.h>
#include <uapi/hc_ring.h>
#include <uapi/drm/hc_accel.h>

#define HC_DRIVER_NAME		"hc_accel"
#define HC_DRIVER_DESC		"HC card inference accelerator"
#define HC_DRIVER_VERSION	"1.1.0"	/* the project's version (include/hc/hc_version.h) */
#define HC_DRIVER_DATE		"20261128"
#define HC_DRIVER_MAJOR		0
#define HC_DRIVER_MINOR		1

/* Queue pair the driver uses on the card, and the sizes it asks for. */
#define HC_QP			0
#define HC_CARD_SQ_ENTRIES	256
#define HC_MAX_VECTORS		4

/* Module parameters (hc_drv.c). */
extern unsigned int hc_hang_timeout_ms;
extern unsigned int hc_job_timeout_ms;
extern unsigned int hc_reset_timeout_ms;
extern bool hc_disable_recovery;
extern unsigned int hc_card_peer;
extern unsigned int hc_max_jobs_per_context;

/* Card capabilities the driver supports and reports in GET_INFO (HC_CAP_COALESCE: no UAPI). */
#define HC_DRIVER_CAPS		(HC_CAP_TRANSPORT_PCI | HC_CAP_TOKENIZER | HC_CAP_WAKEUP_DELAY | \
				 HC_CAP_FAULT_INJECTION)

/* Card queue slots (in flight and in the SQ) kept for the driver's own jobs (context
 * open/close, cancel), so that no process can fill the queue and block the others'
 * CTX_CREATE, CANCEL or destroy. */
#define HC_INTERNAL_SLOTS	32
/* TEST ONLY (debugfs fault_dma): added to a stream's bus address, far beyond any host RAM. */
#define HC_FAULT_DMA_OFFSET	(1ULL << 46)

struct hc_device {
	struct drm_device drm;
	struct pci_dev *pdev;

	/* Hardware (hc_hw.c). */
	void __iomem *mmio;		/* ivshmem BAR0: doorbell registers */
	struct hc_card_regs *regs;	/* card memory: the register page at its start */
	void *mem;			/* card memory (BAR2), memremap()ed write-back */
	resource_size_t mem_phys;
	u64 mem_size;
	u64 data_offset;		/* first host-managed byte of card memory */
	struct hc_card_regs ident;	/* identity and limits, copied once at probe */
	void *tok_blob;			/* the ROM tokenizer (HC_CAP_TOKENIZER), copied at probe */
	u64 tok_size;

	/* Card-memory allocator for rings, streams and prompts. */
	struct mutex mm_lock;
	struct drm_mm mm;
	u64 mem_used;			/* bytes allocated in @mm (mm_lock) */

	/* The driver's queue pair on the card. */
	spinlock_t sq_lock;
	struct mutex cq_lock;
	struct hc_ring sq;		/* driver produces */
	struct hc_ring cq;		/* driver consumes */
	struct drm_mm_node sq_node;
	struct drm_mm_node cq_node;	/* the CQ in card memory, without cq_host */
	void *cq_host;			/* ...or in host memory the card writes by DMA */
	dma_addr_t cq_dma;		/* its bus address */
	u32 sq_entries;
	u32 cq_entries;
	u32 ctrl_seq;

	/* Interrupts (hc_irq.c). */
	int nvec;
	bool msix;
	bool polling;			/* no interrupts at all: poll_work consumes the CQ */
	struct delayed_work poll_work;
	u32 qp_vector;

	/* Card contexts opened for a CTX_CREATE whose caller was killed meanwhile: closed by
	 * orphan_work (hc_job.c). */
	spinlock_t orphan_lock;
	struct list_head orphans;
	struct work_struct orphan_work;

	/* Jobs in flight on the card, by card user_data (hc_job.c). */
	struct xarray jobs;
	u32 next_job_id;
	atomic_t inflight;		/* all jobs on the card */
	atomic_t user_inflight;		/* of which processes' (<= cq_entries - HC_INTERNAL_SLOTS) */
	wait_queue_head_t wq;		/* completions, stream progress, control acks */

	/* Quotas (hc_quota.c): accounts of the processes that have the device open. */
	spinlock_t quota_lock;
	struct list_head procs;

	/* All contexts of all files, for recovery (hc_ctx.c). */
	spinlock_t ctx_lock;
	struct list_head ctx_list;
	atomic_t n_ctx;
	u32 max_contexts_per_file;

	/* Hang detection and recovery (hc_recovery.c). */
	struct rw_semaphore reset_lock;
	u32 reset_gen;			/* card resets so far (written under reset_lock) */
	u32 queued_gen;			/* jobs queued so far, for the lost-completion check */
	u32 idle_gen;			/* queued_gen at the first idle observation */
	struct delayed_work hang_work;
	u64 last_heartbeat;
	unsigned long last_heartbeat_change;	/* jiffies */
	bool dead;			/* reset failed or device removed */
	unsigned int idle_checks;	/* hang work: card idle while jobs remain */
	bool pci_reset_held;		/* a PCI reset or error holds reset_lock (hc_recovery.c) */

	/* Driver counters, exposed in sysfs. */
	atomic64_t jobs_submitted;
	atomic64_t jobs_timed_out;
	atomic64_t jobs_lost;
	atomic64_t resets;
	atomic64_t spurious_cqes;
	atomic64_t wait_spurious;	/* WAITs woken with nothing changed for them (debugfs) */
	atomic64_t poll_wakeups;	/* wake-ups of hdev->wq a poll fd passed on (debugfs) */
	atomic64_t poll_filtered;	/* ... and kept from its pollers: nothing for them */
	atomic64_t host_mem_used;	/* bytes of host memory the card writes (CQ, streams) */
	atomic64_t dma_faults;		/* jobs the card failed with HC_REASON_DMA_FAULT */
	atomic_t fault_dma;		/* TEST ONLY (debugfs): DECODEs to give a bad bus address */
	atomic64_t streams_host;	/* streams created in host memory (DMA) (debugfs) */
	atomic64_t streams_card;	/* ... and in card memory */

	struct device *hwmon;
};

static inline struct hc_device *to_hc_device(struct drm_device *drm)
{
	return container_of(drm, struct hc_device, drm);
}

struct hc_account;

/* Per open file: its contexts. Streams are GEM objects in the file's handle table. */
struct hc_file {
	struct hc_device *hdev;
	struct mutex lock;
	struct xarray ctxs;		/* handle -> struct hc_ctx */
	struct hc_account *acct;	/* this file's use (hc_quota.c) */
	struct hc_account *proc;	/* its opener's, shared by the process's files */
	/* Usage for fdinfo (Documentation/gpu/drm-usage-stats.rst). */
	atomic64_t jobs_completed;
	atomic64_t tokens;
	atomic64_t prompt_tokens;
	/* drm-engine-hc: time the card held at least one of this file's jobs */
	spinlock_t busy_lock;
	unsigned int busy_jobs;
	ktime_t busy_since;
	u64 busy_ns;
};

void hc_file_busy(struct hc_file *hfile, bool begin);
u64 hc_file_busy_ns(struct hc_file *hfile);

#define hc_dbg(hdev, fmt, ...)	drm_dbg_driver(&(hdev)->drm, fmt, ##__VA_ARGS__)
#define hc_info(hdev, fmt, ...)	drm_info(&(hdev)->drm, fmt, ##__VA_ARGS__)
#define hc_err(hdev, fmt, ...)	drm_err(&(hdev)->drm, fmt, ##__VA_ARGS__)

/* hc_drv.c */
int hc_drm_register(struct hc_device *hdev);
void hc_drm_unregister(struct hc_device *hdev);
extern const struct drm_driver hc_drm_driver;

/* hc_sysfs.c, hc_hwmon.c, hc_debugfs.c */
extern const struct attribute_group *hc_dev_groups[];
int hc_hwmon_init(struct hc_device *hdev);
void hc_debugfs_init(struct hc_device *hdev);

/* hc_ioctl handlers (hc_ctx.c, hc_gem.c, hc_job.c) */
int hc_ioctl_get_info(struct drm_device *drm, void *data, struct drm_file *file);
int hc_ioctl_ctx_create(struct drm_device *drm, void *data, struct drm_file *file);
int hc_ioctl_ctx_destroy(struct drm_device *drm, void *data, struct drm_file *file);
int hc_ioctl_stream_create(struct drm_device *drm, void *data, struct drm_file *file);
int hc_ioctl_submit(struct drm_device *drm, void *data, struct drm_file *file);
int hc_ioctl_wait(struct drm_device *drm, void *data, struct drm_file *file);
int hc_ioctl_cancel(struct drm_device *drm, void *data, struct drm_file *file);
int hc_ioctl_get_tokenizer(struct drm_device *drm, void *data, struct drm_file *file);
int hc_ioctl_stream_pollfd(struct drm_device *drm, void *data, struct drm_file *file);

#endif /* HC_DRV_H */
