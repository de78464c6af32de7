// SPDX-License-Identifier: MIT
/*
 * libhc streams: back-pressure through a tiny ring loses nothing, cancel stops within one
 * step with an exact count, the pollable fd works in an application's own loop, waits work
 * where io_uring is refused, and context limits (full, reset, busy) behave as documented.
 */
#include <dlfcn.h>
#include <errno.h>
#include <liburing.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <poll.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include "hc_internal.h"
#include "hc_test.h"
#include "libhc_util.h"

static const int32_t prompt[] = { 1, 21, 33, 44 };

START_TEST(test_tiny_ring_slow_consumer)
{
	struct t_ref_params p = { .max_tokens = 1000, .temperature = 0.9f, .top_p = 0.95f,
				  .seed = 77 };
	struct hc_decode_params dp = { .max_tokens = 1000, .temperature = 0.9f, .top_p = 0.95f,
				       .seed = 77, .ring_entries = 8 };
	static int32_t want[1000];
	static uint32_t got[1000];
	struct hc_stream_status st;
	struct hc_card *card;
	struct hc_stream *s;
	struct hc_ctx *ctx;
	struct t_emud e;
	const uint32_t *t;
	char rom[256];
	uint32_t n = 0, nw;
	unsigned k, max_peek = 0;

	t_bake_long(2, 1100, rom, sizeof(rom));
	nw = t_reference(rom, prompt, 4, &p, want);
	ck_assert_uint_eq(nw, 1000);
	T_EMUD_START(&e, rom, NULL);
	ck_assert_int_eq(hc_open(e.uri, &card), 0);
	ck_assert_int_eq(hc_ctx_create(card, &ctx), 0);
	ck_assert_int_eq(hc_ctx_prefill_tokens(ctx, prompt, 4), 0);
	ck_assert_int_eq(hc_ctx_decode(ctx, &dp, &s), 0);
	for (;;) {
		k = hc_stream_peek(s, &t);
		if (!k) {
			if (hc_stream_status(s, NULL) == 1)
				break;
			ck_assert_int_ge(hc_stream_wait(&s, 1, -1), 0);
			continue;
		}
		if (k > max_peek)
			max_peek = k;
		ck_assert_uint_le(n + 1, 1000);
		got[n++] = t[0];	/* slow: one token at a time, with a nap now and then */
		hc_stream_advance(s, 1);
		if (n % 50 == 0)
			usleep(20000);
	}
	ck_assert_uint_le(max_peek, 8);
	ck_assert_int_eq(hc_stream_status(s, &st), 1);
	ck_assert_int_eq(st.state, HC_STREAM_DONE_MAX_TOKENS);
	ck_assert_uint_eq(st.count, 1000);
	ck_assert_uint_eq(n, 1000);
	ck_assert_int_eq(memcmp(got, want, sizeof(got)), 0);
	hc_stream_free(s);
	hc_ctx_destroy(ctx);
	hc_close(card);
	t_emud_stop(&e);
}
END_TEST

/* Cancel a decode that is paused on a full ring: exactly the ring's tokens, nothing more. */
START_TEST(test_cancel_paused_exact)
{
	struct t_ref_params p = { .max_tokens = 300 };
	struct hc_decode_params dp = { .max_tokens = 300, .ring_entries = 8 };
	int32_t want[300];
	uint32_t got[300], n = 0;
	struct hc_stream_status st;
	struct hc_card *card;
	struct hc_stream *s;
	struct hc_ctx *ctx;
	struct t_emud e;
	const uint32_t *t;
	char rom[256];
	int r, i;

	t_bake("tiny", 1, rom, sizeof(rom));
	t_reference(rom, prompt, 4, &p, want);
	T_EMUD_START(&e, rom, NULL);
	ck_assert_int_eq(hc_open(e.uri, &card), 0);
	ck_assert_int_eq(hc_ctx_create(card, &ctx), 0);
	ck_assert_int_eq(hc_ctx_prefill_tokens(ctx, prompt, 4), 0);
	ck_assert_int_eq(hc_ctx_decode(ctx, &dp, &s), 0);
	/* read 5, then let the ring fill up: the card must pause (8 unread) */
	while (n < 5) {
		r = hc_stream_read(s, got + n, 5 - n);
		ck_assert_int_gt(r, 0);
		n += r;
	}
	for (i = 0; i < 30000 && hc_stream_available(s) < 8; i++)
		ck_assert_int_ge(hc_stream_wait(&s, 1, 100), 0);
	ck_assert_uint_eq(hc_stream_available(s), 8);
	ck_assert_uint_eq(hc_stream_peek(s, &t), 3);	/* contiguous part: the ring wrapped */
	ck_assert_int_eq(hc_ctx_cancel(ctx), 0);
	/* free no space until the card has answered: the paused job must end right there
	 * (reading first could let the token it holds in; that is still within one step) */
	for (i = 0; i < 3000; i++) {
		ck_assert_int_ge(hc_stream_status(s, &st), 0);
		if (st.state != HC_STREAM_RUNNING)
			break;
		usleep(10000);
	}
	ck_assert_int_eq(st.state, HC_STREAM_CANCELLED);
	ck_assert_uint_eq(st.count, 5 + 8);
	while ((r = hc_stream_read(s, got + n, 300 - n)) > 0)
		n += r;
	ck_assert_int_eq(r, 0);
	ck_assert_int_eq(hc_stream_status(s, &st), 1);
	ck_assert_int_eq(st.state, HC_STREAM_CANCELLED);
	ck_assert_uint_eq(st.count, n);
	ck_assert_uint_eq(n, 5 + 8);
	ck_assert_uint_lt(st.count, 300);
	ck_assert_int_eq(memcmp(got, want, n * sizeof(*got)), 0);
	hc_stream_free(s);
	hc_ctx_destroy(ctx);
	hc_close(card);
	t_emud_stop(&e);
}
END_TEST

