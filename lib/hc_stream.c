// SPDX-License-Identifier: MIT
/*
 * Streams: completion bookkeeping, and waiting. hc_stream_wait() sleeps with io_uring: a
 * poll per distinct interrupt fd (and per card connection), armed BEFORE the final
 * readiness check so a wake-up can never fall between the check and the sleep (see the
 * irq_seq comments). When every stream belongs to the card of the context that owns the
 * ring, the polls are multishot and stay armed across waits: a wait is then one
 * io_uring_enter. Otherwise (streams of several cards) they are one-shot and removed after.
 * Where io_uring is refused (a seccomp policy such as Docker's default since 25.0, or a kernel
 * with io_uring disabled), the same one-shot logic runs on poll(2): same tokens, one more
 * system call per wait.
 */
#include <errno.h>
#include <liburing.h>
#include <poll.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include "hc_internal.h"

#define WAIT_MAX_FDS 64
#define UD_PERSIST   (1ULL << 40)	/* user_data of a multishot poll: | index in polls[] */

struct hc_uring {
	struct io_uring ring;
	int ok;			/* 0: io_uring is refused here, wait with poll(2) */
	unsigned n_polls;
	struct {
		int fd;
		int armed;
	} polls[WAIT_MAX_FDS + 1];	/* multishot polls on the owner card's fds */
};

/* Consume one CQE; a multishot poll that ended must be re-armed. 1 if it was one-shot. */
static int uring_cqe(struct hc_uring *u, struct io_uring_cqe *cqe)
{
	uint64_t ud = io_uring_cqe_get_data64(cqe);
	int oneshot = !(ud & UD_PERSIST);

	if (!oneshot && (ud & 0xffff) < u->n_polls && !(cqe->flags & IORING_CQE_F_MORE))
		u->polls[ud & 0xffff].armed = 0;
	io_uring_cqe_seen(&u->ring, cqe);
	return oneshot;
}

/* Make sure a multishot poll watches @fd: 1 if an SQE was queued, 0 if armed, -1 if full. */
static int persist_arm(struct hc_uring *u, int fd)
{
	struct io_uring_sqe *sqe;
	unsigned i;

	for (i = 0; i < u->n_polls && u->polls[i].fd != fd; i++)
		;
	if (i == u->n_polls) {
		if (i == sizeof(u->polls) / sizeof(u->polls[0]))
			return -1;
		u->polls[i].fd = fd;
		u->polls[i].armed = 0;
		u->n_polls++;
	}
	if (u->polls[i].armed)
		return 0;
	sqe = io_uring_get_sqe(&u->ring);
	if (!sqe)
		return -1;
	io_uring_prep_poll_multishot(sqe, fd, POLLIN);
	io_uring_sqe_set_data64(sqe, UD_PERSIST | i);
	u->polls[i].armed = 1;
	return 1;
}

void hc__uring_free(struct hc_uring *u)
{
	if (u->ok)
		io_uring_queue_exit(&u->ring);
	free(u);
}

static struct hc_uring *uring_new(int *err)
{
	const char *off = getenv("HC_NO_IO_URING");
	struct hc_uring *u = calloc(1, sizeof(*u));
	int ret;

	if (!u) {
		*err = -ENOMEM;
		return NULL;
	}
	/* HC_NO_IO_URING=1: take the poll(2) path as if io_uring were refused (tests, triage) */
	if (off && *off && strcmp(off, "0"))
		return u;
	ret = io_uring_queue_init(WAIT_MAX_FDS * 4, &u->ring, 0);
	if (ret == -ENOMEM) {
		free(u);
		*err = ret;
		return NULL;
	}
	/* refused (EPERM, ENOSYS, ...): remember it, so the fallback costs no retry per wait */
	u->ok = ret == 0;
	return u;
}

static struct hc_uring *ctx_uring(struct hc_ctx *ctx, int *err)
{
	if (!ctx->uring)
		ctx->uring = uring_new(err);
	return ctx->uring;
}

/* Called by the reaper with the QP lock held; before the DECODE's completion (same CQ). */
void hc__stream_prefill_done(struct hc_stream_impl *si, const struct hc_cqe *cqe)
{
	si->ctx->pos = cqe->pos;
	if (cqe->status != HC_STATUS_OK) {
		si->prefill_err = hc__status_errno(cqe);
		if (!si->prefill_err)
			si->prefill_err = -EIO;
	}
}

