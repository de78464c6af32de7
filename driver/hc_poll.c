// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * hc_accel: DRM_IOCTL_HC_STREAM_POLLFD, a pollable fd per stream for the process's own event
 * loop. Its poll reports the state WAIT compares (stream tail against the head the process
 * published, completion ring tail against its head), level-triggered, so it needs no state of
 * its own and never has to be drained. Waiters sleep on hdev->wq, which the interrupt thread
 * and the completion path already wake (from process context: the threaded handler).
 */
#include <linux/anon_inodes.h>
#include <linux/file.h>
#include <linux/poll.h>
#include <linux/slab.h>
#include <drm/drm_drv.h>

#include "hc_job.h"

struct hc_pollfd {
	struct hc_device *hdev;		/* drm_dev_get: hdev->wq outlives our waiters */
	struct hc_ctx *ctx;		/* reference: its completion ring stays mapped */
	struct hc_bo *stream;		/* reference */
};

static __poll_t hc_pollfd_poll(struct file *f, poll_table *pt)
{
	struct hc_pollfd *p = f->private_data;
	struct hc_device *hdev = p->hdev;
	struct hc_ctx *ctx = p->ctx;
	struct hc_ring_hdr *sh = p->stream->vaddr;
	__poll_t mask = 0;
	int idx;

	poll_wait(f, &hdev->wq, pt);
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

static int hc_pollfd_release(struct inode *inode, struct file *f)
{
	struct hc_pollfd *p = f->private_data;
	struct hc_device *hdev = p->hdev;

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
	fd = anon_inode_getfd("[hc_stream]", &hc_pollfd_fops, p, O_RDONLY | O_CLOEXEC);
	drm_dev_exit(idx);
	if (fd < 0) {
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