/*
 * Cancel a free-running decode: the count reported equals the tokens read, less than max.
 * The 256-entry ring lets the card run freely, yet not finish all 500 tokens unread, however
 * late the cancel comes (a loaded machine, a guest under TCG).
 */
START_TEST(test_cancel_running)
{
	struct t_ref_params p = { .max_tokens = 500, .temperature = 0.8f, .seed = 3 };
	struct hc_decode_params dp = { .max_tokens = 500, .temperature = 0.8f, .seed = 3,
				       .ring_entries = 256 };
	int32_t want[500];
	uint32_t got[500], n = 0;
	struct hc_stream_status st;
	struct hc_card *card;
	struct hc_stream *s;
	struct hc_ctx *ctx;
	struct t_emud e;
	char rom[256];
	int r;

	t_bake("tiny", 1, rom, sizeof(rom));
	t_reference(rom, prompt, 4, &p, want);
	T_EMUD_START(&e, rom, NULL);
	ck_assert_int_eq(hc_open(e.uri, &card), 0);
	ck_assert_int_eq(hc_ctx_create(card, &ctx), 0);
	ck_assert_int_eq(hc_ctx_prefill_tokens(ctx, prompt, 4), 0);
	ck_assert_int_eq(hc_ctx_decode(ctx, &dp, &s), 0);
	while (n < 20) {
		r = hc_stream_read(s, got + n, 500 - n);
		ck_assert_int_gt(r, 0);
		n += r;
	}
	ck_assert_int_eq(hc_ctx_cancel(ctx), 0);
	while ((r = hc_stream_read(s, got + n, 500 - n)) > 0)
		n += r;
	ck_assert_int_eq(r, 0);
	ck_assert_int_eq(hc_stream_status(s, &st), 1);
	ck_assert_int_eq(st.state, HC_STREAM_CANCELLED);
	ck_assert_uint_eq(st.count, n);
	ck_assert_uint_eq(st.consumed, n);
	ck_assert_uint_lt(n, 500);
	ck_assert_int_eq(memcmp(got, want, n * sizeof(*got)), 0);
	hc_stream_free(s);
	/* the context is usable afterwards */
	ck_assert_int_eq(hc_ctx_reset(ctx), 0);
	ck_assert_uint_eq(hc_ctx_position(ctx), 0);
	hc_ctx_destroy(ctx);
	hc_close(card);
	t_emud_stop(&e);
}
END_TEST

/* What Docker's default seccomp profile does since 25.0: io_uring_setup fails with EPERM. */
static int refuse_io_uring(void)
{
	struct sock_filter f[] = {
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_io_uring_setup, 0, 1),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | EPERM),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
	};
	struct sock_fprog prog = { .len = sizeof(f) / sizeof(f[0]), .filter = f };

	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0))
		return -errno;
	return prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog) ? -errno : 0;
}

/*
 * The child of test_no_io_uring: refuse io_uring, then two decodes through 8-entry rings,
 * waited on together and one by one. Exit status: 0, or the step that failed.
 */
