// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * hc_accel: a snapshot of the card's state when it hangs, for the bug report: the register
 * page, the driver's queue pair (ring indices and the entries around them) and the jobs in
 * flight, taken by hc_recover() before it resets the card and handed to devcoredump
 * (/sys/class/devcoredump/devcdN/data; write anything to it to dismiss; the kernel drops it
 * after five minutes). Text, so a report can paste it.
 */
#include <linux/devcoredump.h>
#include <linux/vmalloc.h>
#include <drm/drm_drv.h>

#include "hc_hw.h"
#include "hc_job.h"

#define HC_COREDUMP_SIZE	(64 * 1024)
#define HC_COREDUMP_ENTRIES	8	/* ring entries shown before each index */

struct hc_dump {
	char *buf;
	size_t len;
};

static __printf(2, 3) void hc_dump_printf(struct hc_dump *d, const char *fmt, ...)
{
	va_list ap;

	if (d->len >= HC_COREDUMP_SIZE)
		return;
	va_start(ap, fmt);
	d->len += vscnprintf(d->buf + d->len, HC_COREDUMP_SIZE - d->len, fmt, ap);
	va_end(ap);
}

static void hc_dump_hex(struct hc_dump *d, const char *what, const void *p, size_t n)
{
	size_t i;

	for (i = 0; i < n; i += 32)
		hc_dump_printf(d, "%s+%04zx: %*phN\n", what, i, (int)min_t(size_t, 32, n - i),
			       (const u8 *)p + i);
}

/* The last HC_COREDUMP_ENTRIES entries of @r before index @upto. */
static void hc_dump_ring(struct hc_dump *d, const char *name, struct hc_ring *r, u32 upto)
{
	u32 n = hc_ring_entries(r), i;

	hc_dump_printf(d, "%s: entries %u head %u tail %u flags %#x/%#x\n", name, n,
		       READ_ONCE(r->hdr->head), READ_ONCE(r->hdr->tail),
		       READ_ONCE(r->hdr->producer_flags), READ_ONCE(r->hdr->consumer_flags));
	for (i = min_t(u32, n, HC_COREDUMP_ENTRIES); i > 0; i--) {
		char what[32];

		snprintf(what, sizeof(what), "%s[%u]", name, upto - i);
		hc_dump_hex(d, what, hc_ring_entry(r, upto - i), r->entry_size);
	}
}

/* Called by hc_recover() with reset_lock (write) and cq_lock held, before the reset. */
void hc_coredump(struct hc_device *hdev, const char *why)
{
	struct hc_dump d = { .buf = vzalloc(HC_COREDUMP_SIZE) };
	struct hc_job *job;
	unsigned long id;
	int idx;

	if (!d.buf)
		return;
	hc_dump_printf(&d, "hc_accel %s card dump\nreason: %s\nmodel: %s\n",
		       HC_DRIVER_VERSION, why, hdev->ident.model_name);
	hc_dump_printf(&d, "driver: inflight %d (user %d) contexts %d resets %lld lost %lld "
		       "spurious %lld reset_gen %u\n", atomic_read(&hdev->inflight),
		       atomic_read(&hdev->user_inflight), atomic_read(&hdev->n_ctx),
		       (long long)atomic64_read(&hdev->resets),
		       (long long)atomic64_read(&hdev->jobs_lost),
		       (long long)atomic64_read(&hdev->spurious_cqes), hdev->reset_gen);
	if (drm_dev_enter(&hdev->drm, &idx)) {
		hc_dump_hex(&d, "regs", hdev->regs, HC_CARD_REGS_SIZE);
		if (hdev->sq.hdr) {
			hc_dump_ring(&d, "sq", &hdev->sq, hdev->sq.local);
			hc_dump_ring(&d, "cq", &hdev->cq, READ_ONCE(hdev->cq.hdr->tail));
		}
		drm_dev_exit(idx);
	}
	xa_for_each(&hdev->jobs, id, job)
		hc_dump_printf(&d, "job %lu: opcode %u ctx %u age %u ms%s\n", id, job->opcode,
			       job->ctx ? job->ctx->card_id : 0,
			       jiffies_to_msecs(jiffies - job->queued_at),
			       job->internal ? " (driver)" : "");
	/* devcoredump owns the buffer now (vfree); it drops dumps while one is pending. */
	dev_coredumpv(hdev->drm.dev, d.buf, d.len, GFP_KERNEL);
}
