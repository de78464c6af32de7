// SPDX-License-Identifier: MIT
/*
 * Sleepers are woken only by what they wait for (defect 8 of driver v2: at 27ebc51 every
 * completion batch and stream interrupt woke every WAIT of every process through one
 * device-wide wait queue; poll fds from STREAM_POLLFD kept doing so until they got a queue
 * of their own). Four threads WAIT on idle contexts' streams and a fifth blocks in poll() on
 * the poll fd of another idle context's stream while another context decodes the decode case
 * five times over (dozens of interrupts, its own WAITs sleeping and waking): no WAIT is woken
 * with nothing to report (debugfs ring_state's wait_spurious stays put), the idle waiters
 * stay asleep, the poller is not woken either (its thread's voluntary context switches stay
 * put: a poll() woken for nothing re-polls and sleeps again, one switch each; ring_state's
 * poll_filtered grows, poll_wakeups does not), a token of the polled stream's own context
 * does wake it, readable, and destroying the WAITs' contexts ends their WAITs (-ENOENT).
 */
#include <poll.h>
#include <pthread.h>
#include <sys/syscall.h>
#include "ktest.h"

#define IDLE 4

static int fd;
static struct kt_ctx ic[IDLE];
static struct kt_stream is[IDLE];
static int wait_err[IDLE], returned[IDLE];
static char dbg[512];

/* The poller: its context, stream and poll fd; what its poll() returned. */
static struct kt_ctx pc;
static struct kt_stream ps;
static int poll_fd, poll_ret = -2, poll_revents, poll_tid, poll_returned;

static void *idle_poller(void *arg)
{
	struct pollfd pfd = { .fd = poll_fd, .events = POLLIN };

	(void)arg;
	__atomic_store_n(&poll_tid, (int)syscall(SYS_gettid), __ATOMIC_RELEASE);
	/* The bound is a safety net only: the test wakes it with a token of its own. */
	poll_ret = poll(&pfd, 1, 2 * KT_EVENT_MS);
	poll_revents = pfd.revents;
	__atomic_store_n(&poll_returned, 1, __ATOMIC_RELEASE);
	return NULL;
}

/* A field ("State", "voluntary_ctxt_switches") of /proc/self/task/@tid/status, as text. */
static int task_status(int tid, const char *field, char *out, size_t len)
{
	char path[64], buf[4096], key[64], *p, *e;

	snprintf(path, sizeof(path), "/proc/self/task/%d/status", tid);
	if (kt_read_file(path, buf, sizeof(buf)))
		return -1;
	snprintf(key, sizeof(key), "\n%s:", field);	/* not nonvoluntary_ctxt_switches */
	p = strstr(buf, key);
	if (!p)
		return -1;
	p += strlen(key);
	p += strspn(p, " \t");
	e = strchr(p, '\n');
	snprintf(out, len, "%.*s", e ? (int)(e - p) : (int)strlen(p), p);
	return 0;
}

static long long voluntary_switches(int tid)
{
	char v[64];

	return task_status(tid, "voluntary_ctxt_switches", v, sizeof(v)) ? -1 : strtoll(v, NULL, 10);
}

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

/* A counter of debugfs ring_state ("wait_spurious", "poll_filtered", ...); -1 if missing. */
static long long ring_state(const char *name)
{
	char key[64], path[600], buf[1024], *p;

	snprintf(path, sizeof(path), "%s/ring_state", dbg);
	if (kt_read_file(path, buf, sizeof(buf)))
		return -1;
	snprintf(key, sizeof(key), "%s: ", name);
	p = strstr(buf, key);
	return p ? strtoll(p + strlen(key), NULL, 10) : -1;
}

