/* SPDX-License-Identifier: MIT */
/*
 * libhc zero-copy token streams: the static inline fast path (included by <hc/hc.h>).
 *
 * A decode job writes token ids into a ring in card memory that is mapped into this process.
 * The application reads them in place and hands the space back; no copy and no system call
 * per token. Memory ordering as io_uring: the card writes entries then store-releases tail;
 * we load-acquire tail, read entries, store-release head. When the ring was full the card
 * sets CARD_WAITING and pauses this context; after publishing a new head we issue a full
 * barrier and ring the card's doorbell only if that flag is set.
 *
 *	const uint32_t *t;
 *	unsigned n;
 *	while ((n = hc_stream_peek(s, &t)) || !hc_stream_status(s, NULL)) {
 *		if (!n) { hc_stream_wait(&s, 1, -1); continue; }
 *		use(t, n);			// t[0..n-1], valid until advance
 *		hc_stream_advance(s, n);
 *	}
 *
 * A stream belongs to one thread at a time. One thread reading many streams sleeps in
 * hc_stream_wait_any() (<hc/hc.h>), which names the ready ones; a decode's latency budget
 * (hc_decode_params.latency_budget_us) lets it wake once per budget, not once per token.
 *
 * For bindings (Python ctypes/cffi, Rust, Go) that cannot call static inline functions,
 * libhc.so also exports every function of this header under the same name (lib/hc_ffi.c
 * compiles this file with HC_STREAM_INLINE defined empty): same behaviour, one call more.
 */
#ifndef HC_HC_STREAM_H
#define HC_HC_STREAM_H

#include <stdint.h>

#ifndef HC_STREAM_INLINE
#define HC_STREAM_INLINE static inline
#endif

#ifdef __cplusplus
extern "C" {
#endif

/*
 * The public part of a stream: pointers into the shared ring, set up by hc_ctx_decode().
 * Treat every field as read-only; only the inline helpers below change head.
 */
struct hc_stream {
	const uint32_t *ktail;		/* card-written tail (free-running) */
	uint32_t       *khead;		/* host-written head (free-running) */
	const uint32_t *kflags;		/* ring flags (CARD_WAITING, HOST_NEED_WAKEUP) */
	const uint32_t *entries;	/* ring_entries token ids */
	uint32_t        mask;		/* ring_entries - 1 */
	uint32_t        head;		/* our copy of *khead */
	uint32_t        card_waiting;	/* the CARD_WAITING bit of *kflags */
	uint32_t        reserved;
	uint64_t        consumed;	/* tokens advanced past since the job started */
	void           *priv;		/* library-private state */
};

/* Out-of-line part of hc_stream_advance(): rings the card's doorbell. Internal: the
 * prefix hc__ is reserved for the library (exported only because inline code calls it). */
void hc__stream_kick(struct hc_stream *s);

/*
 * hc_stream_peek - contiguous tokens available now, without waiting.
 * @s: a stream.
 * @tokens: set to the first unread token in card memory (valid until hc_stream_advance()).
 * Return: how many tokens may be read at *@tokens (0: none yet, or the stream ended; see
 * hc_stream_status()). When the ring wraps, the remainder comes with the next peek.
 */
HC_STREAM_INLINE unsigned hc_stream_peek(struct hc_stream *s, const uint32_t **tokens)
{
	uint32_t tail = __atomic_load_n(s->ktail, __ATOMIC_ACQUIRE);
	uint32_t avail = tail - s->head;
	uint32_t off = s->head & s->mask;
	uint32_t contig = s->mask + 1 - off;

	/* A misbehaving card cannot make us read outside the ring. */
	if (avail > s->mask + 1)
		avail = 0;
	*tokens = s->entries + off;
	return avail < contig ? avail : contig;
}

/*
 * hc_stream_advance - give @n tokens (at most what hc_stream_peek() returned) back to the
 * card. Wakes the card's paused context only if it flagged CARD_WAITING.
 */
HC_STREAM_INLINE void hc_stream_advance(struct hc_stream *s, unsigned n)
{
	if (!n)
		return;
	s->head += n;
	s->consumed += n;
	__atomic_store_n(s->khead, s->head, __ATOMIC_RELEASE);
	/* Pairs with the card's fence between setting CARD_WAITING and re-reading head. */
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	if (__atomic_load_n(s->kflags, __ATOMIC_RELAXED) & s->card_waiting)
		hc__stream_kick(s);
}

/*
 * hc_stream_available - unread tokens in the ring now, wrapped part included (peek returns
 * only the contiguous part).
 */
HC_STREAM_INLINE unsigned hc_stream_available(struct hc_stream *s)
{
	uint32_t avail = __atomic_load_n(s->ktail, __ATOMIC_ACQUIRE) - s->head;

	return avail > s->mask + 1 ? 0 : avail;
}

/* hc_stream_consumed - tokens advanced past since the decode started. */
HC_STREAM_INLINE uint64_t hc_stream_consumed(const struct hc_stream *s)
{
	return s->consumed;
}

#ifdef __cplusplus
}
#endif

#endif