/* Called by the reaper with the QP lock held. */
void hc__stream_complete(struct hc_stream_impl *si, const struct hc_cqe *cqe)
{
	struct hc_ctx *ctx = si->ctx;

	si->st.count = cqe->count;
	si->st.position = cqe->pos;
	si->st.error = 0;
	si->st.stop_id = -1;
	switch (cqe->status) {
	case HC_STATUS_DONE_MAX_TOKENS:
		si->st.state = HC_STREAM_DONE_MAX_TOKENS;
		break;
	case HC_STATUS_DONE_STOP_TOKEN:
		si->st.state = HC_STREAM_DONE_STOP;
		si->st.stop_id = (int32_t)cqe->aux;
		break;
	case HC_STATUS_CANCELLED:
		si->st.state = HC_STREAM_CANCELLED;
		break;
	case HC_STATUS_CONTEXT_FULL:
		si->st.state = HC_STREAM_CONTEXT_FULL;
		break;
	default:
		si->st.state = HC_STREAM_ERROR;
		si->st.error = hc__status_errno(cqe);
		if (!si->st.error)
			si->st.error = -EIO;
		break;
	}
	if (si->prefill_err) {
		/* the linked PREFILL failed and the card cancelled the DECODE: say why */
		si->st.state = HC_STREAM_ERROR;
		si->st.error = si->prefill_err;
	}
	/* the card now holds the last sampled token pending (docs/card-interface.md) */
	ctx->pos = cqe->pos;
	if (cqe->status != HC_STATUS_ERROR && (cqe->count || cqe->status ==
					       HC_STATUS_DONE_STOP_TOKEN))
		ctx->pending = 1;
	ctx->generated += cqe->count;
	__atomic_store_n(&si->ended, 1, __ATOMIC_RELEASE);
}

/*
 * Ready: unread tokens, or the job completed (then the remaining tokens are final). A tail
 * more than a ring ahead of what we consumed (or behind it) breaks the ring protocol:
 * hc_stream_peek() reads nothing then, so the stream would look ready forever with nothing
 * to read (a busy loop in every wait). Fail the card instead; the stream then ends with
 * HC_STREAM_ERROR -EPROTO (stream_mark_dead) and keeps no token it cannot trust.
 */
static int stream_ready(struct hc_stream_impl *si)
{
	uint32_t tail = __atomic_load_n(si->pub.ktail, __ATOMIC_ACQUIRE);

	if (tail - si->pub.head > si->pub.mask + 1)
		hc__card_fail(si->ctx->card, -EPROTO);
	return tail != si->pub.head || __atomic_load_n(&si->ended, __ATOMIC_ACQUIRE);
}

/* The card is gone: no completion will ever come, so end the stream with the reason. */
static void stream_mark_dead(struct hc_stream_impl *si)
{
	int dead = __atomic_load_n(&si->ctx->card->dead, __ATOMIC_RELAXED);

	if (!dead || __atomic_load_n(&si->ended, __ATOMIC_ACQUIRE))
		return;
	hc__op_unlink(si->ctx->qp, &si->op);
	hc__op_unlink(si->ctx->qp, &si->prefill_op);
	pthread_mutex_lock(&si->ctx->qp->lock);
	if (!si->ended) {
		si->st.state = HC_STREAM_ERROR;
		si->st.error = dead;
		si->st.count = (uint32_t)(hc_stream_available(&si->pub) + si->pub.consumed);
		si->dead = 1;
		__atomic_store_n(&si->ended, 1, __ATOMIC_RELEASE);
	}
	pthread_mutex_unlock(&si->ctx->qp->lock);
}

int hc_stream_status(struct hc_stream *s, struct hc_stream_status *st)
{
	struct hc_stream_impl *si;
	const uint32_t *t;
	int ended;

	if (!s)
		return -EINVAL;
	si = hc__impl(s);
	if (!__atomic_load_n(&si->ended, __ATOMIC_ACQUIRE)) {
		/* no drain: level-triggered sleepers (poll, hc_stream_rearm) drain themselves */
		hc__reap_nodrain(si->ctx->card, si->ctx->qp);
		stream_ready(si);	/* fails the card on a corrupt tail */
		/* liveness is probed by the waits; here only its verdict is read (no syscall) */
		stream_mark_dead(si);
	}
	pthread_mutex_lock(&si->ctx->qp->lock);
	ended = si->ended;
	if (st) {
		*st = si->st;
		st->consumed = s->consumed;
	}
	pthread_mutex_unlock(&si->ctx->qp->lock);
	/* The CQE comes after the last tail release, so peek sees every token by now. */
	return ended && !hc_stream_peek(s, &t);
}

