// SPDX-License-Identifier: MIT
/*
 * Many streams, one consumer: hc_stream_wait_any() over 64 paced streams with a latency
 * budget (deferred wake-ups on the card) gives every stream exactly its solo run, and so does
 * an application's own epoll loop on hc_stream_fd() with hc_stream_rearm_many(); the poll(2)
 * fallback (HC_NO_IO_URING=1) gives the same tokens as io_uring; a budget is honoured (no
 * token reaches the application much later than the budget after the card published it, a
 * liveness check with a generous slack, not a speed test), budget 0 leaves the DECODE as it
 * was, and a card that cannot defer gets no budget (libhc batches on the host instead).
 * Nothing here waits on this machine's speed: waits are on events, bounds are the test case's.
 */
#include <dirent.h>
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <time.h>
#include <unistd.h>
#include "hc_internal.h"
#include "hc_test.h"
#include "libhc_util.h"

static const int32_t prompt[] = { 1, 21, 33, 44 };

enum { MAX_NS = 64, MAX_NT = 600 };

/* The parameters of stream @i of a run: a different sampling setup per stream. */
static struct t_ref_params ref_params(unsigned i, uint32_t nt)
{
	return (struct t_ref_params){ .max_tokens = nt, .temperature = 0.6f + 0.1f * (float)(i % 5),
				      .top_k = (i % 3) * 10, .seed = 1000 + i };
}

static struct hc_decode_params decode_params(unsigned i, uint32_t nt, uint32_t budget_us)
{
	struct t_ref_params p = ref_params(i, nt);

	return (struct hc_decode_params){ .max_tokens = nt, .temperature = p.temperature,
					  .top_k = p.top_k, .seed = p.seed,
					  .latency_budget_us = budget_us };
}

/* The DECODE SQE libhc just queued for @ctx (it stays in the SQ ring until overwritten). */
/*
 * What the card is asked to defer a stream's wake-up by for a latency budget: the budget less
 * the wake-up's own time, 100 us plus an eighth of the budget, and nothing for a budget within
 * that (libhc's hc__wakeup_defer_us; the budget bounds when the application has the token,
 * not when the interrupt fires).
 */
static uint32_t deferral_us(uint32_t budget_us)
{
	uint32_t allowance = 100 + budget_us / 8;

	return budget_us > allowance ? budget_us - allowance : 0;
}

static const struct hc_sqe *last_sqe(struct hc_ctx *ctx)
{
	return hc_sq_entry(&ctx->qp->sq, ctx->qp->sq.local - 1);
}

/* io_uring instances among this process's descriptors. */
static int count_io_urings(void)
{
	char path[300], link[64];
	struct dirent *de;
	DIR *d = opendir("/proc/self/fd");
	int n = 0;
	ssize_t k;

	ck_assert_ptr_nonnull(d);
	while ((de = readdir(d))) {
		snprintf(path, sizeof(path), "/proc/self/fd/%s", de->d_name);
		k = readlink(path, link, sizeof(link) - 1);
		if (k > 0) {
			link[k] = 0;
			n += strstr(link, "io_uring") != NULL;
		}
	}
	closedir(d);
	return n;
}

struct run {
	unsigned ns;			/* streams */
	uint32_t nt;			/* tokens each */
	uint32_t budget_us;
	int strip_wakeup_cap;		/* white box: pretend the card cannot defer wake-ups */
	int epoll;			/* read in an epoll loop on hc_stream_fd + rearm_many */
	uint32_t got[MAX_NS][MAX_NT];
	uint32_t n[MAX_NS];
	unsigned waits;			/* hc_stream_wait_any calls */
	int urings;			/* io_uring fds while the card was open */
	unsigned in_host;		/* streams whose ring is in host memory */
};

/*
 * An application's own event loop: one epoll over every stream's hc_stream_fd() (contexts
 * share queue pairs, so fds), read every live stream, and sleep with no timeout after
 * hc_stream_rearm_many() said 0. A wake-up lost with no later interrupt to cover it (the
 * streams' last tokens) hangs here until the test case's timeout.
 */
