// SPDX-License-Identifier: MIT
/*
 * Hot-unplug: unbind the driver from the card while a process has the node open, a context
 * with a decode in flight, a stream mapped and a WAIT sleeping. The WAIT returns, ioctls
 * answer ENODEV, closing cleans up without oops or warning, and after binding again the
 * card works.
 */
#include <pthread.h>
#include "ktest.h"
#include "decode_case.h"

static struct kt_ctx c;
static struct kt_stream s;
static int wait_rc = 1;

static void *waiter(void *arg)
{
	struct drm_hc_wait w = { .ctx_handle = c.handle, .flags = DRM_HC_WAIT_STREAM,
				 .stream_handle = s.handle };

	(void)arg;
	hc_ring_cons_sleep_prepare(&s.r);
	w.stream_tail = hc_ring_load(&s.r.hdr->tail);
	w.cq_tail = hc_ring_load(&c.cq.hdr->tail);
	w.timeout_ns = kt_now_ns() + 2ll * KT_EVENT_MS * 1000000;
	wait_rc = ioctl(c.fd, DRM_IOCTL_HC_WAIT, &w) ? errno : 0;
	return NULL;
}

int main(void)
{
	char sysdir[512], path[600], bdf[64];
	struct drm_hc_info info = { 0 };
	pthread_t th;
	int fd, fd2;

	fd = kt_open(sysdir, sizeof(sysdir));
	if (fd < 0)
		return 1;
	KT_CHECK(kt_pci_bdf(sysdir, bdf, sizeof(bdf)) == 0, "PCI device of the node: %s", bdf);

	KT_CHECK(kt_ctx_create(fd, &c, 4) == 0 && kt_stream_create(fd, &s, 16) == 0,
		 "context and mapped stream");
	kt_prefill(&c, decode_case_prompt, DECODE_CASE_PROMPT_LEN, 1);
	kt_decode(&c, &s, 100000, 2);	/* fills the ring, then waits for space forever */
	while (hc_ring_load_acquire(&s.r.hdr->tail) < 16)
		usleep(1000);
	{
		struct drm_hc_cqe cqe;

		KT_CHECK(kt_wait_cqe(&c, &cqe, KT_EVENT_MS) == 0 && cqe.user_data == 1,
			 "prefill completed; the decode is stuck on a full ring");
	}
	/* A WAIT on a stream that will not move (ring full, nobody reads). */
	s.r.local = hc_ring_load(&s.r.hdr->tail);
	pthread_create(&th, NULL, waiter, NULL);
	usleep(200000);

	KT_CHECK(kt_write_file("/sys/bus/pci/drivers/hc_accel/unbind", bdf) == 0, "unbind %s", bdf);
	pthread_join(th, NULL);
	KT_CHECK(wait_rc != 0, "sleeping WAIT returned: %s", strerror(wait_rc));
	KT_ERRNO(fd, DRM_IOCTL_HC_GET_INFO, &info, ENODEV, "GET_INFO on the unplugged device");
	close(fd);	/* no munmap of the stream: its pages are gone; exit unmaps */
	KT_CHECK(kt_find_node(path, sizeof(path), NULL, 0) != 0, "node gone");

	KT_CHECK(kt_write_file("/sys/bus/pci/drivers/hc_accel/bind", bdf) == 0, "bind %s again",
		 bdf);
	fd2 = kt_open(sysdir, sizeof(sysdir));
	KT_CHECK(fd2 >= 0, "node back");
	if (fd2 >= 0) {
		KT_CHECK(kt_decode_case_exact(fd2), "decodes exactly after rebinding");
		close(fd2);
	}
	return kt_exit();
}
