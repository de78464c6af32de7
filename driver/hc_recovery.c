// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * hc_accel: hang detection and recovery (the ivpu_pm.c pattern).
 *
 * A delayed work runs while jobs are in flight. Each run first consumes completions (so a
 * lost interrupt costs one period), then looks at the card: while its heartbeat advances the
 * work re-arms; when the heartbeat has not moved for hang_timeout_ms, or the card reports an
 * error, or a job outlives job_timeout_ms, the card is recovered in one place: interrupts
 * off, reset through the register interface, every job in flight failed with an error the
 * process can see, every context marked lost, queue pair re-initialised, uevent sent.
 * A job whose completion the card lost (the card is idle but the job is still ours) is
 * failed with DRM_HC_REASON_LOST without a reset.
 *
 * Both run with reset_lock held for writing: every job is queued under it (read), so no job
 * is half-queued while they look, and no context can get a card id across a reset unseen
 * (reset_gen, hc_ctx.c).
 */
#include <linux/jiffies.h>
#include <linux/kobject.h>
#include <linux/pci.h>
#include <linux/workqueue.h>

#include "hc_hw.h"
#include "hc_job.h"

static unsigned long hc_check_period(void)
{
	return msecs_to_jiffies(clamp(hc_hang_timeout_ms / 4, 20u, 1000u));
}

/* Oldest user job and whether it has exceeded job_timeout_ms. */
static struct hc_job *hc_oldest_job(struct hc_device *hdev)
{
	struct hc_job *job, *oldest = NULL;
	unsigned long id;

	xa_for_each(&hdev->jobs, id, job) {
		if (job->internal || !job->ctx)
			continue;
		if (!oldest || time_before(job->queued_at, oldest->queued_at))
			oldest = job;
	}
	return oldest;
}

/* True when the card has nothing of ours left but we still wait for completions. */
static bool hc_card_idle_with_jobs(struct hc_device *hdev)
{
	struct hc_card_qp *qp = &hdev->regs->qp[HC_QP];

	return atomic_read(&hdev->inflight) > 0 && READ_ONCE(qp->jobs_inflight) == 0 &&
	       hc_ring_load_acquire(&hdev->sq.hdr->head) == hdev->sq.local &&
	       hc_ring_cons_avail(&hdev->cq) == 0;
}

static void hc_hang_work(struct work_struct *work)
{
	struct hc_device *hdev = container_of(to_delayed_work(work), struct hc_device, hang_work);
	unsigned long now = jiffies;
	struct hc_job *oldest;
	unsigned long queued_at = 0;
	u64 hb;

	hc_cq_process(hdev);
	if (!atomic_read(&hdev->inflight) || READ_ONCE(hdev->dead)) {
		hdev->idle_checks = 0;
		return;
	}

	hb = hc_hw_heartbeat(hdev);
	if (hb != hdev->last_heartbeat) {
		hdev->last_heartbeat = hb;
		hdev->last_heartbeat_change = now;
	} else if (time_after(now, hdev->last_heartbeat_change +
				   msecs_to_jiffies(hc_hang_timeout_ms))) {
		hc_recover(hdev, "card heartbeat stalled");
		return;
	}
	if (hc_hw_status(hdev) == HC_CARD_STATUS_ERROR) {
		hc_recover(hdev, "card reports an error");
		return;
	}
	if (hc_job_timeout_ms) {
		mutex_lock(&hdev->cq_lock);
		oldest = hc_oldest_job(hdev);
		if (oldest)
			queued_at = oldest->queued_at;
		mutex_unlock(&hdev->cq_lock);
		if (oldest && time_after(now, queued_at + msecs_to_jiffies(hc_job_timeout_ms))) {
			hc_recover(hdev, "job timeout");
			return;
		}
	}
	/*
	 * Two idle observations a period apart with no job queued in between: those completions
	 * are not coming. The second look is under reset_lock (write): nothing is being queued,
	 * and every job still ours was on the card for the whole period.
	 */
	if (hc_card_idle_with_jobs(hdev)) {
		if (hdev->idle_checks++ == 0) {
			hdev->idle_gen = READ_ONCE(hdev->queued_gen);
		} else {
			down_write(&hdev->reset_lock);
			mutex_lock(&hdev->cq_lock);
			if (hdev->queued_gen == hdev->idle_gen && !hdev->dead &&
			    hc_card_idle_with_jobs(hdev)) {
				drm_warn(&hdev->drm, "card lost %d completion(s)\n",
					 atomic_read(&hdev->inflight));
				hc_job_abort_all(hdev, NULL, DRM_HC_REASON_LOST);
			}
			mutex_unlock(&hdev->cq_lock);
			up_write(&hdev->reset_lock);
			hdev->idle_checks = 0;
		}
	} else {
		hdev->idle_checks = 0;
	}
	queue_delayed_work(system_wq, &hdev->hang_work, hc_check_period());
}