static void epoll_loop(struct hc_stream **slot, struct run *r)
{
	unsigned live = r->ns, i;
	int epfd = epoll_create1(EPOLL_CLOEXEC), k;

	ck_assert_int_ge(epfd, 0);
	for (i = 0; i < r->ns; i++) {
		struct epoll_event ev = { .events = EPOLLIN };
		int fd = hc_stream_fd(slot[i]);

		ck_assert_int_ge(fd, 0);
		ev.data.fd = fd;
		ck_assert(!epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev) || errno == EEXIST);
	}
	while (live) {
		struct epoll_event evs[8];

		for (i = 0; i < r->ns; i++) {
			const uint32_t *t;
			unsigned m;

			if (!slot[i])
				continue;
			while ((m = hc_stream_peek(slot[i], &t))) {
				ck_assert_uint_le(r->n[i] + m, r->nt);
				memcpy(r->got[i] + r->n[i], t, m * sizeof(*t));
				r->n[i] += m;
				hc_stream_advance(slot[i], m);
			}
			if (hc_stream_status(slot[i], NULL) == 1) {
				slot[i] = NULL;
				live--;
			}
		}
		if (!live)
			break;
		k = hc_stream_rearm_many(slot, r->ns);
		ck_assert_int_ge(k, 0);
		if (k)
			continue;
		k = epoll_wait(epfd, evs, 8, -1);
		ck_assert(k > 0 || (k < 0 && errno == EINTR));
		r->waits++;
	}
	ck_assert_int_eq(hc_stream_rearm_many(slot, r->ns), -EINVAL);	/* every slot NULL */
	ck_assert_int_eq(hc_stream_rearm_many(NULL, 1), -EINVAL);
	ck_assert_int_eq(hc_stream_rearm_many(slot, 0), -EINVAL);
	close(epfd);
}

/*
 * @r->ns decodes on one card, all read by this thread through hc_stream_wait_any(): slots of
 * ended streams are set to NULL, only the slots it reports ready are read.
 */
static void run_multi(const char *uri, struct run *r)
{
	struct hc_stream *slot[MAX_NS], *s[MAX_NS];
	struct hc_ctx *ctx[MAX_NS];
	unsigned ready[MAX_NS], live = r->ns, i;
	struct hc_card *card;
	int k;

	memset(r->n, 0, sizeof(r->n));
	r->waits = 0;
	r->in_host = 0;
	ck_assert_int_eq(hc_open(uri, &card), 0);
	if (r->strip_wakeup_cap)
		card->info.capabilities &= ~HC_CAP_WAKEUP_DELAY;
	for (i = 0; i < r->ns; i++) {
		struct hc_decode_params dp = decode_params(i, r->nt, r->budget_us);
		const struct hc_sqe *sqe;

		ck_assert_int_eq(hc_ctx_create(card, &ctx[i]), 0);
		ck_assert_int_eq(hc_ctx_prefill_tokens(ctx[i], prompt, 4), 0);
		ck_assert_int_eq(hc_ctx_decode(ctx[i], &dp, &s[i]), 0);
		/* what the card was asked: the budget's deferral only if it can defer wake-ups */
		sqe = last_sqe(ctx[i]);
		ck_assert_uint_eq(sqe->opcode, HC_OP_DECODE);
		if (r->budget_us && !r->strip_wakeup_cap) {
			ck_assert_uint_eq(sqe->decode.wakeup_usec, deferral_us(r->budget_us));
			ck_assert_uint_eq(sqe->decode.wakeup_tokens, (s[i]->mask + 1) / 2);
		} else {
			ck_assert_uint_eq(sqe->decode.wakeup_usec, 0);
			ck_assert_uint_eq(sqe->decode.wakeup_tokens, 0);
		}
		slot[i] = s[i];
		r->in_host += card->host_mem && (const uint8_t *)s[i]->entries >= card->host_mem &&
			      (const uint8_t *)s[i]->entries < card->host_mem + card->host_size;
	}
	if (r->epoll) {
		epoll_loop(slot, r);
		live = 0;
	}
	while (live) {
		k = hc_stream_wait_any(slot, r->ns, -1, ready);
		r->waits++;
		ck_assert_int_gt(k, 0);
		for (int j = 0; j < k; j++) {
			struct hc_stream *st;
			const uint32_t *t;
			unsigned m;

			i = ready[j];
			ck_assert_uint_lt(i, r->ns);
			ck_assert(j == 0 || ready[j - 1] < i);	/* increasing slots */
			st = slot[i];
			ck_assert_ptr_nonnull(st);
			while ((m = hc_stream_peek(st, &t))) {
				ck_assert_uint_le(r->n[i] + m, r->nt);
				memcpy(r->got[i] + r->n[i], t, m * sizeof(*t));
				r->n[i] += m;
				hc_stream_advance(st, m);
			}
			if (hc_stream_status(st, NULL) == 1) {
				slot[i] = NULL;
				live--;
			}
		}
	}
	/* every slot NULL: nothing to wait on */
	ck_assert_int_eq(hc_stream_wait_any(slot, r->ns, 0, ready), -EINVAL);
	r->urings = count_io_urings();
	for (i = 0; i < r->ns; i++) {
		struct hc_stream_status st;

		ck_assert_int_eq(hc_stream_status(s[i], &st), 1);
		ck_assert_uint_eq(st.state, HC_STREAM_DONE_MAX_TOKENS);
		hc_stream_free(s[i]);
		hc_ctx_destroy(ctx[i]);
	}
	hc_close(card);
}