void hc__stream_kick(struct hc_stream *s)
{
	struct hc_stream_impl *si = hc__impl(s);

	si->ctx->card->ops->stream_kick(si->ctx->card, si);
}

static void set_need_wakeup(struct hc_stream_impl *si, int on)
{
	uint32_t f = hc_ring_load(&si->hdr->consumer_flags);

	f = on ? f | HC_STREAM_HOST_NEED_WAKEUP : f & ~HC_STREAM_HOST_NEED_WAKEUP;
	hc_ring_store(&si->hdr->consumer_flags, f);
}

/* Count the ready streams from the rings alone (no reaping, no system call). */
static int count_ready_now(struct hc_stream **streams, unsigned n)
{
	unsigned i;
	int ready = 0;

	for (i = 0; i < n; i++)
		ready += stream_ready(hc__impl(streams[i]));
	return ready;
}

/* Probe every distinct card of @streams (socket EOF, heartbeat); end streams of dead ones. */
static int check_cards(struct hc_stream **streams, unsigned n)
{
	unsigned i, j;
	int ret = 0, r;

	for (i = 0; i < n; i++) {
		struct hc_card *card = hc__impl(streams[i])->ctx->card;

		for (j = 0; j < i && hc__impl(streams[j])->ctx->card != card; j++)
			;
		if (j < i)
			continue;
		r = hc__card_check(card);
		if (r && !ret)
			ret = r;
	}
	for (i = 0; i < n; i++)
		stream_mark_dead(hc__impl(streams[i]));
	return ret;
}

/*
 * Reap every distinct QP of @streams and count the ready ones. @drain: also reset the irq
 * fds, needed before arming one-shot polls (they complete at once on a readable fd).
 */
static int count_ready(struct hc_stream **streams, unsigned n, int drain)
{
	unsigned i, j;
	int ready = 0;

	for (i = 0; i < n; i++) {
		struct hc_stream_impl *si = hc__impl(streams[i]);

		for (j = 0; j < i; j++)
			if (hc__impl(streams[j])->ctx->qp == si->ctx->qp)
				break;
		if (j == i && !__atomic_load_n(&si->ended, __ATOMIC_ACQUIRE)) {
			if (drain)
				hc__reap(si->ctx->card, si->ctx->qp);
			else
				hc__reap_nodrain(si->ctx->card, si->ctx->qp);
		}
	}
	for (i = 0; i < n; i++)
		ready += stream_ready(hc__impl(streams[i]));
	return ready;
}

static int64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/*
 * Has any of @qps taken an interrupt since @seqs was sampled? Another thread drained its
 * fd after our snapshot, so our wake-up may be gone: look again instead of sleeping.
 */
static int irq_seq_moved(struct hc_qp *const *qps, const uint32_t *seqs, unsigned nq)
{
	int changed = 0;

	for (unsigned i = 0; i < nq; i++) {
		pthread_mutex_lock(&qps[i]->lock);
		changed |= qps[i]->irq_seq != seqs[i];
		pthread_mutex_unlock(&qps[i]->lock);
	}
	return changed;
}

/*
 * Sleep until a CQE arrives on @u, for one slice at most (wake now and then to notice a
 * hung card by its heartbeat) and not past @deadline (-1: none). 0 also on timeout.
 */
static int uring_wait_slice(struct hc_uring *u, int64_t deadline)
{
	struct __kernel_timespec ts;
	struct io_uring_cqe *cqe;
	int64_t left = HC_WAIT_SLICE_MS * 1000000LL;
	int ret;

	if (deadline >= 0 && deadline - now_ns() < left)
		left = deadline - now_ns();
	if (left < 0)
		left = 0;
	ts.tv_sec = left / 1000000000;
	ts.tv_nsec = left % 1000000000;
	ret = io_uring_wait_cqe_timeout(&u->ring, &cqe, &ts);
	return ret == -ETIME || ret == -EINTR ? 0 : ret;
}

