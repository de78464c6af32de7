// SPDX-License-Identifier: MIT
/*
 * 4 processes x 4 contexts decode at once through tiny stream rings (4 entries): every
 * stream gets exactly the host reference's tokens, none lost, duplicated or reordered.
 * Then cancel: a long decode cancelled mid-stream ends with HC_STATUS_CANCELLED and the
 * tokens it produced are a prefix of the reference.
 */
#include <sys/wait.h>
#include "ktest.h"
#include "decode_case.h"

#define PROCS	4
#define CTXS	4

static uint32_t expect[DECODE_CASE_TOKENS];

static int child(void)
{
	char sysdir[512];
	struct kt_ctx c[CTXS];
	struct kt_stream s[CTXS];
	uint32_t ids[CTXS][DECODE_CASE_TOKENS];
	int got[CTXS] = { 0 }, done = 0, i, fd = kt_open(sysdir, sizeof(sysdir));
	int64_t deadline = kt_now_ns() + 3ll * KT_EVENT_MS * 1000000;
	struct drm_hc_cqe cqe;

	if (fd < 0)
		return 1;
	for (i = 0; i < CTXS; i++) {
		if (kt_ctx_create(fd, &c[i], 4) || kt_stream_create(fd, &s[i], 4))
			return 2;
		kt_prefill(&c[i], decode_case_prompt, DECODE_CASE_PROMPT_LEN, 1);
		kt_decode(&c[i], &s[i], DECODE_CASE_TOKENS, 2);
	}
	/* Round-robin over the streams, a few tokens at a time. */
	while (done < CTXS && kt_now_ns() < deadline) {
		for (i = 0; i < CTXS; i++) {
			int n;

			if (got[i] == DECODE_CASE_TOKENS)
				continue;
			n = kt_stream_read(&c[i], &s[i], ids[i] + got[i], DECODE_CASE_TOKENS - got[i],
					   20);
			if (n < 0)
				return 3;
			got[i] += n;
			if (got[i] == DECODE_CASE_TOKENS)
				done++;
		}
	}
	for (i = 0; i < CTXS; i++) {
		if (got[i] != DECODE_CASE_TOKENS || memcmp(ids[i], expect, sizeof(expect))) {
			printf("  child %d ctx %d: %d tokens, %s\n", getpid(), i, got[i],
			       got[i] == DECODE_CASE_TOKENS ? "different" : "short");
			return 4;
		}
		if (kt_wait_cqe(&c[i], &cqe, KT_EVENT_MS) || cqe.status != HC_STATUS_OK ||
		    kt_wait_cqe(&c[i], &cqe, KT_EVENT_MS) || cqe.status != HC_STATUS_DONE_MAX_TOKENS ||
		    cqe.count != DECODE_CASE_TOKENS)
			return 5;
		kt_stream_destroy(&s[i]);
		if (kt_ctx_destroy(&c[i]))
			return 6;
	}
	close(fd);
	return 0;
}

static void t_cancel(int fd)
{
	struct kt_ctx c;
	struct kt_stream s;
	struct drm_hc_cancel cn;
	struct drm_hc_cqe cqe;
	uint32_t ids[4096];
	int n, rc;

	KT_CHECK(kt_ctx_create(fd, &c, 4) == 0 && kt_stream_create(fd, &s, 4096) == 0,
		 "context and stream for cancel");
	kt_prefill(&c, decode_case_prompt, DECODE_CASE_PROMPT_LEN, 1);
	kt_decode(&c, &s, 100000, 2);
	n = kt_stream_read(&c, &s, ids, 5, KT_EVENT_MS);
	KT_CHECK(n == 5, "decode running (%d tokens)", n);
	cn = (struct drm_hc_cancel){ .ctx_handle = c.handle };
	KT_CHECK(ioctl(fd, DRM_IOCTL_HC_CANCEL, &cn) == 0, "CANCEL");
	rc = kt_wait_cqe(&c, &cqe, KT_EVENT_MS);
	KT_CHECK(rc == 0 && cqe.user_data == 1 && cqe.status == HC_STATUS_OK, "prefill completion");
	rc = kt_wait_cqe(&c, &cqe, KT_EVENT_MS);
	KT_CHECK(rc == 0 && cqe.user_data == 2 &&
		 (cqe.status == HC_STATUS_CANCELLED || cqe.status == HC_STATUS_CONTEXT_FULL),
		 "decode ended: status %u after %u tokens", cqe.status, cqe.count);
	n += kt_stream_read(&c, &s, ids + n, (int)cqe.count - n, KT_EVENT_MS);
	KT_CHECK(n == (int)cqe.count, "all %u produced tokens readable (%d)", cqe.count, n);
	KT_CHECK(!memcmp(ids, expect, sizeof(uint32_t) * (n < DECODE_CASE_TOKENS ? n :
							   DECODE_CASE_TOKENS)),
		 "they start like the reference");
	kt_stream_destroy(&s);
	KT_CHECK(kt_ctx_destroy(&c) == 0, "destroyed");
}

int main(void)
{
	char sysdir[512];
	pid_t pids[PROCS];
	int i, status, ok = 0, fd;
	FILE *f = fopen("/etc/expected-decode.txt", "r");

	for (i = 0; f && i < DECODE_CASE_TOKENS; i++)
		if (fscanf(f, "%u", &expect[i]) != 1)
			break;
	if (f)
		fclose(f);
	KT_CHECK(i == DECODE_CASE_TOKENS, "reference tokens loaded");
	for (i = 0; i < PROCS; i++) {
		pids[i] = fork();
		if (pids[i] == 0)
			_exit(child());
	}
	for (i = 0; i < PROCS; i++) {
		waitpid(pids[i], &status, 0);
		if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
			ok++;
		else
			printf("  child %d: status %#x\n", i, status);
	}
	KT_CHECK(ok == PROCS, "%d processes x %d contexts: every stream exact (%d/%d)", PROCS,
		 CTXS, ok, PROCS);
	fd = kt_open(sysdir, sizeof(sysdir));
	if (fd < 0)
		return 1;
	t_cancel(fd);
	KT_CHECK(kt_counter(sysdir, "contexts_open") == 0, "no contexts left");
	close(fd);
	return kt_exit();
}
