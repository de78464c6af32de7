// SPDX-License-Identifier: MIT
/*
 * Sleepers are woken only by what they wait for (defect 8 of driver v2: at 27ebc51 every
 * completion batch and stream interrupt woke every WAIT of every process through one
 * device-wide wait queue). Four threads WAIT on idle contexts' streams while another context
 * decodes the decode case five times over (dozens of interrupts, its own WAITs sleeping and
 * waking): no WAIT is woken with nothing to report (debugfs ring_state's wait_spurious stays
 * put), the idle waiters stay asleep, and destroying their contexts ends their WAITs
 * (-ENOENT).
 */
#include <pthread.h>
#include "ktest.h"

#define IDLE 4

static int fd;
static struct kt_ctx ic[IDLE];
static struct kt_stream is[IDLE];
static int wait_err[IDLE], returned[IDLE];
static char dbg[512];

static void *idle_waiter(void *arg)
{
	int i = (int)(uintptr_t)arg;
	struct drm_hc_wait w = { .ctx_handle = ic[i].handle, .flags = DRM_HC_WAIT_STREAM,
				 .stream_handle = is[i].handle };

	hc_ring_cons_sleep_prepare(&is[i].r);
	w.cq_tail = hc_ring_load(&ic[i].cq.hdr->tail);
	w.stream_tail = hc_ring_load(&is[i].r.hdr->tail);
	w.timeout_ns = kt_now_ns() + 2ll * KT_EVENT_MS * 1000000;
	wait_err[i] = ioctl(fd, DRM_IOCTL_HC_WAIT, &w) ? errno : 0;
	__atomic_store_n(&returned[i], 1, __ATOMIC_RELEASE);
	return NULL;
}

static long long spurious(void)
{
	char path[600], buf[1024], *p;
	int dfd;
	ssize_t n;

	snprintf(path, sizeof(path), "%s/ring_state", dbg);
	dfd = open(path, O_RDONLY);
	if (dfd < 0)
		return -1;
	n = read(dfd, buf, sizeof(buf) - 1);
	close(dfd);
	buf[n > 0 ? n : 0] = 0;
	p = strstr(buf, "wait_spurious: ");
	return p ? strtoll(p + strlen("wait_spurious: "), NULL, 10) : -1;
}

int main(void)
{
	char sysdir[512];
	pthread_t th[IDLE];
	long long sp0, sp1;
	int i, n, ok = 1, still = 0;

	fd = kt_open(sysdir, sizeof(sysdir));
	if (fd < 0)
		return 1;
	KT_CHECK(kt_debugfs(dbg, sizeof(dbg)) == 0, "debugfs at %s", dbg);
	for (i = 0; i < IDLE; i++)
		ok &= kt_ctx_create(fd, &ic[i], 4) == 0 && kt_stream_create(fd, &is[i], 16) == 0;
	KT_CHECK(ok, "%d idle contexts with streams", IDLE);
	for (i = 0; i < IDLE; i++)
		pthread_create(&th[i], NULL, idle_waiter, (void *)(uintptr_t)i);
	usleep(200000);	/* ordering only: they are asleep or about to be, both are fine */

	sp0 = spurious();
	KT_CHECK(sp0 >= 0, "debugfs ring_state has wait_spurious (%lld)", sp0);
	for (n = 0; n < 5; n++)
		ok &= kt_decode_case_exact(fd);
	KT_CHECK(ok, "another context decoded exactly, five times");
	sp1 = spurious();
	for (i = 0; i < IDLE; i++)
		still += !__atomic_load_n(&returned[i], __ATOMIC_ACQUIRE);
	KT_CHECK(sp1 == sp0, "no WAIT woken with nothing to report (%lld -> %lld)", sp0, sp1);
	KT_CHECK(still == IDLE, "the %d idle waiters still sleep (%d)", IDLE, still);

	for (i = 0; i < IDLE; i++) {
		kt_stream_destroy(&is[i]);
		kt_ctx_destroy(&ic[i]);
	}
	for (i = 0; i < IDLE; i++) {
		pthread_join(th[i], NULL);
		KT_CHECK(wait_err[i] == ENOENT, "idle waiter %d: %s once its context was destroyed",
			 i, wait_err[i] ? strerror(wait_err[i]) : "0");
	}
	close(fd);
	return kt_exit();
}
