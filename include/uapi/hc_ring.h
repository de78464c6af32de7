/* SPDX-License-Identifier: ((GPL-2.0 WITH Linux-syscall-note) OR MIT) */
/*
 * HC card rings: SQ, CQ and token stream rings in card memory (docs/card-interface.md).
 * Written once, compiled by the kernel driver, libhc and hc-emud.
 *
 * A ring at a HC_CARD_RING_ALIGN-aligned card-memory offset is a struct hc_ring_hdr followed
 * by a power-of-two number of entries. head and tail are free-running __u32 indices
 * (entry = index & (entries - 1)); tail - head is the number of filled entries.
 *
 *   ring    producer  consumer  entry
 *   SQ      host      card      struct hc_sqe
 *   CQ      card      host      struct hc_cqe
 *   stream  card      host      __u32 token id
 *
 * Memory ordering (as io_uring/liburing):
 *  - The producer writes entries, then store-releases tail. The consumer load-acquires tail,
 *    then reads entries. The consumer store-releases head after it is done with entries;
 *    the producer load-acquires head before reusing them.
 *  - Each side writes only its own cache line of the header: the producer tail and
 *    producer_flags, the consumer head and consumer_flags.
 *  - Wake-ups (Dekker pattern, a full barrier on both sides):
 *      consumer going to sleep:  set NEED_WAKEUP; full barrier; re-check tail; sleep if empty.
 *      producer after publish:   store-release tail; full barrier; if NEED_WAKEUP: notify.
 *      producer finding it full: set WAITING; full barrier; re-check head; wait if full.
 *      consumer after release:   store-release head; full barrier; if WAITING: notify.
 *    "Notify" is a doorbell when the host notifies the card and an interrupt the other way.
 *    Either side may notify more often than needed; spurious notifications are harmless.
 *  - In the kernel, card memory (ivshmem BAR2, plain RAM shared with the emulator) is mapped
 *    with memremap(MEMREMAP_WB), so smp_* barriers order it. Write the doorbell with
 *    writel(), which orders prior memory writes before the MMIO write.
 *  - The card treats every index it reads as hostile: hc_ring_*_space/avail return -1 when
 *    the indices are inconsistent (more than @entries apart).
 */
#ifndef _UAPI_HC_RING_H
#define _UAPI_HC_RING_H

#include <linux/types.h>
#include "hc_card.h"

/* ---- barrier primitives: the only part that differs between kernel and userspace ---- */
#ifdef __KERNEL__
#include <linux/compiler.h>
#include <asm/barrier.h>

static inline __u32 hc_ring_load_acquire(const __u32 *p) { return smp_load_acquire(p); }
static inline void hc_ring_store_release(__u32 *p, __u32 v) { smp_store_release(p, v); }
static inline __u32 hc_ring_load(const __u32 *p) { return READ_ONCE(*p); }
static inline void hc_ring_store(__u32 *p, __u32 v) { WRITE_ONCE(*p, v); }
static inline __u64 hc_ring_load64(const __u64 *p) { return READ_ONCE(*p); }
static inline void hc_ring_store64(__u64 *p, __u64 v) { WRITE_ONCE(*p, v); }
static inline __u64 hc_ring_load_acquire64(const __u64 *p) { return smp_load_acquire(p); }
static inline void hc_ring_store_release64(__u64 *p, __u64 v) { smp_store_release(p, v); }
static inline void hc_ring_mb(void) { smp_mb(); }
#else
static inline __u32 hc_ring_load_acquire(const __u32 *p)
{
	return __atomic_load_n(p, __ATOMIC_ACQUIRE);
}
static inline void hc_ring_store_release(__u32 *p, __u32 v)
{
	__atomic_store_n(p, v, __ATOMIC_RELEASE);
}
static inline __u32 hc_ring_load(const __u32 *p) { return __atomic_load_n(p, __ATOMIC_RELAXED); }
static inline void hc_ring_store(__u32 *p, __u32 v) { __atomic_store_n(p, v, __ATOMIC_RELAXED); }
static inline __u64 hc_ring_load64(const __u64 *p)
{
	return __atomic_load_n(p, __ATOMIC_RELAXED);
}
static inline void hc_ring_store64(__u64 *p, __u64 v)
{
	__atomic_store_n(p, v, __ATOMIC_RELAXED);
}
static inline __u64 hc_ring_load_acquire64(const __u64 *p)
{
	return __atomic_load_n(p, __ATOMIC_ACQUIRE);
}
static inline void hc_ring_store_release64(__u64 *p, __u64 v)
{
	__atomic_store_n(p, v, __ATOMIC_RELEASE);
}
static inline void hc_ring_mb(void) { __atomic_thread_fence(__ATOMIC_SEQ_CST); }
#endif

