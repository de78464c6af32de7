// SPDX-License-Identifier: MIT
/*
 * Unplug during each ioctl: threads loop on GET_INFO, WAIT on a stream, SUBMIT, STREAM_CREATE
 * with GEM_CLOSE, CTX_CREATE with CTX_DESTROY, STREAM_POLLFD with poll, and reads of debugfs
 * ring_state, while the driver is unbound from the card. Every call either works or fails
 * with ENODEV (EIO for a card marked dead); after the unbind every thread sees ENODEV; the host
 * fails the boot on any oops or WARN (card memory goes away with the device: nothing may
 * read it after). The mappings outlive the card: a process that touches its rings or stream
 * after the unbind (every libhc consumer does, before its next ioctl) gets no SIGBUS; the
 * context rings keep their contents, a stream reads as zeroes. Then the card is bound again
 * and decodes.
 */
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sys/wait.h>
#include "ktest.h"
#include "decode_case.h"

enum { T_INFO, T_WAIT, T_SUBMIT, T_STREAM, T_CTX, T_POLLFD, T_DEBUGFS, T_N };
static const char *const names[T_N] = { "GET_INFO", "WAIT", "SUBMIT", "STREAM_CREATE",
					"CTX_CREATE", "STREAM_POLLFD", "debugfs ring_state" };

static int fd;
static struct kt_ctx c;
static struct kt_stream s;
static char dbg[512];
static long calls[T_N];
static int saw_enodev[T_N], unexpected[T_N];
static volatile int stop;

static int gone(int t, int err)
{
	if (err == ENODEV) {
		saw_enodev[t] = 1;
		return 1;
	}
	if (err && err != EIO && err != ETIME && err != EBUSY && err != ECANCELED &&
	    !unexpected[t]) {
		unexpected[t] = err;
		printf("  FAIL %s: %s\n", names[t], strerror(err));
	}
	return 0;
}

static void *worker(void *arg)
{
	int t = (int)(uintptr_t)arg;

	while (!stop) {
		int err = 0;

		calls[t]++;
		switch (t) {
		case T_INFO: {
			struct drm_hc_info i = { 0 };

			err = ioctl(fd, DRM_IOCTL_HC_GET_INFO, &i) ? errno : 0;
			break;
		}
		case T_WAIT: {
			struct drm_hc_wait w = { .ctx_handle = c.handle, .flags = DRM_HC_WAIT_STREAM,
						 .stream_handle = s.handle };

			w.stream_tail = (uint32_t)-1;	/* "changed" at once while the card is there */
			w.cq_tail = (uint32_t)-1;
			w.timeout_ns = kt_now_ns() + 1000000;
			err = ioctl(fd, DRM_IOCTL_HC_WAIT, &w) ? errno : 0;
			break;
		}
		case T_SUBMIT: {
			struct drm_hc_job j = { .opcode = DRM_HC_OP_NOP };
			int r = kt_submit(&c, &j);

			err = r < 0 ? -r : 0;
			/* consume what completed so the ring never fills */
			hc_ring_store_release(&c.cq.hdr->head, hc_ring_load_acquire(&c.cq.hdr->tail));
			if (r < 0) {	/* take the refused entry back */
				c.sq.local = hc_ring_load_acquire(&c.sq.hdr->head);
				hc_ring_store_release(&c.sq.hdr->tail, c.sq.local);
			}
			break;
		}
		case T_STREAM: {
			struct drm_hc_stream_create a = { .entries = 64 };

			err = ioctl(fd, DRM_IOCTL_HC_STREAM_CREATE, &a) ? errno : 0;
			if (!err) {
				struct drm_gem_close gc = { .handle = a.handle };

				ioctl(fd, DRM_IOCTL_GEM_CLOSE, &gc);
			}
			break;
		}
		case T_CTX: {
			struct drm_hc_ctx_create a = { .sq_entries = 1 };

			err = ioctl(fd, DRM_IOCTL_HC_CTX_CREATE, &a) ? errno : 0;
			if (!err) {
				struct drm_hc_ctx_destroy d = { .handle = a.handle };

				ioctl(fd, DRM_IOCTL_HC_CTX_DESTROY, &d);
			}
			break;
		}
		case T_POLLFD: {
			struct drm_hc_stream_pollfd p = { .ctx_handle = c.handle,
							  .stream_handle = s.handle };

			err = ioctl(fd, DRM_IOCTL_HC_STREAM_POLLFD, &p) ? errno : 0;
			if (!err) {
				struct pollfd pf = { .fd = p.fd, .events = POLLIN };

				poll(&pf, 1, 0);
				close(p.fd);
			}
			break;
		}
		case T_DEBUGFS: {
			char path[600], buf[1024];
			int dfd;

			snprintf(path, sizeof(path), "%s/ring_state", dbg);
			dfd = open(path, O_RDONLY);
			if (dfd < 0) {
				saw_enodev[t] = 1;	/* the directory went with the device */
				break;
			}
			if (read(dfd, buf, sizeof(buf)) < 0)
				err = errno;
			close(dfd);
			break;
		}
		}
		if (gone(t, err) || (t == T_DEBUGFS && saw_enodev[t]))
			break;
	}
	return NULL;
}

