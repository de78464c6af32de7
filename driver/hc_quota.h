/* SPDX-License-Identifier: GPL-2.0 OR MIT */
/*
 * hc_accel: quotas of contexts and card memory per open file and per process (hc_quota.c).
 */
#ifndef HC_QUOTA_H
#define HC_QUOTA_H

#include <linux/kref.h>
#include <linux/list.h>
#include "hc_drv.h"

/* What a file or a process holds (quota_lock). */
struct hc_account {
	struct kref ref;
	struct hc_device *hdev;
	pid_t tgid;			/* process accounts; 0 for a file's */
	struct list_head node;		/* hc_device.procs (process accounts) */
	u32 contexts;
	u64 mem;			/* bytes of card memory */
};

/* One charge against a file's and its process's accounts, returned by hc_quota_uncharge(). */
struct hc_charge {
	struct hc_account *file;	/* NULL: nothing charged */
	struct hc_account *proc;
	u32 contexts;
	u64 mem;
};

extern unsigned int hc_max_contexts_per_process;
extern unsigned int hc_max_mem_per_file_kb;
extern unsigned int hc_max_mem_per_process_kb;

int hc_quota_open(struct hc_file *hfile);
void hc_quota_close(struct hc_file *hfile);
/* -EMFILE (a context limit) or -EDQUOT (a memory limit), else charged. */
int hc_quota_charge(struct hc_file *hfile, struct hc_charge *c, u32 contexts, u64 mem);
void hc_quota_uncharge(struct hc_charge *c);

#endif /* HC_QUOTA_H */