/* ---- shared layout ---- */

/* producer_flags */
#define HC_RING_PRODUCER_WAITING	(1u << 0)	/* ring full: notify me after freeing space */
/* consumer_flags */
#define HC_RING_CONSUMER_NEED_WAKEUP	(1u << 0)	/* I sleep: notify me after publishing */

/* Stream-ring names of the same bits (card produces, host consumes). */
#define HC_STREAM_CARD_WAITING		HC_RING_PRODUCER_WAITING
#define HC_STREAM_HOST_NEED_WAKEUP	HC_RING_CONSUMER_NEED_WAKEUP

/**
 * struct hc_ring_hdr - ring header, 128 bytes, followed by the entries.
 * @tail: (producer) next index to fill; store-release after writing entries.
 * @producer_flags: (producer) HC_RING_PRODUCER_*.
 * @producer_reserved: zero.
 * @head: (consumer) next index to consume; store-release after reading entries.
 * @consumer_flags: (consumer) HC_RING_CONSUMER_*.
 * @consumer_reserved: zero.
 *
 * The host initialises the whole header to zero before first use (SQ/CQ before enabling
 * the queue pair, a stream ring before the first DECODE that uses it). A stream ring may be
 * reused by later DECODE jobs; the card continues from the tail it finds.
 */
struct hc_ring_hdr {
	__u32 tail;
	__u32 producer_flags;
	__u32 producer_reserved[14];
	__u32 head;
	__u32 consumer_flags;
	__u32 consumer_reserved[14];
};

#define HC_RING_HDR_SIZE	128
#define HC_RING_BYTES(entries, entry_size) \
	((__u64)HC_RING_HDR_SIZE + (__u64)(entries) * (__u64)(entry_size))

_Static_assert(sizeof(struct hc_ring_hdr) == HC_RING_HDR_SIZE, "hc_ring_hdr size");
_Static_assert(__builtin_offsetof(struct hc_ring_hdr, head) == 64, "hc_ring_hdr head line");

static inline int hc_is_pow2_u32(__u32 x) { return x && !(x & (x - 1)); }

/**
 * struct hc_ring - one side's private view of a ring (not in card memory).
 * @hdr: the header in card memory.
 * @entries: first entry in card memory.
 * @mask: number of entries - 1.
 * @entry_size: bytes per entry.
 * @local: producer: next tail to fill; consumer: next head to consume.
 */
struct hc_ring {
	struct hc_ring_hdr *hdr;
	unsigned char *entries;
	__u32 mask;
	__u32 entry_size;
	__u32 local;
};

/* Set up @r over @base (a ring header in mapped card memory) with @n entries (power of 2). */
static inline void hc_ring_init(struct hc_ring *r, void *base, __u32 n, __u32 entry_size)
{
	r->hdr = (struct hc_ring_hdr *)base;
	r->entries = (unsigned char *)base + HC_RING_HDR_SIZE;
	r->mask = n - 1;
	r->entry_size = entry_size;
	r->local = 0;
}

static inline __u32 hc_ring_entries(const struct hc_ring *r) { return r->mask + 1; }

/* Entry at index @idx (any free-running index); always inside the ring. */
static inline void *hc_ring_entry(const struct hc_ring *r, __u32 idx)
{
	return r->entries + (unsigned long)(idx & r->mask) * r->entry_size;
}

/* ---- producer side ---- */

/* Resume producing where the published tail is (the producer owns tail). */
static inline void hc_ring_prod_sync(struct hc_ring *r)
{
	r->local = hc_ring_load(&r->hdr->tail);
}

/* Free entries after r->local, or -1 if head is inconsistent with our tail. */
static inline int hc_ring_prod_space(const struct hc_ring *r)
{
	__u32 used = r->local - hc_ring_load_acquire(&r->hdr->head);

	if (used > r->mask + 1)
		return -1;
	return (int)(r->mask + 1 - used);
}

