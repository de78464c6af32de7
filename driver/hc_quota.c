// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * hc_accel: quotas. Contexts and card memory (streams, and prompts while their PREFILL is in
 * flight) are charged to the open file and to the process that opened it; opening the node
 * again does not escape the process's limits. A charge holds references on both accounts, so
 * it can be returned after the file is closed (a stream a job still holds is freed later).
 * Limits (module parameters, docs/driver.md): contexts per file (the card's per-function
 * limit), per process (max_contexts_per_process, 0: the same), card memory per file and per
 * process (max_mem_per_file_kb, max_mem_per_process_kb, 0: no limit beyond the card's).
 * Everything is checked and charged under hdev->quota_lock, a leaf.
 */
#include <linux/module.h>
#include <linux/sched.h>
#include <linux/slab.h>

#include "hc_quota.h"

unsigned int hc_max_contexts_per_process;
module_param_named(max_contexts_per_process, hc_max_contexts_per_process, uint, 0644);
MODULE_PARM_DESC(max_contexts_per_process,
		 "Contexts one process may hold open over all its files (0: the card's per-file limit); CTX_CREATE beyond it returns -EMFILE");

unsigned int hc_max_mem_per_file_kb;
module_param_named(max_mem_per_file_kb, hc_max_mem_per_file_kb, uint, 0644);
MODULE_PARM_DESC(max_mem_per_file_kb,
		 "Card memory (KiB) one open file may use for streams and prompts (0: no limit); beyond it -EDQUOT");

unsigned int hc_max_mem_per_process_kb;
module_param_named(max_mem_per_process_kb, hc_max_mem_per_process_kb, uint, 0644);
MODULE_PARM_DESC(max_mem_per_process_kb,
		 "Card memory (KiB) one process may use over all its files (0: no limit); beyond it -EDQUOT");

/* A process account: called with quota_lock held, which it drops (kref_put_lock). */
static void hc_account_release(struct kref *ref)
{
	struct hc_account *acct = container_of(ref, struct hc_account, ref);
	struct hc_device *hdev = acct->hdev;

	list_del(&acct->node);
	spin_unlock(&hdev->quota_lock);
	kfree(acct);
}

/* A file account (never listed): called under quota_lock. */
static void hc_account_free(struct kref *ref)
{
	kfree(container_of(ref, struct hc_account, ref));
}

static void hc_account_put(struct hc_account *acct)
{
	kref_put_lock(&acct->ref, hc_account_release, &acct->hdev->quota_lock);
}

static struct hc_account *hc_account_new(struct hc_device *hdev, pid_t tgid)
{
	struct hc_account *acct = kzalloc(sizeof(*acct), GFP_KERNEL);

	if (!acct)
		return NULL;
	kref_init(&acct->ref);
	acct->hdev = hdev;
	acct->tgid = tgid;
	INIT_LIST_HEAD(&acct->node);
	return acct;
}

int hc_quota_open(struct hc_file *hfile)
{
	struct hc_device *hdev = hfile->hdev;
	pid_t tgid = task_tgid_nr(current);
	struct hc_account *proc, *new;

	hfile->acct = hc_account_new(hdev, 0);
	new = hc_account_new(hdev, tgid);
	if (!hfile->acct || !new) {
		kfree(hfile->acct);
		kfree(new);
		return -ENOMEM;
	}
	spin_lock(&hdev->quota_lock);
	list_for_each_entry(proc, &hdev->procs, node) {
		if (proc->tgid == tgid && kref_get_unless_zero(&proc->ref)) {
			hfile->proc = proc;
			break;
		}
	}
	if (!hfile->proc) {
		list_add(&new->node, &hdev->procs);
		hfile->proc = new;
		new = NULL;
	}
	spin_unlock(&hdev->quota_lock);
	kfree(new);
	return 0;
}

void hc_quota_close(struct hc_file *hfile)
{
	struct hc_device *hdev = hfile->hdev;

	spin_lock(&hdev->quota_lock);
	kref_put(&hfile->acct->ref, hc_account_free);	/* never listed */
	spin_unlock(&hdev->quota_lock);
	hc_account_put(hfile->proc);
}

static u32 hc_proc_context_limit(struct hc_device *hdev)
{
	return hc_max_contexts_per_process ?: hdev->max_contexts_per_file;
}

int hc_quota_charge(struct hc_file *hfile, struct hc_charge *c, u32 contexts, u64 mem)
{
	struct hc_device *hdev = hfile->hdev;
	struct hc_account *f = hfile->acct, *p = hfile->proc;
	u64 file_mem = (u64)READ_ONCE(hc_max_mem_per_file_kb) << 10;
	u64 proc_mem = (u64)READ_ONCE(hc_max_mem_per_process_kb) << 10;
	int ret = 0;

	memset(c, 0, sizeof(*c));
	spin_lock(&hdev->quota_lock);
	if (contexts && (f->contexts + contexts > hdev->max_contexts_per_file ||
			 p->contexts + contexts > hc_proc_context_limit(hdev))) {
		ret = -EMFILE;
	} else if (mem && ((file_mem && f->mem + mem > file_mem) ||
			   (proc_mem && p->mem + mem > proc_mem))) {
		ret = -EDQUOT;
	} else {
		f->contexts += contexts;
		p->contexts += contexts;
		f->mem += mem;
		p->mem += mem;
		kref_get(&f->ref);
		kref_get(&p->ref);
		c->file = f;
		c->proc = p;
		c->contexts = contexts;
		c->mem = mem;
	}
	spin_unlock(&hdev->quota_lock);
	return ret;
}

void hc_quota_uncharge(struct hc_charge *c)
{
	struct hc_device *hdev;

	if (!c->file)
		return;
	hdev = c->file->hdev;
	spin_lock(&hdev->quota_lock);
	c->file->contexts -= c->contexts;
	c->proc->contexts -= c->contexts;
	c->file->mem -= c->mem;
	c->proc->mem -= c->mem;
	kref_put(&c->file->ref, hc_account_free);
	spin_unlock(&hdev->quota_lock);
	hc_account_put(c->proc);
	c->file = NULL;
	c->proc = NULL;
}