/*
 * Without io_uring: poll each distinct irq fd and card socket for one slice. poll(2) looks
 * at the fds' level when called, so an interrupt raised after our last check makes it return
 * at once (the fds were drained by count_ready before); one drained by another thread since
 * our snapshot shows in irq_seq. *@need_check stays set unless an irq fd fired.
 */
static int poll_wait(struct hc_qp *const *qps, unsigned nq, const uint32_t *seqs,
		     struct hc_stream **streams, unsigned n, int64_t deadline, int *need_check)
{
	struct pollfd pfd[2 * WAIT_MAX_FDS];
	bool is_irq[2 * WAIT_MAX_FDS];
	int64_t left = HC_WAIT_SLICE_MS;
	unsigned np = 0, i;
	int ret;

	for (i = 0; i < nq; i++) {
		is_irq[np] = true;
		pfd[np++] = (struct pollfd){ .fd = qps[i]->irq_fd, .events = POLLIN };
		if (qps[i]->card->sock >= 0) {
			is_irq[np] = false;
			pfd[np++] = (struct pollfd){ .fd = qps[i]->card->sock, .events = POLLIN };
		}
	}
	if (irq_seq_moved(qps, seqs, nq) || count_ready_now(streams, n)) {
		*need_check = 0;
		return 0;
	}
	if (deadline >= 0 && (deadline - now_ns()) / 1000000 < left)
		left = (deadline - now_ns()) / 1000000;
	ret = poll(pfd, np, left > 0 ? (int)left : 0);
	if (ret < 0)
		return errno == EINTR ? 0 : -errno;
	for (i = 0; i < np; i++)
		if (is_irq[i] && (pfd[i].revents & POLLIN))
			*need_check = 0;	/* an interrupt: the card is alive */
	return 0;
}

/*
 * The wait itself, on @u (whose polls watch @owner's fds across waits). *@waited is set
 * when nothing was ready at the first look, i.e. the streams became ready while we waited.
 */
