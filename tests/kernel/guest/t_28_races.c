// SPDX-License-Identifier: MIT
/*
 * Lifetime races of driver v2 (defects 1, 3 and 4 of 27ebc51), run for a bounded time each
 * (hc.race=SECONDS on the kernel command line, default 8; 0 skips: the pci=nomsi boot, which
 * would only repeat them) with the guest's two vCPUs interleaving the threads; the host
 * fails the boot on any oops, WARN, list corruption or (with slub_debug and init_on_free)
 * poisoned-memory use, and the test itself checks what users see:
 *
 *  1. create/destroy on guessed handles: one thread creates and destroys contexts while two
 *     others destroy, submit to and wait on the handles it is likely to get. Every call
 *     returns success or a documented errno; nothing stays open.
 *  2. resets during work: two files run the decode case over and over (fresh context each
 *     time, contexts created while resets happen), a third floods NOPs, and a fourth thread
 *     forces a card reset every 250 ms. Every job completes exactly once; a decode that
 *     completes without error has exactly the host's tokens (a context that kept a stale card
 *     id across a reset would decode in another user's KV slot).
 */
#include <pthread.h>
#include "ktest.h"
#include "decode_case.h"

#define N_TOKENS 8

static int fd_main;
static int64_t stop_at;
static char dbg[512];
static uint32_t expect[DECODE_CASE_TOKENS];
static int bad;			/* atomic */

#define BAD(...) do {								\
	printf("  FAIL " __VA_ARGS__); printf("\n"); fflush(stdout);		\
	__atomic_add_fetch(&bad, 1, __ATOMIC_RELAXED);				\
} while (0)

static int running(void)
{
	return kt_now_ns() < stop_at;
}

/* ---- 1: create/destroy on guessed handles ---- */

static long n_create, n_guess;

static void *creator(void *arg)
{
	(void)arg;
	while (running()) {
		struct drm_hc_ctx_create a = { .sq_entries = 4 };
		struct drm_hc_ctx_destroy d;

		if (ioctl(fd_main, DRM_IOCTL_HC_CTX_CREATE, &a)) {
			if (errno != EMFILE && errno != ENOSPC && errno != EAGAIN)
				BAD("CTX_CREATE: %s", strerror(errno));
			continue;
		}
		__atomic_add_fetch(&n_create, 1, __ATOMIC_RELAXED);
		d = (struct drm_hc_ctx_destroy){ .handle = a.handle };
		if (ioctl(fd_main, DRM_IOCTL_HC_CTX_DESTROY, &d) && errno != ENOENT)
			BAD("CTX_DESTROY own: %s", strerror(errno));
	}
	return NULL;
}

static void *guesser(void *arg)
{
	uint32_t h = (uint32_t)(uintptr_t)arg;

	while (running()) {
		struct drm_hc_ctx_destroy d = { .handle = h };
		struct drm_hc_submit s = { .ctx_handle = h };
		struct drm_hc_wait w = { .ctx_handle = h, .timeout_ns = 0 };

		if (ioctl(fd_main, DRM_IOCTL_HC_CTX_DESTROY, &d) && errno != ENOENT)
			BAD("CTX_DESTROY guessed %u: %s", h, strerror(errno));
		/* An empty ring: nothing to take (0) or no such context. */
		if (ioctl(fd_main, DRM_IOCTL_HC_SUBMIT, &s) && errno != ENOENT)
			BAD("SUBMIT guessed %u: %s", h, strerror(errno));
		if (ioctl(fd_main, DRM_IOCTL_HC_WAIT, &w) && errno != ENOENT && errno != ETIME)
			BAD("WAIT guessed %u: %s", h, strerror(errno));
		h = h % 6 + 1;
		__atomic_add_fetch(&n_guess, 1, __ATOMIC_RELAXED);
	}
	return NULL;
}

/* ---- 2: resets during work ---- */

static long n_ok, n_reset, n_nops, n_resets_forced;

/* Drain completions of @c into @seen (user_data 1..n); returns how many arrived. */
static int drain(struct kt_ctx *c, uint8_t *seen, int n, struct drm_hc_cqe *last)
{
	int got = 0;

	while (hc_ring_cons_avail(&c->cq) > 0) {
		struct drm_hc_cqe q;

		memcpy(&q, hc_ring_cons_entry(&c->cq, 0), sizeof(q));
		hc_ring_cons_release(&c->cq, 1);
		if (q.user_data < 1 || q.user_data > (uint64_t)n)
			BAD("completion for user_data %llu never submitted",
			    (unsigned long long)q.user_data);
		else if (seen[q.user_data - 1]++)
			BAD("second completion for user_data %llu", (unsigned long long)q.user_data);
		if (last && q.user_data == 2)
			*last = q;
		got++;
	}
	return got;
}