static void check_exact(const struct run *r, int32_t (*want)[MAX_NT], const char *what)
{
	for (unsigned i = 0; i < r->ns; i++) {
		ck_assert_msg(r->n[i] == r->nt, "%s: stream %u: %u tokens of %u", what, i, r->n[i],
			      r->nt);
		ck_assert_msg(!memcmp(r->got[i], want[i], r->nt * sizeof(uint32_t)),
			      "%s: stream %u differs from its solo run", what, i);
	}
}

static void references(const char *rom, unsigned ns, uint32_t nt, int32_t (*want)[MAX_NT])
{
	for (unsigned i = 0; i < ns; i++) {
		struct t_ref_params p = ref_params(i, nt);

		ck_assert_uint_eq(t_reference(rom, prompt, 4, &p, want[i]), nt);
	}
}

/*
 * 64 streams (the card's context limit) paced like the HC1 (hc-emud --pace: 17,000 tokens/s
 * each), each with a 1 ms latency budget, read by one thread in hc_stream_wait_any(): each
 * equals its solo run (the in-process forward pass, which the card equals solo).
 */
START_TEST(test_64_paced_coalesced_exact)
{
	static int32_t want[MAX_NS][MAX_NT];
	static struct run r = { .ns = 64, .nt = 200, .budget_us = 1000 };
	struct t_emud e;
	char rom[256];

	t_bake_long(2, 1100, rom, sizeof(rom));
	references(rom, r.ns, r.nt, want);
	T_EMUD_START(&e, rom, "--pace", NULL);
	run_multi(e.uri, &r);
	check_exact(&r, want, "paced, 1 ms budget");
	fprintf(stderr, "64 streams x %u tokens, 1 ms budget: %u waits\n", r.nt, r.waits);
	t_emud_stop(&e);
}
END_TEST

/*
 * The same 64 paced streams read in an application's own epoll loop on hc_stream_fd(), every
 * stream rearmed at once by hc_stream_rearm_many() before each sleep (no timeout: a lost
 * wake-up at the end would hang): with budget 0 and 1 ms each equals its solo run.
 */
START_TEST(test_64_epoll_rearm_many_exact)
{
	static int32_t want[MAX_NS][MAX_NT];
	static struct run r;
	struct t_emud e;
	char rom[256];

	t_bake_long(2, 1100, rom, sizeof(rom));
	references(rom, 64, 200, want);
	T_EMUD_START(&e, rom, "--pace", NULL);
	for (uint32_t budget = 0; budget <= 1000; budget += 1000) {
		r = (struct run){ .ns = 64, .nt = 200, .budget_us = budget, .epoll = 1 };
		run_multi(e.uri, &r);
		check_exact(&r, want, budget ? "epoll, 1 ms budget" : "epoll, no budget");
		fprintf(stderr, "epoll: 64 streams x %u tokens, budget %u us: %u sleeps\n", r.nt,
			budget, r.waits);
	}
	t_emud_stop(&e);
}
END_TEST

/*
 * The multi-stream wait through poll(2) (HC_NO_IO_URING=1) gives the same tokens as through
 * io_uring, with a budget and without; and it really used no io_uring.
 */