static int decode_without_io_uring(const char *uri, const int32_t want[2][300])
{
	struct hc_decode_params dp[2] = {
		{ .max_tokens = 300, .temperature = 0.9f, .seed = 5, .ring_entries = 8 },
		{ .max_tokens = 300, .temperature = 0.7f, .top_k = 20, .seed = 6, .ring_entries = 8 },
	};
	static uint32_t got[2][300];
	uint32_t n[2] = { 0, 0 };
	struct hc_stream *s[2];
	struct hc_ctx *ctx[2];
	struct hc_card *card;
	struct io_uring ring;
	int r;

	if (refuse_io_uring())
		return 10;
	if (io_uring_queue_init(8, &ring, 0) != -EPERM)
		return 11;	/* the filter did not take */
	if (hc_open(uri, &card))
		return 12;
	for (int i = 0; i < 2; i++)
		if (hc_ctx_create(card, &ctx[i]) || hc_ctx_prefill_tokens(ctx[i], prompt, 4) ||
		    hc_ctx_decode(ctx[i], &dp[i], &s[i]))
			return 13;
	/* both streams in one wait until one ends, then hc_stream_read (waits on one stream) */
	while (hc_stream_status(s[0], NULL) != 1 && hc_stream_status(s[1], NULL) != 1) {
		if (hc_stream_wait(s, 2, -1) < 0)
			return 14;
		for (int i = 0; i < 2; i++) {
			const uint32_t *t;
			unsigned k = hc_stream_peek(s[i], &t);

			if (n[i] + k > 300)
				return 15;
			memcpy(got[i] + n[i], t, k * sizeof(*t));
			n[i] += k;
			hc_stream_advance(s[i], k);
		}
	}
	for (int i = 0; i < 2; i++) {
		while ((r = hc_stream_read(s[i], got[i] + n[i], 300 - n[i])) > 0)
			n[i] += r;
		if (r < 0 || n[i] != 300)
			return 16;
		if (memcmp(got[i], want[i], sizeof(got[i])))
			return 17;
		hc_stream_free(s[i]);
		hc_ctx_destroy(ctx[i]);
	}
	hc_close(card);
	return 0;
}

/* Where io_uring is refused (seccomp), waits fall back to poll(2): the same exact tokens. */
START_TEST(test_no_io_uring)
{
	struct t_ref_params p[2] = {
		{ .max_tokens = 300, .temperature = 0.9f, .seed = 5 },
		{ .max_tokens = 300, .temperature = 0.7f, .top_k = 20, .seed = 6 },
	};
	static int32_t want[2][300];
	struct t_emud e;
	char rom[256];
	int st;
	pid_t pid;

	t_bake_long(2, 1100, rom, sizeof(rom));
	for (int i = 0; i < 2; i++)
		ck_assert_uint_eq(t_reference(rom, prompt, 4, &p[i], want[i]), 300);
	T_EMUD_START(&e, rom, NULL);
	/* a child of its own, so the filter never reaches the daemon or the other tests */
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0)
		_exit(decode_without_io_uring(e.uri, (const int32_t (*)[300])want));
	ck_assert_int_eq(waitpid(pid, &st, 0), pid);
	ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0,
		      "decode without io_uring failed: %s %d (10 seccomp, 11 filter ineffective, "
		      "12 open, 13 decode, 14 wait, 15 too many, 16 count, 17 tokens differ)",
		      WIFEXITED(st) ? "exit" : "signal",
		      WIFEXITED(st) ? WEXITSTATUS(st) : WTERMSIG(st));
	t_emud_stop(&e);
}
END_TEST

/*
 * A binding's view (ctypes, cffi, Rust/Go FFI): everything by symbol from libhc.so, the
 * stream fast path included (lib/hc_ffi.c exports hc_stream.h's inline functions).
 */