/* One decode case on a fresh context: prefill (user_data 1) + decode (2). */
static void decode_once(int fd)
{
	struct drm_hc_cqe dec = { 0 };
	struct kt_ctx c;
	struct kt_stream s;
	uint32_t ids[N_TOKENS];
	uint8_t seen[2] = { 0, 0 };
	int64_t deadline;
	int rc, ntok = 0, done = 0;

	rc = kt_ctx_create(fd, &c, 4);
	if (rc == -EAGAIN || rc == -ENOSPC)
		return;		/* a reset came between the card's open and the handle */
	if (rc) {
		BAD("CTX_CREATE: %s", strerror(-rc));
		return;
	}
	if (kt_stream_create(fd, &s, 16)) {
		BAD("STREAM_CREATE: %s", strerror(errno));
		kt_ctx_destroy(&c);
		return;
	}
	rc = kt_prefill(&c, decode_case_prompt, DECODE_CASE_PROMPT_LEN, 1);
	if (rc == 1)
		rc = kt_decode(&c, &s, N_TOKENS, 2);
	if (rc != 1) {
		if (rc != -ECANCELED)
			BAD("SUBMIT: %s", rc < 0 ? strerror(-rc) : "nothing taken");
		else
			__atomic_add_fetch(&n_reset, 1, __ATOMIC_RELAXED);
		goto out;
	}
	deadline = kt_now_ns() + (int64_t)KT_EVENT_MS * 1000000;
	while (done < 2 && kt_now_ns() < deadline) {
		struct drm_hc_wait w = { .ctx_handle = c.handle, .flags = DRM_HC_WAIT_STREAM,
					 .stream_handle = s.handle };
		int avail = hc_ring_cons_avail(&s.r), i;

		for (i = 0; i < avail; i++) {
			if (ntok < N_TOKENS)
				ids[ntok] = *hc_stream_entry(&s.r, s.r.local + i);
			ntok++;
		}
		hc_ring_cons_release(&s.r, (uint32_t)avail);
		done += drain(&c, seen, 2, &dec);
		if (done == 2)
			break;
		hc_ring_cons_sleep_prepare(&s.r);
		w.cq_tail = c.cq.local;
		w.stream_tail = s.r.local;
		w.timeout_ns = kt_now_ns() + 100000000;	/* re-check every 100 ms */
		ioctl(fd, DRM_IOCTL_HC_WAIT, &w);
		hc_ring_cons_sleep_done(&s.r);
	}
	/* The tokens are in the stream before the completion says so: take the rest. */
	{
		int avail = hc_ring_cons_avail(&s.r), i;

		for (i = 0; i < avail; i++) {
			if (ntok < N_TOKENS)
				ids[ntok] = *hc_stream_entry(&s.r, s.r.local + i);
			ntok++;
		}
		hc_ring_cons_release(&s.r, (uint32_t)(avail > 0 ? avail : 0));
	}
	if (done != 2) {
		BAD("only %d of 2 completions within %d s", done, KT_EVENT_MS / 1000);
	} else if (dec.status == HC_STATUS_DONE_MAX_TOKENS) {
		if (ntok != N_TOKENS || memcmp(ids, expect, sizeof(ids)))
			BAD("a decode that completed without error has other tokens (%d, first %u, "
			    "want %u)", ntok, ids[0], expect[0]);
		else
			__atomic_add_fetch(&n_ok, 1, __ATOMIC_RELAXED);
	} else if (dec.status == HC_STATUS_ERROR &&
		   (dec.reason == DRM_HC_REASON_RESET || dec.reason == DRM_HC_REASON_TIMEOUT ||
		    dec.reason == DRM_HC_REASON_LOST || dec.reason == HC_REASON_BAD_STATE)) {
		/* BAD_STATE: its prefill was lost in the reset, the decode found nothing. */
		__atomic_add_fetch(&n_reset, 1, __ATOMIC_RELAXED);
	} else {
		BAD("decode ended with status %u reason %#x", dec.status, dec.reason);
	}
out:
	kt_stream_destroy(&s);
	kt_ctx_destroy(&c);
}

static void *decoder(void *arg)
{
	int fd = kt_open(NULL, 0);

	(void)arg;
	while (fd >= 0 && running())
		decode_once(fd);
	if (fd >= 0)
		close(fd);
	return NULL;
}

#define NOPS 32

