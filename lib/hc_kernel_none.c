// SPDX-License-Identifier: MIT
/*
 * Kernel backend hook, built only while lib/hc_kernel.c does not exist: /dev/accel URIs then
 * answer -ENODEV. The kernel-driver work provides lib/hc_kernel.c with the same function,
 * filling the card handle over include/uapi/drm/hc_accel.h (see struct hc_card_ops in
 * hc_internal.h for each duty):
 *   open the node, DRM_IOCTL_HC_GET_INFO -> card->info (and card->tok from the card's
 *   tokenizer blob), card->regs = NULL;
 *   ctx_open: DRM_IOCTL_HC_CTX_CREATE + mmap of the context's rings -> a private hc_qp
 *     (sq of struct drm_hc_job, cq of struct hc_cqe), irq_fd -1 (or a pollable fd);
 *   push: hc_sqe -> drm_hc_job (prefill tokens_ptr = the PROMPT cookie, decode
 *     stream_handle = the STREAM cookie), publish, DRM_IOCTL_HC_SUBMIT;
 *   cancel: DRM_IOCTL_HC_CANCEL; ctx_close: DRM_IOCTL_HC_CTX_DESTROY + munmap;
 *   buf_alloc: PROMPT = malloc (copied at submit), STREAM = DRM_IOCTL_HC_STREAM_CREATE +
 *     mmap (cookie = GEM handle); stream_kick / wait: DRM_IOCTL_HC_WAIT.
 */
#include <errno.h>
#include "hc_internal.h"

int hc_kernel_open(struct hc_card *card, const char *devnode)
{
	(void)card;
	(void)devnode;
	return -ENODEV;
}
