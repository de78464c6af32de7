/* SPDX-License-Identifier: GPL-2.0 OR MIT */
/*
 * hc_accel: jobs on the card's queue pair (hc_job.c) and contexts (hc_ctx.c).
 */
#ifndef HC_JOB_H
#define HC_JOB_H

#include <linux/completion.h>
#include <linux/kref.h>
#include "hc_drv.h"
#include "hc_gem.h"
#include "hc_quota.h"

/* A context: one KV slot on the card plus the process's submission/completion rings. */
struct hc_ctx {
	struct kref ref;
	struct hc_device *hdev;
	struct hc_file *hfile;		/* valid while jobs of the context exist */
	struct list_head node;		/* hc_device.ctx_list */
	u32 handle;			/* per file */
	u32 card_id;			/* the card's context id */
	bool lost;			/* the card context is gone (card reset) */
	bool closing;
	struct hc_bo *ring_bo;
	struct hc_ring usq;		/* process produces, driver consumes (local = head) */
	struct hc_ring ucq;		/* driver produces (local = tail), process consumes */
	struct mutex submit_lock;
	spinlock_t cq_lock;
	u32 inflight;			/* jobs not yet completed (cq_lock) */
	struct hc_charge charge;	/* one context against the quotas */
};

/* What SUBMIT takes from a ring entry before it takes any lock: the validated entry and its
 * prompt, copied from the process. */
struct hc_job_args {
	struct drm_hc_job uj;
	u32 *tokens;			/* PREFILL: kvmalloc()ed copy of the prompt */
};

/* A job on the card. user_data on the card is @id; the process's user_data is kept here. */
struct hc_job {
	u32 id;
	bool internal;			/* the driver waits for it (open/close) */
	u8 opcode;
	struct hc_ctx *ctx;		/* holds a reference; NULL for fire-and-forget jobs */
	u64 user_data;
	unsigned long queued_at;	/* jiffies */
	struct hc_bo *stream;		/* DECODE: reference held while in flight */
	struct drm_mm_node prompt;	/* PREFILL: token ids in card memory */
	struct hc_charge charge;	/* PREFILL: that card memory against the quotas */
	struct completion done;		/* internal */
	struct hc_cqe cqe;		/* internal: the completion */
	bool busy;			/* counted in its file's drm-engine-hc time */
	bool orphan;			/* internal: its waiter was killed (cq_lock) */
};

int hc_job_queue(struct hc_device *hdev, struct hc_job *job, struct hc_sqe *sqe);
void hc_job_kick(struct hc_device *hdev);
void hc_job_complete(struct hc_device *hdev, struct hc_job *job, const struct hc_cqe *cqe);
void hc_job_fail(struct hc_device *hdev, struct hc_job *job, u16 reason);
void hc_job_abort_all(struct hc_device *hdev, struct hc_ctx *only, u16 reason);
int hc_job_run_internal(struct hc_device *hdev, struct hc_ctx *ctx, struct hc_sqe *sqe,
			struct hc_cqe *cqe, u32 *gen);
int hc_job_run_open(struct hc_device *hdev, struct hc_sqe *sqe, struct hc_cqe *cqe, u32 *gen);
void hc_job_orphans_init(struct hc_device *hdev);
void hc_job_orphans_fini(struct hc_device *hdev);
void hc_cq_process(struct hc_device *hdev);

struct hc_ctx *hc_ctx_lookup(struct drm_file *file, u32 handle);
void hc_ctx_put(struct hc_ctx *ctx);
void hc_ctx_post_cqe(struct hc_ctx *ctx, u64 user_data, const struct hc_cqe *cqe);
void hc_ctx_close_all(struct drm_file *file);
void hc_ctx_mark_all_lost(struct hc_device *hdev);

/* hc_recovery.c */
void hc_recovery_init(struct hc_device *hdev);
void hc_recovery_arm(struct hc_device *hdev);
void hc_recovery_fini(struct hc_device *hdev);
int hc_recover(struct hc_device *hdev, const char *why);
extern const struct pci_error_handlers hc_pci_err_handlers;

/* hc_coredump.c */
void hc_coredump(struct hc_device *hdev, const char *why);

/* hc_irq.c */
int hc_irq_init(struct hc_device *hdev);
void hc_irq_fini(struct hc_device *hdev);
void hc_irq_disable(struct hc_device *hdev);
void hc_irq_enable(struct hc_device *hdev);
void hc_irq_poll_kick(struct hc_device *hdev);

#endif /* HC_JOB_H */
