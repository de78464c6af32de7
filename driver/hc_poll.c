// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * hc_accel: DRM_IOCTL_HC_STREAM_POLLFD, a pollable fd per stream for the process's own event
 * loop. Its poll reports the state WAIT compares (stream tail against the head the process
 * published, completion ring tail against its head), level-triggered, so it needs no state of
 * its own and never has to be drained.
 *
 * Pollers do not sleep on the device's wait queue (hdev->wq), which every completion batch
 * and stream interrupt of every context on the card wakes: each poll fd has a queue of its
 * own (p->wq) for its pollers and epolls, and hangs one custom entry on hdev->wq for as long
 * as it exists. That entry's wake function evaluates the poll fd's own condition, the one
 * hc_pollfd_poll() reports, and passes the wake-up on to p->wq only when it holds, as WAIT's
 * entry does (hc_wait_wake()): a process polling an idle stream is not woken by other users'
 * traffic. debugfs ring_state counts the wake-ups passed on and filtered (poll_wakeups,
 * poll_filtered).
 */
#include <linux/anon_inodes.h>
#include <linux/file.h>
#include <linux/poll.h>
#include <linux/slab.h>
#include <linux/wait.h>
#include <drm/drm_drv.h>

#include "hc_job.h"

struct hc_pollfd {
	struct hc_device *hdev;		/* drm_dev_get: hdev->wq outlives our entry on it */
	struct hc_ctx *ctx;		/* reference: its completion ring stays mapped */
	struct hc_bo *stream;		/* reference */
	wait_queue_head_t wq;		/* this fd's pollers (poll, select, epoll) */
	struct wait_queue_entry entry;	/* on hdev->wq from creation to release */
};

/*
 * What the poll fd reports: the context closing or lost, its completion ring non-empty, the
 * device dead or gone, the stream's tail past the head the process published. Called from
 * hc_pollfd_wake() too, with hdev->wq's lock held and possibly from the threaded interrupt
 * handler, so nothing here sleeps (drm_dev_enter() is an SRCU read lock). Card memory (the
 * stream) only inside drm_dev_enter(): the BAR goes away at remove.
 */
static __poll_t hc_pollfd_mask(struct hc_pollfd *p)
{
	struct hc_device *hdev = p->hdev;
	struct hc_ctx *ctx = p->ctx;
	struct hc_ring_hdr *sh = p->stream->vaddr;
	__poll_t mask = 0;
	int idx;

	if (READ_ONCE(ctx->closing))
		mask |= EPOLLIN | EPOLLRDNORM | EPOLLHUP;
	if (READ_ONCE(ctx->lost) || READ_ONCE(ctx->ucq.hdr->tail) != READ_ONCE(ctx->ucq.hdr->head))
		mask |= EPOLLIN | EPOLLRDNORM;
	/* dead first: once the device is gone its card memory (the stream) may be unmapped. */
	if (READ_ONCE(hdev->dead) || !drm_dev_enter(&hdev->drm, &idx))
		return mask | EPOLLIN | EPOLLRDNORM | EPOLLERR | EPOLLHUP;
	if (READ_ONCE(sh->tail) != READ_ONCE(sh->head))
		mask |= EPOLLIN | EPOLLRDNORM;
	drm_dev_exit(idx);
	return mask;
}

/*
 * The poll fd's entry on hdev->wq: wake this fd's pollers only if there is something for
 * them, with the events as key (epoll skips the wake-up for an epitem not interested in
 * them). Always 0: the entry is not exclusive and must not use up an exclusive wake-up.
 */
static int hc_pollfd_wake(struct wait_queue_entry *entry, unsigned int mode, int sync,
			  void *key)
{
	struct hc_pollfd *p = container_of(entry, struct hc_pollfd, entry);
	__poll_t mask = hc_pollfd_mask(p);

	if (!mask) {
		atomic64_inc(&p->hdev->poll_filtered);
		return 0;
	}
	atomic64_inc(&p->hdev->poll_wakeups);
	wake_up_poll(&p->wq, mask);
	return 0;
}

static __poll_t hc_pollfd_poll(struct file *f, poll_table *pt)
{
	struct hc_pollfd *p = f->private_data;

	/*
	 * Queued before the check, so an event after the check wakes us: its waker changes the
	 * state before it wakes hdev->wq, hc_pollfd_wake() then sees the state and takes
	 * p->wq's lock, which poll_wait() took before our check.
	 */
	poll_wait(f, &p->wq, pt);
	return hc_pollfd_mask(p);
}

static int hc_pollfd_release(struct inode *inode, struct file *f)
{
	struct hc_pollfd *p = f->private_data;
	struct hc_device *hdev = p->hdev;

	/* Under hdev->wq's lock: once off the queue, no hc_pollfd_wake() runs on @p. p->wq is
	 * empty: epoll let go of the file before release, poll() holds a file reference. */
	remove_wait_queue(&hdev->wq, &p->entry);
	hc_bo_put(p->stream);
	hc_ctx_put(p->ctx);
	kfree(p);
	drm_dev_put(&hdev->drm);
	return 0;
}

static const struct file_operations hc_pollfd_fops = {
	.owner = THIS_MODULE,
	.poll = hc_pollfd_poll,
	.release = hc_pollfd_release,
	.llseek = noop_llseek,
};

int hc_ioctl_stream_pollfd(struct drm_device *drm, void *data, struct drm_file *file)
{
	struct hc_device *hdev = to_hc_device(drm);
	struct drm_hc_stream_pollfd *args = data;
	struct hc_pollfd *p;
	int fd, idx;

	if (args->flags || args->reserved[0] || args->reserved[1])
		return -EINVAL;
	p = kzalloc(sizeof(*p), GFP_KERNEL);
	if (!p)
		return -ENOMEM;
	p->hdev = hdev;
	init_waitqueue_head(&p->wq);
	init_waitqueue_func_entry(&p->entry, hc_pollfd_wake);
	p->ctx = hc_ctx_lookup(file, args->ctx_handle);
	if (!p->ctx) {
		fd = -ENOENT;
		goto free;
	}
	p->stream = hc_bo_lookup_stream(file, args->stream_handle);
	if (!p->stream) {
		fd = -ENOENT;
		goto put_ctx;
	}
	if (READ_ONCE(p->ctx->closing)) {
		fd = -ENOENT;
		goto put_stream;
	}
	if (!drm_dev_enter(drm, &idx)) {
		fd = -ENODEV;
		goto put_stream;
	}
	drm_dev_get(drm);
	/* Before the fd exists: its first poll may come from another thread at once. */
	add_wait_queue(&hdev->wq, &p->entry);
	fd = anon_inode_getfd("[hc_stream]", &hc_pollfd_fops, p, O_RDONLY | O_CLOEXEC);
	drm_dev_exit(idx);
	if (fd < 0) {
		remove_wait_queue(&hdev->wq, &p->entry);
		drm_dev_put(drm);
		goto put_stream;
	}
	args->fd = fd;
	return 0;
put_stream:
	hc_bo_put(p->stream);
put_ctx:
	hc_ctx_put(p->ctx);
free:
	kfree(p);
	return fd;
}