static void *nop_flood(void *arg)
{
	int fd = kt_open(NULL, 0);
	struct drm_hc_job j;
	struct kt_ctx c;

	(void)arg;
	memset(&j, 0, sizeof(j));
	j.opcode = DRM_HC_OP_NOP;
	while (fd >= 0 && running()) {
		uint8_t seen[NOPS] = { 0 };
		struct drm_hc_submit s;
		int64_t deadline;
		int i, got = 0;

		if (kt_ctx_create(fd, &c, 64))
			continue;
		for (i = 0; i < NOPS; i++) {
			j.user_data = (uint64_t)i + 1;
			memcpy(hc_ring_prod_entry(&c.sq, 0), &j, sizeof(j));
			hc_ring_prod_publish(&c.sq, 1);
		}
		s = (struct drm_hc_submit){ .ctx_handle = c.handle };
		if (ioctl(fd, DRM_IOCTL_HC_SUBMIT, &s) && errno != ECANCELED && errno != EBUSY)
			BAD("NOP SUBMIT: %s", strerror(errno));
		deadline = kt_now_ns() + (int64_t)KT_EVENT_MS * 1000000;
		while (got < (int)s.submitted && kt_now_ns() < deadline) {
			struct drm_hc_wait w = { .ctx_handle = c.handle, .cq_tail = c.cq.local,
						 .timeout_ns = kt_now_ns() + 100000000 };

			got += drain(&c, seen, NOPS, NULL);
			if (got < (int)s.submitted)
				ioctl(fd, DRM_IOCTL_HC_WAIT, &w);
		}
		got += drain(&c, seen, NOPS, NULL);
		if (got != (int)s.submitted)
			BAD("%d completions for %u NOPs", got, s.submitted);
		__atomic_add_fetch(&n_nops, got, __ATOMIC_RELAXED);
		kt_ctx_destroy(&c);
	}
	if (fd >= 0)
		close(fd);
	return NULL;
}

static void *resetter(void *arg)
{
	char path[600];

	(void)arg;
	snprintf(path, sizeof(path), "%s/force_recovery", dbg);
	while (running()) {
		if (kt_write_file(path, "1") == 0)
			__atomic_add_fetch(&n_resets_forced, 1, __ATOMIC_RELAXED);
		usleep(250000);
	}
	return NULL;
}

int main(void)
{
	char sysdir[512], cmdline[4096], *arg;
	int secs = 8;
	pthread_t th[6];
	int i, n;

	if (!kt_read_file("/proc/cmdline", cmdline, sizeof(cmdline)) &&
	    (arg = strstr(cmdline, "hc.race=")))
		secs = atoi(arg + strlen("hc.race="));
	if (secs <= 0) {
		printf("  skip: hc.race=0\n");
		return 77;
	}
	fd_main = kt_open(sysdir, sizeof(sysdir));
	if (fd_main < 0)
		return 1;
	KT_CHECK(kt_debugfs(dbg, sizeof(dbg)) == 0, "debugfs at %s", dbg);
	n = kt_expected_tokens(expect);
	KT_CHECK(n == DECODE_CASE_TOKENS, "expected tokens from the host (%d)", n);

	stop_at = kt_now_ns() + (int64_t)secs * 1000000000;
	pthread_create(&th[0], NULL, creator, NULL);
	pthread_create(&th[1], NULL, guesser, (void *)(uintptr_t)1);
	pthread_create(&th[2], NULL, guesser, (void *)(uintptr_t)4);
	for (i = 0; i < 3; i++)
		pthread_join(th[i], NULL);
	KT_CHECK(n_create > 0 && n_guess > 0, "1: %ld contexts created and destroyed against %ld "
		 "guessed destroy/submit/wait rounds in %d s", n_create, n_guess, secs);
	KT_CHECK(kt_counter(sysdir, "contexts_open") == 0, "1: no context left open");

	stop_at = kt_now_ns() + (int64_t)secs * 1000000000;
	pthread_create(&th[0], NULL, decoder, NULL);
	pthread_create(&th[1], NULL, decoder, NULL);
	pthread_create(&th[2], NULL, nop_flood, NULL);
	pthread_create(&th[3], NULL, resetter, NULL);
	for (i = 0; i < 4; i++)
		pthread_join(th[i], NULL);
	KT_CHECK(n_resets_forced > 0, "2: %ld resets forced in %d s", n_resets_forced, secs);
	KT_CHECK(n_ok > 0, "2: %ld decodes exact, %ld hit by a reset, %ld NOPs each completed once",
		 n_ok, n_reset, n_nops);
	KT_CHECK(__atomic_load_n(&bad, __ATOMIC_RELAXED) == 0, "no wrong answer (%d)", bad);
	KT_CHECK(kt_counter_wait(sysdir, "jobs_inflight", 0, KT_EVENT_MS) == 0,
		 "nothing left in flight");
	KT_CHECK(kt_counter(sysdir, "contexts_open") == 0, "no context left open");
	close(fd_main);
	return kt_exit();
}