/*
 * After the unbind the driver has zapped every mapping of the node; touch them again in a
 * child, so that a SIGBUS is reported as such. The SQ tail this process wrote last must read
 * back (a context ring is system memory the object still owns), and the stream, whose card
 * memory is gone, reads as zeroes and takes a write.
 */
static int mappings_outlive_card(void)
{
	pid_t pid = fork();
	int st;

	if (pid == 0) {
		volatile uint32_t *sq_tail = &c.sq.hdr->tail;
		volatile uint32_t *stream = s.map;
		uint32_t i, nonzero = 0;

		if (*sq_tail != c.sq.local)
			_exit(2);
		*sq_tail = c.sq.local;
		for (i = 0; i < s.size / sizeof(uint32_t); i++)
			nonzero |= stream[i];
		stream[0] = 1;
		_exit(nonzero ? 3 : 0);
	}
	if (pid < 0 || waitpid(pid, &st, 0) != pid)
		return 0;
	if (WIFSIGNALED(st))
		printf("  touching the mappings: %s\n", strsignal(WTERMSIG(st)));
	else if (WEXITSTATUS(st) == 2)
		printf("  the SQ tail read back as %u, not %u\n", c.sq.hdr->tail, c.sq.local);
	else if (WEXITSTATUS(st) == 3)
		printf("  the stream did not read as zeroes\n");
	return WIFEXITED(st) && WEXITSTATUS(st) == 0;
}

int main(void)
{
	char sysdir[512], bdf[64];
	pthread_t th[T_N];
	int i, fd2;

	fd = kt_open(sysdir, sizeof(sysdir));
	if (fd < 0)
		return 1;
	KT_CHECK(kt_debugfs(dbg, sizeof(dbg)) == 0, "debugfs at %s", dbg);
	KT_CHECK(kt_pci_bdf(sysdir, bdf, sizeof(bdf)) == 0, "PCI device of the node: %s", bdf);
	KT_CHECK(kt_ctx_create(fd, &c, 64) == 0 && kt_stream_create(fd, &s, 16) == 0,
		 "context and stream");

	for (i = 0; i < T_N; i++)
		pthread_create(&th[i], NULL, worker, (void *)(uintptr_t)i);
	/* Let every loop run a while (not a bound: any amount of overlap is a valid run). */
	usleep(300000);
	KT_CHECK(kt_write_file("/sys/bus/pci/drivers/hc_accel/unbind", bdf) == 0, "unbind %s", bdf);
	{
		int64_t deadline = kt_now_ns() + (int64_t)KT_EVENT_MS * 1000000;
		int all;

		do {
			all = 1;
			for (i = 0; i < T_N; i++)
				all &= saw_enodev[i];
			if (!all)
				usleep(10000);
		} while (!all && kt_now_ns() < deadline);
	}
	stop = 1;
	for (i = 0; i < T_N; i++) {
		pthread_join(th[i], NULL);
		KT_CHECK(saw_enodev[i] && !unexpected[i], "%s: %ld calls, then ENODEV", names[i],
			 calls[i]);
	}
	KT_CHECK(mappings_outlive_card(), "rings and stream still mapped after the unbind");
	close(fd);	/* mappings go with the process */

	KT_CHECK(kt_write_file("/sys/bus/pci/drivers/hc_accel/bind", bdf) == 0, "bind %s again", bdf);
	fd2 = kt_open(sysdir, sizeof(sysdir));
	if (fd2 >= 0) {
		KT_CHECK(kt_decode_case_exact(fd2), "decodes exactly after rebinding");
		close(fd2);
	}
	return kt_exit();
}
