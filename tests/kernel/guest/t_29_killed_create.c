// SPDX-License-Identifier: MIT
/*
 * A process killed while CTX_CREATE waits for a stalled card dies at once, and the context the
 * card opens for it later is closed (defect 9 of driver v2: at 27ebc51 the driver's own jobs
 * waited uninterruptibly, up to twice the hang and reset timeouts).
 *
 * Recovery is disabled and reset_timeout_ms raised so that the driver's own bound on the wait
 * (2 x hang + 2 x reset timeout, 64 s here) is above this test's bound (KT_EVENT_MS): only a
 * wait that a fatal signal ends lets the child be reaped in time.
 */
#include <signal.h>
#include <sys/wait.h>
#include "ktest.h"

#define P "/sys/module/hc_accel/parameters/"

static char dbg[512];

static int fault(const char *name, const char *val)
{
	char path[600];

	snprintf(path, sizeof(path), "%s/%s", dbg, name);
	return kt_write_file(path, val);
}

/* The state letter of /proc/PID/stat ('D': uninterruptible sleep). */
static char proc_state(pid_t pid)
{
	char path[64], buf[512], *p;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	if (kt_read_file(path, buf, sizeof(buf)))
		return 0;
	p = strrchr(buf, ')');
	return p && p[1] == ' ' ? p[2] : 0;
}

int main(void)
{
	char sysdir[512], state = 0;
	long long in_use0;
	int64_t t0, deadline;
	int status = 0, reaped = 0;
	pid_t pid;

	if (kt_open(sysdir, sizeof(sysdir)) < 0)
		return 1;
	KT_CHECK(kt_debugfs(dbg, sizeof(dbg)) == 0, "debugfs at %s", dbg);
	in_use0 = kt_counter(sysdir, "contexts_in_use");
	KT_CHECK(kt_write_file(P "disable_recovery", "1") == 0 &&
		 kt_write_file(P "reset_timeout_ms", "30000") == 0,
		 "recovery off, reset_timeout_ms 30000");
	KT_CHECK(fault("fault_stall", "1") == 0, "card stalled");

	pid = fork();
	if (pid == 0) {
		struct drm_hc_ctx_create a = { .sq_entries = 4 };
		int fd = kt_open(NULL, 0);

		ioctl(fd, DRM_IOCTL_HC_CTX_CREATE, &a);	/* waits for the stalled card */
		_exit(0);
	}
	deadline = kt_now_ns() + (int64_t)KT_EVENT_MS * 1000000;
	while (pid > 0 && (state = proc_state(pid)) != 'D' && kt_now_ns() < deadline)
		usleep(10000);
	KT_CHECK(state == 'D', "the child waits in CTX_CREATE (state %c)", state ? state : '?');

	kill(pid, SIGKILL);
	t0 = kt_now_ns();
	deadline = t0 + (int64_t)KT_EVENT_MS * 1000000;
	while (!reaped && kt_now_ns() < deadline) {
		if (waitpid(pid, &status, WNOHANG) == pid)
			reaped = 1;
		else
			usleep(10000);
	}
	KT_CHECK(reaped && WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL,
		 "killed, it died while the card was still stalled (%.2f s, bound %d s)",
		 (kt_now_ns() - t0) / 1e9, KT_EVENT_MS / 1000);

	KT_CHECK(fault("fault_stall", "0") == 0, "card runs again");
	if (!reaped)
		waitpid(pid, &status, 0);
	KT_CHECK(kt_counter_wait(sysdir, "jobs_inflight", 0, KT_EVENT_MS) == 0,
		 "its CONTEXT_OPEN completed");
	KT_CHECK(kt_counter_wait(sysdir, "contexts_in_use", in_use0, KT_EVENT_MS) == in_use0,
		 "and the context the card opened for it was closed (%lld in use, %lld before)",
		 kt_counter(sysdir, "contexts_in_use"), in_use0);
	KT_CHECK(kt_write_file(P "disable_recovery", "0") == 0 &&
		 kt_write_file(P "reset_timeout_ms", "2000") == 0, "parameters restored");
	KT_CHECK(kt_decode_case_exact(kt_open(NULL, 0)), "the card decodes exactly");
	return kt_exit();
}