START_TEST(test_wait_any_poll_fallback)
{
	static int32_t want[MAX_NS][MAX_NT];
	static struct run ur, pr;
	struct t_emud e;
	char rom[256];

	t_bake_long(2, 1100, rom, sizeof(rom));
	references(rom, 16, 300, want);
	T_EMUD_START(&e, rom, "--pace=4000", NULL);
	for (uint32_t budget = 0; budget <= 1000; budget += 1000) {
		ur = (struct run){ .ns = 16, .nt = 300, .budget_us = budget };
		pr = ur;
		unsetenv("HC_NO_IO_URING");
		run_multi(e.uri, &ur);
		check_exact(&ur, want, "io_uring");
		ck_assert_int_eq(setenv("HC_NO_IO_URING", "1", 1), 0);
		run_multi(e.uri, &pr);
		unsetenv("HC_NO_IO_URING");
		check_exact(&pr, want, "poll(2)");
		for (unsigned i = 0; i < 16; i++)
			ck_assert(!memcmp(ur.got[i], pr.got[i], sizeof(ur.got[i])));
		ck_assert_int_eq(pr.urings, 0);
		fprintf(stderr, "budget %u us: io_uring %u waits (%d rings), poll %u waits\n",
			budget, ur.waits, ur.urings, pr.waits);
	}
	t_emud_stop(&e);
}
END_TEST

/*
 * The socket transport's host memory (HC_CAP_HOST_MEMORY, the default): the card writes
 * every stream and CQ into libhc's own memfd, and the tokens are those of streams in card
 * memory (HC_EMU_HOST_MEMORY=0), bit for bit, for 16 paced streams with a budget.
 */
START_TEST(test_host_memory_exact)
{
	static int32_t want[MAX_NS][MAX_NT];
	static struct run hr, cr;
	struct t_emud e;
	char rom[256];

	t_bake_long(2, 1100, rom, sizeof(rom));
	references(rom, 16, 300, want);
	T_EMUD_START(&e, rom, "--pace=4000", NULL);
	hr = (struct run){ .ns = 16, .nt = 300, .budget_us = 500 };
	cr = hr;
	unsetenv("HC_EMU_HOST_MEMORY");
	run_multi(e.uri, &hr);
	check_exact(&hr, want, "host memory");
	ck_assert_uint_eq(hr.in_host, 16);
	ck_assert_int_eq(setenv("HC_EMU_HOST_MEMORY", "0", 1), 0);
	run_multi(e.uri, &cr);
	unsetenv("HC_EMU_HOST_MEMORY");
	check_exact(&cr, want, "card memory");
	ck_assert_uint_eq(cr.in_host, 0);
	for (unsigned i = 0; i < 16; i++)
		ck_assert(!memcmp(hr.got[i], cr.got[i], sizeof(hr.got[i])));
	t_emud_stop(&e);
}
END_TEST

/*
 * A card without HC_CAP_WAKEUP_DELAY (white box: the bit taken out of what libhc saw) gets
 * DECODEs without the budget, which it would refuse; libhc batches the wake-ups itself and
 * the tokens are the same.
 */
START_TEST(test_budget_without_card_support)
{
	static int32_t want[MAX_NS][MAX_NT];
	static struct run r = { .ns = 8, .nt = 200, .budget_us = 2000, .strip_wakeup_cap = 1 };
	struct t_emud e;
	char rom[256];

	t_bake_long(2, 1100, rom, sizeof(rom));
	references(rom, r.ns, r.nt, want);
	T_EMUD_START(&e, rom, "--pace=4000", NULL);
	run_multi(e.uri, &r);
	check_exact(&r, want, "host-side batching");
	t_emud_stop(&e);
}
END_TEST

/* The card's side of a token: a thread that notes when each token became visible. */
struct watch {
	struct hc_stream *s;
	uint32_t nt;
	int64_t seen[MAX_NT];
	int stop;
};

static int64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void *watcher(void *arg)
{
	struct watch *w = arg;
	uint32_t seen = 0, tail;
	const struct timespec nap = { 0, 200000 };	/* 0.2 ms: coarse, never early */

	while (!__atomic_load_n(&w->stop, __ATOMIC_ACQUIRE) && seen < w->nt) {
		tail = __atomic_load_n(w->s->ktail, __ATOMIC_ACQUIRE);
		while (seen < w->nt && seen != tail)
			w->seen[seen++] = mono_ns();
		nanosleep(&nap, NULL);
	}
	return NULL;
}