static int wait_core(struct hc_uring *u, struct hc_card *owner, struct hc_stream **streams,
		     unsigned n, int timeout_ms, int64_t deadline, int *waited)
{
	struct hc_qp *qps[WAIT_MAX_FDS];
	uint32_t seqs[WAIT_MAX_FDS];
	unsigned i, j, nq;
	int ready, ret = 0, changed, persist, need_check = 0, first = 1;

	persist = u->ok;	/* multishot polls if every stream is on the owner card */
	for (i = 0; i < n; i++)
		persist &= hc__impl(streams[i])->ctx->card == owner;
	for (;;) {
		ready = count_ready(streams, n, !persist);
		if (ready || timeout_ms == 0) {
			*waited = ready && !first;
			return ready;
		}
		first = 0;
		if (need_check) {
			/* woken by no interrupt (timeout, connection event): is the card alive? */
			ret = check_cards(streams, n);
			ready = count_ready_now(streams, n);
			if (ready)
				return ready;	/* streams of a vanished card have ended */
			if (ret)
				return ret;
		}
		need_check = 1;
		/* distinct QPs (one irq fd each); snapshot who drained them so far */
		nq = 0;
		for (i = 0; i < n; i++) {
			struct hc_qp *qp = hc__impl(streams[i])->ctx->qp;

			for (j = 0; j < nq && qps[j] != qp; j++)
				;
			if (j == nq) {
				if (nq == WAIT_MAX_FDS)
					return -EINVAL;
				qps[nq] = qp;
				pthread_mutex_lock(&qp->lock);
				seqs[nq] = qp->irq_seq;
				pthread_mutex_unlock(&qp->lock);
				nq++;
			}
		}
		/* Dekker with the card: ask for an interrupt, full barrier, re-check. */
		for (i = 0; i < n; i++)
			set_need_wakeup(hc__impl(streams[i]), 1);
		hc_ring_mb();
		ready = count_ready_now(streams, n);
		if (!ready && qps[0]->irq_fd >= 0 && persist) {
			struct io_uring_cqe *cqe;
			int queued = 0, r = 0;

			for (i = 0; i < nq && r >= 0; i++) {
				r = persist_arm(u, qps[i]->irq_fd);
				queued |= r > 0;
			}
			if (r >= 0 && owner->sock >= 0) {
				r = persist_arm(u, owner->sock);
				queued |= r > 0;
			}
			ret = queued ? io_uring_submit(&u->ring) : 0;
			changed = irq_seq_moved(qps, seqs, nq);
			if (r >= 0 && ret >= 0 && !changed && !count_ready_now(streams, n))
				ret = uring_wait_slice(u, deadline);
			else
				need_check = 0;	/* something is there already */
			while (io_uring_peek_cqe(&u->ring, &cqe) == 0) {
				uint64_t ud = io_uring_cqe_get_data64(cqe);

				/* an interrupt woke us: no liveness probe needed next round */
				if ((ud & UD_PERSIST) && (ud & 0xffff) < u->n_polls &&
				    u->polls[ud & 0xffff].fd != owner->sock)
					need_check = 0;
				uring_cqe(u, cqe);
			}
			if (r < 0 && ret >= 0)
				ret = -ENOSPC;	/* more fds than WAIT_MAX_FDS: cannot happen per card */
		} else if (!ready && qps[0]->irq_fd < 0) {
			/* a backend without pollable interrupts (kernel WAIT ioctl): first stream */
			struct hc_card *card = qps[0]->card;
			int64_t left = HC_WAIT_SLICE_MS;

			if (deadline >= 0 && (deadline - now_ns()) / 1000000 < left)
				left = (deadline - now_ns()) / 1000000;
			ret = card->ops->wait ? card->ops->wait(card, qps[0], hc__impl(streams[0]),
								 left > 0 ? (int)left : 0) : -ENOSYS;
			if (ret == -ETIME || ret == -ETIMEDOUT || ret == -EINTR)
				ret = 0;
		} else if (!ready && !u->ok) {
			ret = poll_wait(qps, nq, seqs, streams, n, deadline, &need_check);
		} else if (!ready) {
			struct io_uring_cqe *cqe;
			unsigned armed = 0, seen = 0;

			/* each distinct irq fd, plus each card's socket (EOF: the card is gone) */
			for (i = 0; i < nq; i++) {
				struct io_uring_sqe *sqe = io_uring_get_sqe(&u->ring);

				if (!sqe)
					break;
				io_uring_prep_poll_add(sqe, qps[i]->irq_fd, POLLIN);
				io_uring_sqe_set_data64(sqe, 1 + i);
				armed++;
				if (qps[i]->card->sock >= 0 && (sqe = io_uring_get_sqe(&u->ring))) {
					io_uring_prep_poll_add(sqe, qps[i]->card->sock, POLLIN);
					io_uring_sqe_set_data64(sqe, 1 + WAIT_MAX_FDS + i);
					armed++;
				}
			}
			ret = io_uring_submit(&u->ring);
			/* polls are armed now: sleep only if no interrupt was taken meanwhile */
			changed = irq_seq_moved(qps, seqs, nq);
			if (ret >= 0 && !changed && !count_ready_now(streams, n))
				ret = uring_wait_slice(u, deadline);
			/* cancel what did not fire and collect every CQE we caused */
			for (i = 0; i < nq; i++) {
				struct io_uring_sqe *sqe = io_uring_get_sqe(&u->ring);

				io_uring_prep_poll_remove(sqe, 1 + i);
				io_uring_sqe_set_data64(sqe, 0);
				if (qps[i]->card->sock >= 0) {
					sqe = io_uring_get_sqe(&u->ring);
					io_uring_prep_poll_remove(sqe, 1 + WAIT_MAX_FDS + i);
					io_uring_sqe_set_data64(sqe, 0);
				}
			}
			io_uring_submit(&u->ring);
			while (seen < 2 * armed) {
				if (io_uring_wait_cqe(&u->ring, &cqe) < 0)
					break;
				seen += uring_cqe(u, cqe);
			}
		}
		for (i = 0; i < n; i++)
			set_need_wakeup(hc__impl(streams[i]), 0);
		if (ret < 0)
			return ret;
		if (deadline >= 0 && now_ns() >= deadline)
			return count_ready(streams, n, 1);
	}
}

/*
 * Host-side batching for cards that did not get the latency budget (no HC_CAP_WAKEUP_DELAY
 * in what hc_open found): when every stream of the wait has a budget, a wait that slept
 * lingers once a stream is ready for what the smallest budget leaves after the wake-up
 * itself (hc__wakeup_defer_us), so that the tokens of that time come with one wake-up.
 * 0: return at once.
 */