START_TEST(test_ffi_symbols)
{
	struct t_ref_params p = { .max_tokens = 200, .temperature = 0.8f, .seed = 9 };
	struct hc_decode_params dp = { .max_tokens = 200, .temperature = 0.8f, .seed = 9,
				       .ring_entries = 8 };
	int (*open_)(const char *, struct hc_card **);
	int (*ctx_create)(struct hc_card *, struct hc_ctx **);
	int (*prefill)(struct hc_ctx *, const int32_t *, uint32_t);
	int (*decode)(struct hc_ctx *, const struct hc_decode_params *, struct hc_stream **);
	int (*status)(struct hc_stream *, struct hc_stream_status *);
	int (*wait)(struct hc_stream **, unsigned, int);
	unsigned (*peek)(struct hc_stream *, const uint32_t **);
	void (*advance)(struct hc_stream *, unsigned);
	unsigned (*available)(struct hc_stream *);
	uint64_t (*consumed)(const struct hc_stream *);
	void (*stream_free)(struct hc_stream *);
	void (*ctx_destroy)(struct hc_ctx *);
	void (*close_)(struct hc_card *);
	int32_t want[200];
	uint32_t got[200], n = 0;
	struct hc_card *card;
	struct hc_stream *s;
	struct hc_ctx *ctx;
	struct t_emud e;
	char rom[256];
	void *so;

	if (access("build/libhc.so.1", R_OK))
		HC_SKIP("no build/libhc.so.1 here (a static test binary in the QEMU guest)");
	so = dlopen("build/libhc.so.1", RTLD_NOW | RTLD_LOCAL);
	ck_assert_msg(so, "dlopen: %s", dlerror());
#define SYM(var, name) ck_assert_msg((*(void **)&(var) = dlsym(so, name)), "no symbol %s", name)
	SYM(open_, "hc_open");
	SYM(ctx_create, "hc_ctx_create");
	SYM(prefill, "hc_ctx_prefill_tokens");
	SYM(decode, "hc_ctx_decode");
	SYM(status, "hc_stream_status");
	SYM(wait, "hc_stream_wait");
	SYM(peek, "hc_stream_peek");
	SYM(advance, "hc_stream_advance");
	SYM(available, "hc_stream_available");
	SYM(consumed, "hc_stream_consumed");
	SYM(stream_free, "hc_stream_free");
	SYM(ctx_destroy, "hc_ctx_destroy");
	SYM(close_, "hc_close");
#undef SYM
	t_bake("tiny", 1, rom, sizeof(rom));
	ck_assert_uint_eq(t_reference(rom, prompt, 4, &p, want), 200);
	T_EMUD_START(&e, rom, NULL);
	ck_assert_int_eq(open_(e.uri, &card), 0);
	ck_assert_int_eq(ctx_create(card, &ctx), 0);
	ck_assert_int_eq(prefill(ctx, prompt, 4), 0);
	ck_assert_int_eq(decode(ctx, &dp, &s), 0);
	for (;;) {
		const uint32_t *t;
		unsigned k = peek(s, &t);

		if (!k) {
			if (status(s, NULL) == 1)
				break;
			ck_assert_int_ge(wait(&s, 1, -1), 0);
			continue;
		}
		ck_assert_uint_le(k, 8);	/* the ring's size */
		ck_assert_uint_ge(available(s), k);
		ck_assert_uint_le(n + k, 200);
		memcpy(got + n, t, k * sizeof(*t));
		n += k;
		advance(s, k);
		ck_assert_uint_eq(consumed(s), n);
	}
	ck_assert_uint_eq(n, 200);
	ck_assert_int_eq(memcmp(got, want, sizeof(got)), 0);
	stream_free(s);
	ctx_destroy(ctx);
	close_(card);
	dlclose(so);
	t_emud_stop(&e);
}
END_TEST

/*
 * hc-emud --pace: four paced streams read together each equal their reference, and none is
 * faster than the pace (a lower bound on time: a slower machine only takes longer).
 */