void hc_recovery_arm(struct hc_device *hdev)
{
	if (delayed_work_pending(&hdev->hang_work))
		return;
	hdev->last_heartbeat = hc_hw_heartbeat(hdev);
	hdev->last_heartbeat_change = jiffies;
	queue_delayed_work(system_wq, &hdev->hang_work, hc_check_period());
}

void hc_recovery_init(struct hc_device *hdev)
{
	INIT_DELAYED_WORK(&hdev->hang_work, hc_hang_work);
}

void hc_recovery_fini(struct hc_device *hdev)
{
	cancel_delayed_work_sync(&hdev->hang_work);
}

/* Fail the oldest job with TIMEOUT (it is the likely culprit), the rest with RESET. */
static void hc_fail_all_jobs(struct hc_device *hdev, bool timeout)
{
	struct hc_job *oldest = timeout ? hc_oldest_job(hdev) : NULL;

	if (oldest && xa_erase(&hdev->jobs, oldest->id) == oldest) {
		atomic64_inc(&hdev->jobs_timed_out);
		hc_job_fail(hdev, oldest, DRM_HC_REASON_TIMEOUT);
	}
	hc_job_abort_all(hdev, NULL, DRM_HC_REASON_RESET);
}

/*
 * The first half of every reset: take reset_lock for writing (held until hc_reset_end(): no
 * job can be queued), interrupts off, the card reset through its register page (skipped with
 * @card_reset false: the PCI core resets the function itself), every context marked lost,
 * every job failed. -ENODEV (and nothing held) if the device is dead.
 */
static int hc_reset_begin(struct hc_device *hdev, const char *why, bool timeout,
			  bool card_reset)
{
	int ret = 0;

	down_write(&hdev->reset_lock);
	if (hdev->dead) {
		up_write(&hdev->reset_lock);
		return -ENODEV;
	}
	hc_irq_disable(hdev);
	mutex_lock(&hdev->cq_lock);
	if (timeout)	/* a hang, not an administrator's request: keep the evidence */
		hc_coredump(hdev, why);
	if (card_reset)
		ret = hc_hw_reset(hdev);
	/* Counters and context state first: a process may act on its error completion at once. */
	atomic64_inc(&hdev->resets);
	hdev->reset_gen++;
	hc_ctx_mark_all_lost(hdev);
	hc_fail_all_jobs(hdev, timeout);
	hdev->idle_checks = 0;
	mutex_unlock(&hdev->cq_lock);
	return ret;
}

/* The second half: the queue pair set up again (unless @ret already failed), interrupts on,
 * reset_lock released, the uevent sent. A card that does not come back is marked dead. */