/*
 * One paced stream (a token every 5 ms) read in the application's own poll(2) loop on
 * hc_stream_fd() with no timeout, so that only the card's interrupts wake it: with a 2 ms
 * budget every token is woken for by the card's deferred wake-up alone (the ring never fills,
 * half of it is never unread, the job ends 3 s later). Each token must reach the
 * application at most budget + 2 s after it became visible in the ring: a deferred wake-up
 * that never came would leave the first tokens until the job's end, 3 s on. Budget 0: the
 * DECODE carries no deferral, and the same loop gets the same exact tokens.
 */
START_TEST(test_budget_honoured)
{
	enum { NT = 600, BUDGET_US = 2000 };
	const int64_t slack = 2000000000LL;
	static int32_t want[MAX_NS][MAX_NT];
	struct t_emud e;
	char rom[256];

	t_bake_long(2, 1100, rom, sizeof(rom));
	references(rom, 1, NT, want);
	T_EMUD_START(&e, rom, "--pace=200", NULL);
	for (uint32_t budget = BUDGET_US;; budget = 0) {
		struct hc_decode_params dp = decode_params(0, NT, budget);
		static struct watch w;
		static int64_t got_at[NT];
		static uint32_t got[NT];
		int64_t worst = 0;
		uint32_t n = 0;
		struct hc_card *card;
		struct hc_stream *s;
		struct hc_ctx *ctx;
		const uint32_t *t;
		struct pollfd pfd;
		pthread_t th;
		unsigned k, wakes = 0;
		int rc;

		ck_assert_int_eq(hc_open(e.uri, &card), 0);
		ck_assert_int_eq(hc_ctx_create(card, &ctx), 0);
		ck_assert_int_eq(hc_ctx_prefill_tokens(ctx, prompt, 4), 0);
		dp.ring_entries = 2048;	/* > 2 NT: the count limit (half the ring) never acts */
		ck_assert_int_eq(hc_ctx_decode(ctx, &dp, &s), 0);
		ck_assert_uint_eq(last_sqe(ctx)->decode.wakeup_usec, deferral_us(budget));
		ck_assert_uint_eq(last_sqe(ctx)->decode.wakeup_tokens, budget ? (s->mask + 1) / 2 : 0);
		ck_assert_uint_ge(s->mask + 1, 2 * NT);	/* never full, never half full */
		memset(&w, 0, sizeof(w));
		w.s = s;
		w.nt = NT;
		ck_assert_int_eq(pthread_create(&th, NULL, watcher, &w), 0);
		pfd = (struct pollfd){ .fd = hc_stream_fd(s), .events = POLLIN };
		ck_assert_int_ge(pfd.fd, 0);
		for (;;) {
			while ((k = hc_stream_peek(s, &t))) {
				int64_t now = mono_ns();

				ck_assert_uint_le(n + k, NT);
				memcpy(got + n, t, k * sizeof(*t));
				for (unsigned i = 0; i < k; i++)
					got_at[n + i] = now;
				n += k;
				hc_stream_advance(s, k);
			}
			if (hc_stream_status(s, NULL) == 1)
				break;
			rc = hc_stream_rearm(s);
			ck_assert_int_ge(rc, 0);
			if (!rc) {
				ck_assert_int_eq(poll(&pfd, 1, -1), 1);
				wakes++;
			}
		}
		__atomic_store_n(&w.stop, 1, __ATOMIC_RELEASE);
		pthread_join(th, NULL);
		ck_assert_uint_eq(n, NT);
		ck_assert_int_eq(memcmp(got, want[0], sizeof(got)), 0);
		for (unsigned i = 0; i < NT; i++) {
			/* the watcher may have seen it late, never early: 0 if it never did */
			int64_t late = w.seen[i] ? got_at[i] - w.seen[i] : 0;

			ck_assert_msg(late <= (int64_t)budget * 1000 + slack,
				      "budget %u us: token %u reached the application %.3f s after "
				      "the card published it", budget, i, late / 1e9);
			if (late > worst)
				worst = late;
		}
		fprintf(stderr, "budget %u us: %u tokens, %u wake-ups, latest token %.3f ms after "
			"it was seen in the ring\n", budget, NT, wakes, worst / 1e6);
		hc_stream_free(s);
		hc_ctx_destroy(ctx);
		hc_close(card);
		if (!budget)
			break;
	}
	t_emud_stop(&e);
}
END_TEST