START_TEST(test_paced_exact)
{
	enum { NS = 4, NT = 300, PACE = 2000 };
	static int32_t want[NS][NT];
	static uint32_t got[NS][NT];
	uint32_t n[NS] = { 0 };
	struct hc_stream *s[NS];
	struct hc_ctx *ctx[NS];
	struct hc_card *card;
	struct timespec t0, t1;
	struct t_emud e;
	char rom[256];
	double secs;

	t_bake_long(2, 1100, rom, sizeof(rom));
	for (int i = 0; i < NS; i++) {
		struct t_ref_params p = { .max_tokens = NT, .temperature = 0.8f, .seed = 40 + i };

		ck_assert_uint_eq(t_reference(rom, prompt, 4, &p, want[i]), NT);
	}
	T_EMUD_START(&e, rom, "--pace=2000", NULL);
	ck_assert_int_eq(hc_open(e.uri, &card), 0);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (int i = 0; i < NS; i++) {
		struct hc_decode_params dp = { .max_tokens = NT, .temperature = 0.8f,
					       .seed = 40 + i };

		ck_assert_int_eq(hc_ctx_create(card, &ctx[i]), 0);
		ck_assert_int_eq(hc_ctx_prefill_tokens(ctx[i], prompt, 4), 0);
		ck_assert_int_eq(hc_ctx_decode(ctx[i], &dp, &s[i]), 0);
	}
	for (int done = 0; done < NS;) {
		done = 0;
		for (int i = 0; i < NS; i++) {
			const uint32_t *t;
			unsigned k = hc_stream_peek(s[i], &t);

			ck_assert_uint_le(n[i] + k, NT);
			memcpy(got[i] + n[i], t, k * sizeof(*t));
			n[i] += k;
			hc_stream_advance(s[i], k);
			done += !k && hc_stream_status(s[i], NULL) == 1;
		}
		if (done < NS)
			ck_assert_int_ge(hc_stream_wait(s, NS, -1), 0);
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	secs = (t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9;
	for (int i = 0; i < NS; i++) {
		ck_assert_uint_eq(n[i], NT);
		ck_assert_msg(memcmp(got[i], want[i], sizeof(got[i])) == 0, "stream %d differs", i);
		hc_stream_free(s[i]);
		hc_ctx_destroy(ctx[i]);
	}
	fprintf(stderr, "paced: %d x %d tokens at %d tokens/s in %.3f s\n", NS, NT, PACE, secs);
	ck_assert_msg(secs >= (NT - 1) / (double)PACE, "%d tokens in %.3f s: faster than %d/s",
		      NT, secs, PACE);
	hc_close(card);
	t_emud_stop(&e);
}
END_TEST

/* An application's own poll loop over hc_stream_fd() + hc_stream_rearm(). */
START_TEST(test_pollable_fd)
{
	struct t_ref_params p = { .max_tokens = 64, .temperature = 1.0f, .seed = 11 };
	struct hc_decode_params dp = { .max_tokens = 64, .temperature = 1.0f, .seed = 11,
				       .ring_entries = 16 };
	int32_t want[64];
	uint32_t got[64], n = 0;
	struct hc_card *card;
	struct hc_stream *s;
	struct hc_ctx *ctx;
	struct t_emud e;
	const uint32_t *t;
	struct pollfd pfd;
	char rom[256];
	unsigned k;
	int r;

	t_bake("tiny", 1, rom, sizeof(rom));
	t_reference(rom, prompt, 4, &p, want);
	T_EMUD_START(&e, rom, NULL);
	ck_assert_int_eq(hc_open(e.uri, &card), 0);
	ck_assert_int_eq(hc_ctx_create(card, &ctx), 0);
	ck_assert_int_eq(hc_ctx_prefill_tokens(ctx, prompt, 4), 0);
	ck_assert_int_eq(hc_ctx_decode(ctx, &dp, &s), 0);
	pfd.fd = hc_stream_fd(s);
	if (pfd.fd == -EOPNOTSUPP) {
		hc_stream_free(s);
		hc_ctx_destroy(ctx);
		hc_close(card);
		t_emud_stop(&e);
		HC_SKIP("hc_stream_fd: not supported by the backend of %s", e.uri);
	}
	ck_assert_int_ge(pfd.fd, 0);
	pfd.events = POLLIN;
	for (;;) {
		while ((k = hc_stream_peek(s, &t))) {
			ck_assert_uint_le(n + k, 64);
			memcpy(got + n, t, k * sizeof(*t));
			n += k;
			hc_stream_advance(s, k);
		}
		if (hc_stream_status(s, NULL) == 1)
			break;
		r = hc_stream_rearm(s);
		ck_assert_int_ge(r, 0);
		if (!r)
			ck_assert_int_ge(poll(&pfd, 1, -1), 0);
	}
	ck_assert_uint_eq(n, 64);
	ck_assert_int_eq(memcmp(got, want, sizeof(got)), 0);
	hc_stream_free(s);
	hc_ctx_destroy(ctx);
	hc_close(card);
	t_emud_stop(&e);
}
END_TEST

START_TEST(test_context_limits)
{
	struct t_ref_params p = { .max_tokens = 1000 };
	/* a 64-entry ring keeps the decode running until it is read: -EBUSY below is certain */
	struct hc_decode_params dp = { .max_tokens = 1000, .ring_entries = 64 };
	static int32_t want[1000], big[600];
	static uint32_t got[1000];
	struct hc_stream_status st;
	struct hc_card_info info;
	struct hc_card *card;
	struct hc_stream *s, *s2;
	struct hc_ctx *ctx;
	struct t_emud e;
	char rom[256];
	uint32_t n = 0, nw, i;
	int r;

	t_bake("tiny", 1, rom, sizeof(rom));
	nw = t_reference(rom, prompt, 4, &p, want);	/* stops where the KV cache is full */
	T_EMUD_START(&e, rom, NULL);
	ck_assert_int_eq(hc_open(e.uri, &card), 0);
	ck_assert_int_eq(hc_card_info(card, &info), 0);
	ck_assert_uint_eq(info.max_ctx, 512);
	ck_assert_int_eq(hc_ctx_create(card, &ctx), 0);
	/* decode before any prompt: nothing to continue from */
	ck_assert_int_eq(hc_ctx_decode(ctx, &dp, &s), -EINVAL);
	/* a prompt longer than the context: refused whole */
	for (i = 0; i < 600; i++)
		big[i] = (int32_t)(i % 500);
	ck_assert_int_eq(hc_ctx_prefill_tokens(ctx, big, 600), -ENOSPC);
	ck_assert_uint_eq(hc_ctx_position(ctx), 0);
	ck_assert_int_eq(hc_ctx_prefill_tokens(ctx, big, 0), -EINVAL);
	big[0] = 512;
	ck_assert_int_eq(hc_ctx_prefill_tokens(ctx, big, 1), -EINVAL);	/* id >= vocab */
	ck_assert_int_eq(hc_ctx_prefill_tokens(ctx, prompt, 4), 0);
	ck_assert_int_eq(hc_ctx_decode(ctx, &dp, &s), 0);
	ck_assert_int_eq(hc_ctx_decode(ctx, &dp, &s2), -EBUSY);
	while ((r = hc_stream_read(s, got + n, 1000 - n)) > 0)
		n += r;
	ck_assert_int_eq(r, 0);
	ck_assert_int_eq(hc_stream_status(s, &st), 1);
	ck_assert_int_eq(st.state, HC_STREAM_CONTEXT_FULL);
	ck_assert_uint_eq(st.count, n);
	ck_assert_uint_lt(n, 1000);
	ck_assert_uint_eq(n, nw);
	ck_assert_int_eq(memcmp(got, want, n * sizeof(*got)), 0);
	hc_stream_free(s);
	/* reset, same prompt again: the same tokens as a fresh context */
	ck_assert_int_eq(hc_ctx_reset(ctx), 0);
	ck_assert_int_eq(hc_ctx_prefill_tokens(ctx, prompt, 4), 0);
	dp.max_tokens = 50;
	ck_assert_int_eq(hc_ctx_decode(ctx, &dp, &s), 0);
	n = 0;
	while ((r = hc_stream_read(s, got + n, 50 - n)) > 0)
		n += r;
	ck_assert_uint_eq(n, 50);
	ck_assert_int_eq(memcmp(got, want, 50 * sizeof(*got)), 0);
	hc_stream_free(s);
	/* bad parameters */
	dp.max_tokens = 0;
	ck_assert_int_eq(hc_ctx_decode(ctx, &dp, &s), -EINVAL);
	dp.max_tokens = 5;
	dp.ring_entries = 12;
	ck_assert_int_eq(hc_ctx_decode(ctx, &dp, &s), -EINVAL);
	dp.ring_entries = 0;
	dp.temperature = -1;
	ck_assert_int_eq(hc_ctx_decode(ctx, &dp, &s), -EINVAL);
	hc_ctx_destroy(ctx);
	hc_close(card);
	t_emud_stop(&e);
}
END_TEST

/* The daemon dies mid-stream: tokens already there are readable, then a clear error. */
START_TEST(test_daemon_dies)
{
	struct hc_decode_params dp = { .max_tokens = 400, .ring_entries = 8 };
	struct hc_stream_status st;
	struct hc_card *card;
	struct hc_stream *s;
	struct hc_ctx *ctx, *ctx2;
	struct t_emud e;
	uint32_t got[400], n = 0;
	char rom[256];
	int r;

	T_NEED_OWN_DAEMON("kills it mid-stream (the driver suite's t_60 resets a hung card)");
	t_bake("tiny", 1, rom, sizeof(rom));
	T_EMUD_START(&e, rom, NULL);
	ck_assert_int_eq(hc_open(e.uri, &card), 0);
	ck_assert_int_eq(hc_ctx_create(card, &ctx), 0);
	ck_assert_int_eq(hc_ctx_create(card, &ctx2), 0);
	ck_assert_int_eq(hc_ctx_prefill_tokens(ctx, prompt, 4), 0);
	ck_assert_int_eq(hc_ctx_decode(ctx, &dp, &s), 0);
	r = hc_stream_read(s, got, 4);
	ck_assert_int_gt(r, 0);
	n = r;
	t_emud_stop(&e);	/* SIGTERM: the daemon drops every client */
	while ((r = hc_stream_read(s, got + n, 400 - n)) > 0)
		n += r;
	ck_assert_msg(r == -ECONNRESET || r == 0, "read after the daemon died: %d", r);
	ck_assert_int_eq(hc_stream_status(s, &st), 1);
	ck_assert_int_eq(st.state, HC_STREAM_ERROR);
	ck_assert_int_eq(st.error, -ECONNRESET);
	ck_assert_uint_eq(st.count, n);
	ck_assert_uint_lt(n, 400);
	ck_assert_int_eq(hc_stream_wait(&s, 1, -1), 1);	/* ended: ready, never blocks */
	ck_assert_int_eq(hc_ctx_prefill_tokens(ctx2, prompt, 4), -ECONNRESET);
	hc_stream_free(s);
	hc_close(card);	/* frees ctx and ctx2 without hanging */
}
END_TEST

/* A hung card (TEST ONLY stall fault: no progress, heartbeat frozen) gives -ETIMEDOUT. */
START_TEST(test_hung_card_times_out)
{
	struct hc_decode_params dp = { .max_tokens = 400, .ring_entries = 8 };
	struct hc_card *card;
	struct hc_stream *s;
	struct hc_ctx *ctx;
	struct t_emud e;
	uint32_t got[8];
	const uint32_t *tp;
	char rom[256];
	int r;

	t_bake("tiny", 1, rom, sizeof(rom));
	T_EMUD_START(&e, rom, "--allow-faults", NULL);
	ck_assert_int_eq(hc_open(e.uri, &card), 0);
	ck_assert(card->regs->caps & HC_CAP_FAULT_INJECTION);
	ck_assert_int_eq(hc_ctx_create(card, &ctx), 0);
	ck_assert_int_eq(hc_ctx_prefill_tokens(ctx, prompt, 4), 0);
	ck_assert_int_eq(hc_ctx_decode(ctx, &dp, &s), 0);
	ck_assert_int_gt(hc_stream_read(s, got, 1), 0);
	card->regs->fault.stall = 1;
	hc_ring_store_release(&card->regs->fault.seq, card->regs->fault.seq + 1);
	card->ops->doorbell(card, HC_DOORBELL_CONTROL);
	/* drain what was made before the stall */
	while (hc_stream_available(s) || hc_stream_wait(&s, 1, 200) > 0)
		hc_stream_advance(s, hc_stream_peek(s, (const uint32_t **)&tp));
	/* nothing comes: a timed wait times out (0), a poll returns at once (0) */
	ck_assert_int_eq(hc_stream_wait(&s, 1, 50), 0);
	ck_assert_int_eq(hc_stream_wait(&s, 1, 0), 0);
	ck_assert_int_eq(hc_stream_wait(NULL, 1, 0), -EINVAL);
	ck_assert_int_eq(hc_stream_wait(&s, 0, 0), -EINVAL);
	/* then the blocking read must give up once the heartbeat is frozen, not hang */
	while ((r = hc_stream_read(s, got, 8)) > 0)
		;
	ck_assert_int_eq(r, -ETIMEDOUT);
	ck_assert_int_eq(hc_ctx_prefill_tokens(ctx, prompt, 4), -EBUSY);
	hc_close(card);
	t_emud_stop(&e);
}
END_TEST

/*
 * hc_ctx_generate: a prompt and its decode in one submission give the in-process reference,
 * and continuing a kept history gives what the two calls give, with the card's link
 * (HC_CAP_LINK), without it (white box: the bit taken out of what libhc saw) and with a
 * prompt longer than one PREFILL (white box: max_prefill 3), bit for bit. A prompt the card refuses after the call returned (white box: libhc made to believe
 * the context is empty) ends the stream with the prefill's -ENOSPC and no token, and the
 * context is as it was; the arguments are checked as prefill's and decode's are.
 */
START_TEST(test_generate)
{
	static const int32_t more[] = { 9, 8, 7 };
	struct t_ref_params p = { .max_tokens = 24, .temperature = 0.8f, .seed = 5 };
	struct hc_decode_params dp = { .max_tokens = 24, .temperature = 0.8f, .seed = 5 };
	struct hc_decode_params dp2 = { .max_tokens = 10, .temperature = 0.8f, .seed = 5,
					.step_base = 24 };
	int32_t want[64], got[3][64], cont[3][64], bad = -1, *fill;
	struct hc_stream_status st;
	struct hc_stream *s, *s2;
	struct hc_card *card;
	struct hc_ctx *ctx;
	uint64_t caps;
	struct t_emud e;
	char rom[256];
	uint32_t nw, n, i, link, max, max_prefill;
	int pass, r;

	t_bake("tiny", 1, rom, sizeof(rom));
	nw = t_reference(rom, prompt, 4, &p, want);
	ck_assert_uint_eq(nw, 24);
	T_EMUD_START(&e, rom, NULL);
	ck_assert_int_eq(hc_open(e.uri, &card), 0);
	caps = card->info.capabilities;
	max_prefill = card->max_prefill;
	link = (caps & HC_CAP_LINK) != 0;
	if (!t_external())
		ck_assert(link);	/* hc-emud links; the kernel driver does not pass it on */
	for (pass = 0; pass < 3; pass++) {
		/* 1: no link; 2: the link, and PREFILLs of at most 3 tokens (white box), so the
		 * 4-token prompt goes 3 first and the last one linked */
		if (pass == 1)
			card->info.capabilities &= ~HC_CAP_LINK;
		if (pass == 2) {
			card->info.capabilities = caps;
			card->max_prefill = 3;
		}
		ck_assert_int_eq(hc_ctx_create(card, &ctx), 0);
		ck_assert_int_eq(hc_ctx_generate(ctx, prompt, 4, &dp, &s), 0);
		n = t_drain(s, got[pass], 64, &st);
		ck_assert_int_eq(st.state, HC_STREAM_DONE_MAX_TOKENS);
		ck_assert_uint_eq(n, 24);
		ck_assert_int_eq(memcmp(got[pass], want, sizeof(int32_t) * 24), 0);
		ck_assert_uint_eq(hc_ctx_position(ctx), 4 + 24 - 1);
		hc_stream_free(s);
		ck_assert_int_eq(hc_ctx_generate(ctx, more, 3, &dp2, &s), 0);
		ck_assert_uint_eq(t_drain(s, cont[pass], 64, &st), 10);
		ck_assert_int_eq(st.state, HC_STREAM_DONE_MAX_TOKENS);
		hc_stream_free(s);
		hc_ctx_destroy(ctx);
	}
	ck_assert_int_eq(memcmp(cont[0], cont[1], sizeof(int32_t) * 10), 0);
	ck_assert_int_eq(memcmp(cont[0], cont[2], sizeof(int32_t) * 10), 0);
	card->info.capabilities = caps;
	card->max_prefill = max_prefill;

	/* the card refuses the prompt after the call returned */
	max = card->info.max_ctx;
	fill = malloc(sizeof(*fill) * max);
	ck_assert_ptr_nonnull(fill);
	for (i = 0; i < max; i++)
		fill[i] = 1;
	ck_assert_int_eq(hc_ctx_create(card, &ctx), 0);
	ck_assert_int_eq(hc_ctx_prefill_tokens(ctx, prompt, 4), 0);
	ctx->pos = 0;
	r = hc_ctx_generate(ctx, fill, max - 2, &dp, &s);
	if (link) {
		ck_assert_int_eq(r, 0);
		ck_assert_uint_eq(t_drain(s, got[0], 64, &st), 0);
		ck_assert_int_eq(st.state, HC_STREAM_ERROR);
		ck_assert_int_eq(st.error, -ENOSPC);
		hc_stream_free(s);
		ck_assert_uint_eq(hc_ctx_position(ctx), 4);	/* from the PREFILL's CQE */
	} else {
		ck_assert_int_eq(r, -ENOSPC);	/* the two calls: prefill's answer */
	}
	ck_assert_int_eq(hc_ctx_decode(ctx, &dp, &s), 0);
	ck_assert_uint_eq(t_drain(s, got[1], 64, &st), 24);
	ck_assert_int_eq(memcmp(got[1], want, sizeof(int32_t) * 24), 0);
	hc_stream_free(s);
	free(fill);

	/* arguments: nothing submitted */
	ck_assert_int_eq(hc_ctx_reset(ctx), 0);
	ck_assert_int_eq(hc_ctx_generate(NULL, prompt, 4, &dp, &s), -EINVAL);
	ck_assert_int_eq(hc_ctx_generate(ctx, NULL, 4, &dp, &s), -EINVAL);
	ck_assert_int_eq(hc_ctx_generate(ctx, prompt, 0, &dp, &s), -EINVAL);
	ck_assert_int_eq(hc_ctx_generate(ctx, prompt, 4, NULL, &s), -EINVAL);
	ck_assert_int_eq(hc_ctx_generate(ctx, prompt, 4, &dp, NULL), -EINVAL);
	ck_assert_int_eq(hc_ctx_generate(ctx, &bad, 1, &dp, &s), -EINVAL);
	dp2.max_tokens = 0;
	ck_assert_int_eq(hc_ctx_generate(ctx, prompt, 4, &dp2, &s), -EINVAL);
	/* busy: an 8-entry ring holds the 24-token decode open until the tokens are read (with
	 * room for all of them the card may finish first: the call would rightly succeed) */
	dp2 = dp;
	dp2.ring_entries = 8;
	ck_assert_int_eq(hc_ctx_generate(ctx, prompt, 4, &dp2, &s), 0);
	ck_assert_int_eq(hc_ctx_generate(ctx, prompt, 4, &dp, &s2), -EBUSY);
	ck_assert_uint_eq(t_drain(s, got[0], 64, &st), 24);
	ck_assert_int_eq(memcmp(got[0], want, sizeof(int32_t) * 24), 0);
	hc_stream_free(s);
	hc_ctx_destroy(ctx);
	hc_close(card);
	t_emud_stop(&e);
}
END_TEST

static Suite *stream_suite(void)
{
	Suite *s = suite_create("libhc_stream");
	TCase *tc = hc_tcase(s, "stream", 600);

	tcase_add_test(tc, test_tiny_ring_slow_consumer);
	tcase_add_test(tc, test_cancel_paused_exact);
	tcase_add_test(tc, test_cancel_running);
	tcase_add_test(tc, test_pollable_fd);
	tcase_add_test(tc, test_no_io_uring);
	tcase_add_test(tc, test_ffi_symbols);
	tcase_add_test(tc, test_paced_exact);
	tcase_add_test(tc, test_context_limits);
	tcase_add_test(tc, test_generate);
	tcase_add_test(tc, test_daemon_dies);
	tcase_add_test(tc, test_hung_card_times_out);
	return s;
}

HC_TEST_MAIN(stream_suite)