/* Entry to fill @i places after the local tail. */
static inline void *hc_ring_prod_entry(const struct hc_ring *r, __u32 i)
{
	return hc_ring_entry(r, r->local + i);
}

/* Make @n filled entries visible to the consumer. */
static inline void hc_ring_prod_publish(struct hc_ring *r, __u32 n)
{
	r->local += n;
	hc_ring_store_release(&r->hdr->tail, r->local);
}

/* After publishing: does the consumer want a notification? Contains the full barrier. */
static inline int hc_ring_prod_need_wakeup(const struct hc_ring *r)
{
	hc_ring_mb();
	return !!(hc_ring_load(&r->hdr->consumer_flags) & HC_RING_CONSUMER_NEED_WAKEUP);
}

/* Ring full: announce we wait, then re-check. Returns space as hc_ring_prod_space(). */
static inline int hc_ring_prod_wait_prepare(struct hc_ring *r)
{
	__u32 f = hc_ring_load(&r->hdr->producer_flags);

	hc_ring_store(&r->hdr->producer_flags, f | HC_RING_PRODUCER_WAITING);
	hc_ring_mb();
	return hc_ring_prod_space(r);
}

static inline void hc_ring_prod_wait_done(struct hc_ring *r)
{
	__u32 f = hc_ring_load(&r->hdr->producer_flags);

	if (f & HC_RING_PRODUCER_WAITING)
		hc_ring_store(&r->hdr->producer_flags, f & ~HC_RING_PRODUCER_WAITING);
}

/* ---- consumer side ---- */

/* Resume consuming where the published head is (the consumer owns head). */
static inline void hc_ring_cons_sync(struct hc_ring *r)
{
	r->local = hc_ring_load(&r->hdr->head);
}

/* Filled entries from r->local on, or -1 if tail is inconsistent with our head. */
static inline int hc_ring_cons_avail(const struct hc_ring *r)
{
	__u32 n = hc_ring_load_acquire(&r->hdr->tail) - r->local;

	if (n > r->mask + 1)
		return -1;
	return (int)n;
}

/* Entry @i places after the local head. */
static inline void *hc_ring_cons_entry(const struct hc_ring *r, __u32 i)
{
	return hc_ring_entry(r, r->local + i);
}

/* Give @n consumed entries back to the producer. */
static inline void hc_ring_cons_release(struct hc_ring *r, __u32 n)
{
	r->local += n;
	hc_ring_store_release(&r->hdr->head, r->local);
}

/* After releasing: is the producer waiting for space? Contains the full barrier. */
static inline int hc_ring_cons_producer_waiting(const struct hc_ring *r)
{
	hc_ring_mb();
	return !!(hc_ring_load(&r->hdr->producer_flags) & HC_RING_PRODUCER_WAITING);
}

/* Before sleeping: ask for a wake-up, then re-check. Returns hc_ring_cons_avail(). */
static inline int hc_ring_cons_sleep_prepare(struct hc_ring *r)
{
	__u32 f = hc_ring_load(&r->hdr->consumer_flags);

	hc_ring_store(&r->hdr->consumer_flags, f | HC_RING_CONSUMER_NEED_WAKEUP);
	hc_ring_mb();
	return hc_ring_cons_avail(r);
}

static inline void hc_ring_cons_sleep_done(struct hc_ring *r)
{
	__u32 f = hc_ring_load(&r->hdr->consumer_flags);

	if (f & HC_RING_CONSUMER_NEED_WAKEUP)
		hc_ring_store(&r->hdr->consumer_flags, f & ~HC_RING_CONSUMER_NEED_WAKEUP);
}

/* ---- typed views ---- */

static inline struct hc_sqe *hc_sq_entry(const struct hc_ring *r, __u32 idx)
{
	return (struct hc_sqe *)hc_ring_entry(r, idx);
}

static inline struct hc_cqe *hc_cq_entry(const struct hc_ring *r, __u32 idx)
{
	return (struct hc_cqe *)hc_ring_entry(r, idx);
}

static inline __u32 *hc_stream_entry(const struct hc_ring *r, __u32 idx)
{
	return (__u32 *)hc_ring_entry(r, idx);
}

#endif /* _UAPI_HC_RING_H */