int main(void)
{
	struct drm_hc_stream_pollfd pf = { 0 };
	struct pollfd now = { .events = POLLIN };
	struct drm_hc_cqe cqe = { 0 };
	char sysdir[512], state[64] = "";
	pthread_t th[IDLE], pth;
	long long sp0, sp1, vs0, vs1, pw0, pw1, pf0, pf1;
	int64_t until;
	int i, n, tid, ok = 1, still = 0, polled;

	fd = kt_open(sysdir, sizeof(sysdir));
	if (fd < 0)
		return 1;
	KT_CHECK(kt_debugfs(dbg, sizeof(dbg)) == 0, "debugfs at %s", dbg);
	for (i = 0; i < IDLE; i++)
		ok &= kt_ctx_create(fd, &ic[i], 4) == 0 && kt_stream_create(fd, &is[i], 16) == 0;
	KT_CHECK(ok, "%d idle contexts with streams", IDLE);

	/* The poller's context: prefilled now (its completion consumed), decoded at the end. */
	KT_CHECK(kt_ctx_create(fd, &pc, 4) == 0 && kt_stream_create(fd, &ps, 16) == 0 &&
		 kt_prefill(&pc, decode_case_prompt, DECODE_CASE_PROMPT_LEN, 1) == 1 &&
		 kt_wait_cqe(&pc, &cqe, KT_EVENT_MS) == 0 && cqe.status == DRM_HC_STATUS_OK,
		 "the poller's context, prefilled (status %u)", cqe.status);
	pf.ctx_handle = pc.handle;
	pf.stream_handle = ps.handle;
	KT_CHECK(ioctl(fd, DRM_IOCTL_HC_STREAM_POLLFD, &pf) == 0 && pf.fd >= 0,
		 "STREAM_POLLFD on its stream -> fd %d", pf.fd);
	poll_fd = pf.fd;
	now.fd = poll_fd;
	KT_CHECK(poll(&now, 1, 0) == 0, "its poll fd: not readable yet (revents %#x)",
		 now.revents);
	hc_ring_cons_sleep_prepare(&ps.r);	/* its tokens interrupt, as for a sleeping reader */

	for (i = 0; i < IDLE; i++)
		pthread_create(&th[i], NULL, idle_waiter, (void *)(uintptr_t)i);
	pthread_create(&pth, NULL, idle_poller, NULL);
	usleep(200000);	/* ordering only: they are asleep or about to be, both are fine */
	/* The poller's baseline is taken asleep in poll(), so its falling asleep is not counted. */
	until = kt_now_ns() + (int64_t)KT_EVENT_MS * 1000000;
	while (!(tid = __atomic_load_n(&poll_tid, __ATOMIC_ACQUIRE)) && kt_now_ns() < until)
		usleep(10000);
	while (tid && (task_status(tid, "State", state, sizeof(state)) || state[0] != 'S') &&
	       kt_now_ns() < until)
		usleep(10000);
	KT_CHECK(tid && state[0] == 'S', "the poller (task %d) sleeps in poll() (%s)", tid, state);

	sp0 = ring_state("wait_spurious");
	pw0 = ring_state("poll_wakeups");
	pf0 = ring_state("poll_filtered");
	vs0 = voluntary_switches(tid);
	KT_CHECK(sp0 >= 0, "debugfs ring_state has wait_spurious (%lld)", sp0);
	for (n = 0; n < 5; n++)
		ok &= kt_decode_case_exact(fd);
	KT_CHECK(ok, "another context decoded exactly, five times");
	vs1 = voluntary_switches(tid);
	sp1 = ring_state("wait_spurious");
	pw1 = ring_state("poll_wakeups");
	pf1 = ring_state("poll_filtered");
	for (i = 0; i < IDLE; i++)
		still += !__atomic_load_n(&returned[i], __ATOMIC_ACQUIRE);
	polled = __atomic_load_n(&poll_returned, __ATOMIC_ACQUIRE);
	printf("  info poller's voluntary context switches: %lld -> %lld (+%lld)\n", vs0, vs1,
	       vs1 - vs0);
	printf("  info poll fd wake-ups passed on: %lld -> %lld, filtered: %lld -> %lld\n",
	       pw0, pw1, pf0, pf1);
	KT_CHECK(sp1 == sp0, "no WAIT woken with nothing to report (%lld -> %lld)", sp0, sp1);
	KT_CHECK(still == IDLE, "the %d idle waiters still sleep (%d)", IDLE, still);
	KT_CHECK(!polled, "the poller still sleeps in poll() (returned %d)", poll_ret);
	/* A small constant for anything but the traffic (about one per interrupt without the
	 * poll fd's own wake function); never a timing bound. */
	KT_CHECK(vs0 >= 0 && vs1 >= vs0 && vs1 - vs0 <= 3,
		 "the poller was not woken by the other context (+%lld switches)", vs1 - vs0);
	KT_CHECK(pw0 >= 0 && pw1 == pw0, "no poll fd wake-up passed on (%lld -> %lld)", pw0, pw1);
	KT_CHECK(pf0 >= 0 && pf1 > pf0, "the poll fd's entry saw the traffic and kept it (+%lld)",
		 pf1 - pf0);

	/* Its own context's token does wake it: the filter loses no wake-up. */
	KT_CHECK(kt_decode(&pc, &ps, 1, 2) == 1, "a one-token DECODE on the poller's context");
	pthread_join(pth, NULL);
	KT_CHECK(poll_ret == 1 && (poll_revents & POLLIN) &&
		 !(poll_revents & (POLLERR | POLLHUP)),
		 "its token wakes the poller, readable (poll %d, revents %#x)", poll_ret,
		 poll_revents);
	KT_CHECK(kt_wait_cqe(&pc, &cqe, KT_EVENT_MS) == 0 &&
		 cqe.status == DRM_HC_STATUS_DONE_MAX_TOKENS && hc_ring_cons_avail(&ps.r) == 1,
		 "the DECODE completed with its token in the stream (status %u, %d tokens)",
		 cqe.status, hc_ring_cons_avail(&ps.r));
	printf("  info poll fd wake-ups passed on: %lld, filtered: %lld\n",
	       ring_state("poll_wakeups"), ring_state("poll_filtered"));
	hc_ring_cons_sleep_done(&ps.r);
	close(poll_fd);
	kt_stream_destroy(&ps);
	kt_ctx_destroy(&pc);

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