static int64_t host_linger_ns(struct hc_stream **streams, unsigned n)
{
	uint32_t min = 0;
	unsigned i;

	for (i = 0; i < n; i++) {
		const struct hc_stream_impl *si = hc__impl(streams[i]);

		if (!si->budget_us || si->card_defers)
			return 0;
		if (!min || si->budget_us < min)
			min = si->budget_us;
	}
	return (int64_t)hc__wakeup_defer_us(min) * 1000;
}

/* Every hc_stream_wait*: @streams are not NULL. */
static int wait_streams(struct hc_stream **streams, unsigned n, int timeout_ms)
{
	struct hc_card *owner = hc__impl(streams[0])->ctx->card;
	int64_t deadline = timeout_ms < 0 ? -1 : now_ns() + (int64_t)timeout_ms * 1000000;
	int64_t linger = host_linger_ns(streams, n), until;
	struct hc_uring *u = NULL;
	int ready, err = 0, waited = 0, locked = 0;
	struct timespec ts;

	/* the card's ring if no other thread waits with it now, else the context's */
	if (!pthread_mutex_trylock(&owner->wait_lock)) {
		if (!owner->uring)
			owner->uring = uring_new(&err);
		locked = owner->uring != NULL;
		if (locked)
			u = owner->uring;
		else
			pthread_mutex_unlock(&owner->wait_lock);
	}
	if (!u)
		u = ctx_uring(hc__impl(streams[0])->ctx, &err);
	if (!u)
		return err;
	ready = wait_core(u, owner, streams, n, timeout_ms, deadline, &waited);
	if (locked)
		pthread_mutex_unlock(&owner->wait_lock);
	if (ready <= 0 || !waited || !linger)
		return ready;
	until = now_ns() + linger;
	if (deadline >= 0 && until > deadline)
		until = deadline;
	ts.tv_sec = until / 1000000000;
	ts.tv_nsec = until % 1000000000;
	while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR)
		;
	ready = count_ready(streams, n, 1);
	return ready ? ready : 1;	/* readiness does not go away by itself */
}

int hc_stream_wait(struct hc_stream **streams, unsigned n, int timeout_ms)
{
	unsigned i;

	if (!streams || !n)
		return -EINVAL;
	for (i = 0; i < n; i++)
		if (!streams[i])
			return -EINVAL;
	return wait_streams(streams, n, timeout_ms);
}

#define LIVE_STACK 256

/*
 * The non-NULL slots of @streams, packed into @stack (LIVE_STACK entries) or, for more, a
 * malloc()ed array the caller frees. NULL with *@m 0: no stream at all (or bad arguments);
 * NULL with *@m set: out of memory.
 */
static struct hc_stream **live_streams(struct hc_stream *const *streams, unsigned n,
				       struct hc_stream **stack, unsigned *m)
{
	struct hc_stream **v = stack;
	unsigned i;

	*m = 0;
	if (!streams || !n)
		return NULL;
	if (n > LIVE_STACK) {
		v = malloc(n * sizeof(*v));
		if (!v) {
			*m = n;
			return NULL;
		}
	}
	for (i = 0; i < n; i++)
		if (streams[i])
			v[(*m)++] = streams[i];
	if (!*m && v != stack)
		free(v);
	return *m ? v : NULL;
}

int hc_stream_wait_any(struct hc_stream *const *streams, unsigned n, int timeout_ms,
		       unsigned *ready)
{
	struct hc_stream *stack[LIVE_STACK], **v;
	unsigned i, m, k = 0;
	int ret;

	v = live_streams(streams, n, stack, &m);
	if (!v)
		return m ? -ENOMEM : -EINVAL;
	ret = wait_streams(v, m, timeout_ms);
	if (v != stack)
		free(v);
	if (ret <= 0)
		return ret;
	/* the slots of the ready ones: readiness only grows until the caller reads */
	for (i = 0; i < n; i++) {
		if (streams[i] && stream_ready(hc__impl(streams[i]))) {
			if (ready)
				ready[k] = i;
			k++;
		}
	}
	return (int)k;
}

