// SPDX-License-Identifier: MIT
/*
 * Faults injected into the card (TEST ONLY registers, through the driver's debugfs):
 *  - a lost interrupt: the job still completes (the hang check polls the CQ);
 *  - a corrupt completion: the job whose completion was lost fails with
 *    DRM_HC_REASON_LOST, without a reset;
 *  - a card that stalls mid-decode (heartbeat stops): the job times out
 *    (DRM_HC_REASON_TIMEOUT), the card is reset, the other context's job gets
 *    DRM_HC_REASON_RESET, old contexts report -ECANCELED, a devcoredump of the card's state
 *    is left for the bug report, and new contexts decode exactly as before.
 */
#include "ktest.h"
#include "decode_case.h"

static char dbg[512];

static int fault(const char *name, const char *val)
{
	char path[600];

	snprintf(path, sizeof(path), "%s/%s", dbg, name);
	return kt_write_file(path, val);
}

/* The hang left a snapshot of the card for the bug report (devcoredump); dismiss it. */
static void check_coredump(void)
{
	char head[512] = "";
	glob_t g;
	ssize_t n = -1;
	int fd;

	if (glob("/sys/class/devcoredump/devcd*/data", 0, NULL, &g)) {
		KT_CHECK(0, "a devcoredump of the hang exists");
		return;
	}
	fd = open(g.gl_pathv[0], O_RDONLY);
	if (fd >= 0) {
		n = read(fd, head, sizeof(head) - 1);
		close(fd);
	}
	head[n > 0 ? n : 0] = 0;
	KT_CHECK(strstr(head, "hc_accel") && strstr(head, "reason: ") &&
		 !strstr(head, "reason: forced") && strstr(head, "regs+0000: "),
		 "devcoredump of the hang: %.60s...", head);
	kt_write_file(g.gl_pathv[0], "1");	/* dismiss */
	globfree(&g);
}

int main(void)
{
	char sysdir[512];
	struct kt_ctx a, b;
	struct kt_stream sa, sb;
	struct drm_hc_cqe cqe;
	struct drm_hc_submit sub;
	long long resets0, tmo0, lost0;
	int fd, rc;

	fd = kt_open(sysdir, sizeof(sysdir));
	if (fd < 0)
		return 1;
	KT_CHECK(kt_debugfs(dbg, sizeof(dbg)) == 0, "debugfs at %s", dbg);
	KT_CHECK(kt_write_file("/sys/module/hc_accel/parameters/hang_timeout_ms", "1000") == 0,
		 "hang_timeout_ms=1000");
	resets0 = kt_counter(sysdir, "resets");
	tmo0 = kt_counter(sysdir, "jobs_timed_out");
	lost0 = kt_counter(sysdir, "jobs_lost");

	/* A dropped interrupt costs latency, not the job. */
	KT_CHECK(fault("fault_drop_irqs", "1") == 0, "fault: drop the next interrupt");
	KT_CHECK(kt_decode_case_exact(fd), "decode correct despite a lost interrupt");

	/* A corrupt completion: the job is failed as lost, the card is not reset. */
	KT_CHECK(kt_ctx_create(fd, &a, 4) == 0, "context for the corrupt completion");
	KT_CHECK(fault("fault_corrupt_cqes", "1") == 0, "fault: corrupt the next completion");
	kt_prefill(&a, decode_case_prompt, DECODE_CASE_PROMPT_LEN, 77);
	rc = kt_wait_cqe(&a, &cqe, KT_EVENT_MS);
	KT_CHECK(rc == 0 && cqe.user_data == 77 && cqe.status == HC_STATUS_ERROR &&
		 cqe.reason == DRM_HC_REASON_LOST, "its job failed as lost (status %u reason %#x)",
		 cqe.status, cqe.reason);
	KT_CHECK(kt_counter(sysdir, "jobs_lost") == lost0 + 1, "jobs_lost +1");
	KT_CHECK(kt_counter(sysdir, "resets") == resets0, "no reset for that");
	kt_ctx_destroy(&a);

	/* A stall mid-decode. */
	KT_CHECK(kt_ctx_create(fd, &a, 4) == 0 && kt_stream_create(fd, &sa, 4096) == 0 &&
		 kt_ctx_create(fd, &b, 4) == 0 && kt_stream_create(fd, &sb, 4096) == 0,
		 "two contexts with streams");
	KT_CHECK(fault("fault_stall_after_tokens", "10") == 0, "fault: stall after 10 tokens");
	kt_prefill(&a, decode_case_prompt, DECODE_CASE_PROMPT_LEN, 1);
	kt_decode(&a, &sa, 3000, 2);
	kt_prefill(&b, decode_case_prompt, DECODE_CASE_PROMPT_LEN, 3);
	kt_decode(&b, &sb, 3000, 4);
	{
		int got_a = 0, got_b = 0, errs = 0, i;
		struct drm_hc_cqe all[4];

		for (i = 0; i < 4; i++) {
			struct kt_ctx *c = i < 2 ? &a : &b;

			if (kt_wait_cqe(c, &all[i], KT_EVENT_MS))
				break;
		}
		KT_CHECK(i == 4, "all four jobs completed (%d)", i);
		for (i = 0; i < 4; i++) {
			if (all[i].status == HC_STATUS_ERROR)
				errs++;
			if (all[i].status == HC_STATUS_ERROR && all[i].reason == DRM_HC_REASON_TIMEOUT)
				got_a++;
			if (all[i].status == HC_STATUS_ERROR && all[i].reason == DRM_HC_REASON_RESET)
				got_b++;
		}
		KT_CHECK(all[1].status == HC_STATUS_ERROR && all[3].status == HC_STATUS_ERROR,
			 "both decodes failed (status %u/%u reason %#x/%#x)", all[1].status,
			 all[3].status, all[1].reason, all[3].reason);
		KT_CHECK(got_a == 1, "exactly one job timed out (%d)", got_a);
		KT_CHECK(got_b >= 1, "the other context's job got a reset error (%d)", got_b);
	}
	KT_CHECK(kt_counter(sysdir, "resets") == resets0 + 1, "resets +1");
	check_coredump();
	KT_CHECK(kt_counter(sysdir, "jobs_timed_out") == tmo0 + 1, "jobs_timed_out +1");
	sub = (struct drm_hc_submit){ .ctx_handle = a.handle };
	kt_prefill(&a, decode_case_prompt, 1, 9);
	KT_ERRNO(fd, DRM_IOCTL_HC_SUBMIT, &sub, ECANCELED, "old context after the reset");
	kt_stream_destroy(&sa);
	kt_stream_destroy(&sb);
	KT_CHECK(kt_ctx_destroy(&a) == 0 && kt_ctx_destroy(&b) == 0, "old contexts destroyed");

	KT_CHECK(kt_decode_case_exact(fd), "new context after the reset decodes exactly as before");
	KT_CHECK(kt_counter(sysdir, "jobs_inflight") == 0, "nothing left in flight");
	kt_write_file("/sys/module/hc_accel/parameters/hang_timeout_ms", "2000");
	close(fd);
	return kt_exit();
}