static int hc_reset_end(struct hc_device *hdev, int ret)
{
	char *envp[] = { "HC_EVENT=RESET", NULL };

	mutex_lock(&hdev->cq_lock);
	if (!ret)
		ret = hc_hw_qp_enable(hdev);
	if (ret) {
		drm_err(&hdev->drm, "card did not come back from reset (%d); giving up on it\n",
			ret);
		WRITE_ONCE(hdev->dead, true);
	}
	mutex_unlock(&hdev->cq_lock);
	hc_irq_enable(hdev);
	up_write(&hdev->reset_lock);

	kobject_uevent_env(&hdev->drm.dev->kobj, KOBJ_CHANGE, envp);
	wake_up_all(&hdev->wq);
	return ret;
}

int hc_recover(struct hc_device *hdev, const char *why)
{
	bool timeout = strcmp(why, "forced") != 0;
	int ret;

	if (hc_disable_recovery) {
		drm_err_once(&hdev->drm, "%s; recovery disabled by module parameter\n", why);
		return -EPERM;
	}
	drm_err(&hdev->drm, "%s: resetting the card\n", why);
	ret = hc_reset_begin(hdev, why, timeout, true);
	if (ret == -ENODEV)
		return ret;
	return hc_reset_end(hdev, ret);
}

/*
 * A reset of the PCI function (the sysfs reset file, a bus reset): the PCI core calls
 * hc_pci_reset_prepare(), resets the function, restores its config space and calls
 * hc_pci_reset_done(), in one task, which holds reset_lock (write) in between. For the
 * driver it is a card reset like any other: every job fails with DRM_HC_REASON_RESET, every
 * context is lost, the queue pair is set up again.
 */
static void hc_pci_reset_prepare(struct pci_dev *pdev)
{
	struct hc_device *hdev = pci_get_drvdata(pdev);

	drm_err(&hdev->drm, "PCI function reset: resetting the card\n");
	hdev->pci_reset_held = hc_reset_begin(hdev, "PCI function reset", false, true) != -ENODEV;
}

static void hc_pci_reset_done(struct pci_dev *pdev)
{
	struct hc_device *hdev = pci_get_drvdata(pdev);

	if (hdev->pci_reset_held) {
		hdev->pci_reset_held = false;
		hc_reset_end(hdev, 0);
	}
}

/* PCI error recovery (AER): stop on the error, set the card up again after the slot reset. */
static pci_ers_result_t hc_pci_error_detected(struct pci_dev *pdev, pci_channel_state_t state)
{
	struct hc_device *hdev = pci_get_drvdata(pdev);

	drm_err(&hdev->drm, "PCI error (channel state %d)\n", state);
	if (state == pci_channel_io_perm_failure) {
		if (hc_reset_begin(hdev, "PCI permanent failure", false, false) != -ENODEV) {
			WRITE_ONCE(hdev->dead, true);
			hc_irq_enable(hdev);
			up_write(&hdev->reset_lock);
			wake_up_all(&hdev->wq);
		}
		return PCI_ERS_RESULT_DISCONNECT;
	}
	/* The card cannot be reached now: do not touch its registers until the slot reset. */
	hdev->pci_reset_held = hc_reset_begin(hdev, "PCI error", false, false) != -ENODEV;
	return hdev->pci_reset_held ? PCI_ERS_RESULT_NEED_RESET : PCI_ERS_RESULT_DISCONNECT;
}

static pci_ers_result_t hc_pci_slot_reset(struct pci_dev *pdev)
{
	struct hc_device *hdev = pci_get_drvdata(pdev);
	int ret;

	if (!hdev->pci_reset_held)
		return PCI_ERS_RESULT_DISCONNECT;
	pci_restore_state(pdev);
	hdev->pci_reset_held = false;
	ret = hc_hw_reset(hdev);
	ret = hc_reset_end(hdev, ret);
	return ret ? PCI_ERS_RESULT_DISCONNECT : PCI_ERS_RESULT_RECOVERED;
}

const struct pci_error_handlers hc_pci_err_handlers = {
	.error_detected = hc_pci_error_detected,
	.slot_reset = hc_pci_slot_reset,
	.reset_prepare = hc_pci_reset_prepare,
	.reset_done = hc_pci_reset_done,
};