int hc_stream_fd(struct hc_stream *s)
{
	struct hc_stream_impl *si;
	struct hc_card *card;

	if (!s)
		return -EINVAL;
	si = hc__impl(s);
	if (si->ctx->qp->irq_fd >= 0)
		return si->ctx->qp->irq_fd;
	/* the kernel backend: a per-stream fd from the driver, made on first use */
	card = si->ctx->card;
	if (si->poll_fd < 0 && card->ops->stream_fd)
		si->poll_fd = card->ops->stream_fd(card, si);
	if (si->poll_fd < 0 && !card->ops->stream_fd)
		return -EOPNOTSUPP;
	return si->poll_fd;
}

/*
 * Every drain comes before every check: a drain after one stream's check could eat the
 * interrupt announcing that stream's next token (streams of a queue pair share its fd), and
 * the caller would sleep on a quiet fd with the token in the ring. So: drain each distinct
 * QP once and look (count_ready), then ask for wake-ups, full barrier, reap without draining
 * (a wake-up left in the fd is only spurious, and the second look sees what it announced),
 * look again.
 */
int hc_stream_rearm_many(struct hc_stream *const *streams, unsigned n)
{
	struct hc_stream *stack[LIVE_STACK], **v;
	unsigned i, m;
	int ready;

	v = live_streams(streams, n, stack, &m);
	if (!v)
		return m ? -ENOMEM : -EINVAL;
	ready = count_ready(v, m, 1);
	if (!ready) {
		for (i = 0; i < m; i++)
			set_need_wakeup(hc__impl(v[i]), 1);
		hc_ring_mb();
		ready = count_ready(v, m, 0);
	}
	if (v != stack)
		free(v);
	return ready;
}

int hc_stream_rearm(struct hc_stream *s)
{
	return s ? hc_stream_rearm_many(&s, 1) : -EINVAL;
}

int hc_stream_read(struct hc_stream *s, uint32_t *ids, unsigned cap)
{
	const uint32_t *t;
	unsigned n;
	int r;

	if (!s || (!ids && cap))
		return -EINVAL;
	for (;;) {
		n = hc_stream_peek(s, &t);
		if (n) {
			if (n > cap)
				n = cap;
			memcpy(ids, t, n * sizeof(*ids));
			hc_stream_advance(s, n);
			return (int)n;
		}
		r = hc_stream_status(s, NULL);
		if (r)
			return r < 0 ? r : 0;
		r = hc_stream_wait(&s, 1, -1);
		if (r < 0)
			return r;
	}
}

void hc_stream_free(struct hc_stream *s)
{
	struct hc_stream_impl *si, **pp;
	struct hc_ctx *ctx;

	if (!s)
		return;
	si = hc__impl(s);
	ctx = si->ctx;
	if (si->poll_fd >= 0)
		close(si->poll_fd);	/* it holds the driver's stream: close before freeing */
	if (!__atomic_load_n(&si->ended, __ATOMIC_ACQUIRE)) {
		/* The card may still write the ring: cancel and wait for the CQE first. */
		ctx->card->ops->cancel(ctx->card, ctx);
		hc__wait_op(ctx->card, ctx->qp, &si->op, HC_CTRL_TIMEOUT_MS);
	}
	if (!__atomic_load_n(&si->ended, __ATOMIC_ACQUIRE)) {
		/* Card did not answer: never reuse memory it may write; leak it and unlink. */
		pthread_mutex_lock(&ctx->qp->lock);
		{
			struct hc_op **op;

			for (op = &ctx->qp->ops; *op; op = &(*op)->next)
				if (*op == &si->op) {
					*op = si->op.next;
					break;
				}
		}
		pthread_mutex_unlock(&ctx->qp->lock);
		hc__op_unlink(ctx->qp, &si->prefill_op);
	} else {
		ctx->card->ops->buf_free(ctx->card, HC_BUF_STREAM, si->ring_cookie, si->hdr,
					 si->ring_bytes);
		/* the card copied the linked PREFILL's tokens when it fetched it, long before */
		hc__op_unlink(ctx->qp, &si->prefill_op);
		if (si->prompt)
			ctx->card->ops->buf_free(ctx->card, HC_BUF_PROMPT, si->prompt_cookie,
						 si->prompt, si->prompt_bytes);
	}
	for (pp = &ctx->streams; *pp; pp = &(*pp)->next)
		if (*pp == si) {
			*pp = si->next;
			break;
		}
	if (ctx->running == si)
		ctx->running = NULL;
	free(si);
}