/* hc_stream_wait_any's arguments and a timed wait with nothing to read. */
START_TEST(test_wait_any_args)
{
	struct hc_decode_params dp = { .max_tokens = 4, .latency_budget_us = 1000 };
	struct hc_stream *slot[3] = { NULL, NULL, NULL }, *s;
	struct hc_card *card;
	struct hc_ctx *ctx;
	unsigned ready[3];
	struct t_emud e;
	char rom[256];
	int k;

	t_bake("tiny", 1, rom, sizeof(rom));
	T_EMUD_START(&e, rom, NULL);
	ck_assert_int_eq(hc_stream_wait_any(NULL, 1, 0, ready), -EINVAL);
	ck_assert_int_eq(hc_stream_wait_any(slot, 0, 0, ready), -EINVAL);
	ck_assert_int_eq(hc_stream_wait_any(slot, 3, 0, ready), -EINVAL);
	ck_assert_int_eq(hc_open(e.uri, &card), 0);
	ck_assert_int_eq(hc_ctx_create(card, &ctx), 0);
	ck_assert_int_eq(hc_ctx_prefill_tokens(ctx, prompt, 4), 0);
	/* a budget within the wake-up's own allowance (114 us) defers nothing: the DECODE of
	 * budget 0; one microsecond more defers by one */
	for (uint32_t budget = 114; budget <= 115; budget++) {
		dp.latency_budget_us = budget;
		ck_assert_int_eq(hc_ctx_decode(ctx, &dp, &s), 0);
		ck_assert_uint_eq(last_sqe(ctx)->opcode, HC_OP_DECODE);
		ck_assert_uint_eq(last_sqe(ctx)->decode.wakeup_usec, budget - 114);
		ck_assert_uint_eq(last_sqe(ctx)->decode.wakeup_usec, deferral_us(budget));
		ck_assert_uint_eq(last_sqe(ctx)->decode.wakeup_tokens,
				  budget == 114 ? 0 : (s->mask + 1) / 2);
		ck_assert_int_ge(hc_stream_wait(&s, 1, -1), 1);
		while (hc_stream_status(s, NULL) != 1) {
			const uint32_t *t;

			hc_stream_advance(s, hc_stream_peek(s, &t));
			ck_assert_int_ge(hc_stream_wait(&s, 1, -1), 0);
		}
		hc_stream_free(s);
	}
	dp.latency_budget_us = HC_MAX_LATENCY_BUDGET_US + 1;
	ck_assert_int_eq(hc_ctx_decode(ctx, &dp, &s), -EINVAL);
	dp.latency_budget_us = HC_MAX_LATENCY_BUDGET_US;
	ck_assert_int_eq(hc_ctx_decode(ctx, &dp, &s), 0);
	slot[2] = s;
	/* the job ends: the stream is ready (slot 2), however long its budget */
	k = hc_stream_wait_any(slot, 3, -1, ready);
	ck_assert_int_eq(k, 1);
	ck_assert_uint_eq(ready[0], 2);
	ck_assert_int_eq(hc_stream_wait_any(slot, 3, 0, NULL), 1);	/* @ready may be NULL */
	hc_stream_free(s);
	hc_ctx_destroy(ctx);
	hc_close(card);
	t_emud_stop(&e);
}
END_TEST

static Suite *multi_suite(void)
{
	Suite *s = suite_create("libhc_multi");
	TCase *tc = hc_tcase(s, "multi", 600);

	tcase_add_test(tc, test_wait_any_args);
	tcase_add_test(tc, test_64_paced_coalesced_exact);
	tcase_add_test(tc, test_64_epoll_rearm_many_exact);
	tcase_add_test(tc, test_wait_any_poll_fallback);
	tcase_add_test(tc, test_host_memory_exact);
	tcase_add_test(tc, test_budget_without_card_support);
	tcase_add_test(tc, test_budget_honoured);
	return s;
}

HC_TEST_MAIN(multi_suite)
