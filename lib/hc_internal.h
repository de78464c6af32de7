/* SPDX-License-Identifier: MIT */
/*
 * libhc internals: the card handle, queue pairs, contexts, streams, and the backend hooks
 * (socket transport in hc_emu.c, kernel driver in hc_kernel.c). Not installed.
 */
#ifndef HC_LIB_INTERNAL_H
#define HC_LIB_INTERNAL_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include "hc/hc.h"
#include "uapi/hc_card.h"
#include "uapi/hc_ring.h"

struct hc_tokenizer;
struct hc_card;

/* Names the hc kernel driver may register under (sysfs device/driver link). */
#define HC_KERNEL_DRIVER_NAMES "hc", "hc_accel", "hc-accel"

#define HC_SQ_ENTRIES      64
#define HC_CQ_ENTRIES      128
#define HC_STREAM_DEFAULT  1024	/* default stream ring entries (capped by the card) */
#define HC_CTRL_TIMEOUT_MS 10000	/* control-plane acks (QP enable, reset) */
#define HC_HANG_MS         3000	/* heartbeat frozen this long while we wait: card hung */
#define HC_WAIT_SLICE_MS   100	/* waits wake this often to check the card is alive */

struct hc_stream_impl;
struct hc_qp;
struct hc_ctx;

/* Kinds of buffers a backend hands out (hc_card_ops.buf_alloc). */
enum hc_buf_kind {
	HC_BUF_PROMPT = 1,	/* prompt ids for one PREFILL, released after its completion */
	HC_BUF_STREAM = 2,	/* a stream ring: struct hc_ring_hdr then u32 token ids */
};

/*
 * Backend operations: everything that differs between the socket transport (hc_emu.c, which
 * speaks the card interface directly: register page, queue-pair registers, doorbells) and
 * the kernel driver (hc_kernel.c: ioctls of include/uapi/drm/hc_accel.h). Both give the
 * library per-queue-pair rings with the <hc_ring.h> layout: a submission ring of 128-byte
 * entries and a completion ring of struct hc_cqe, consumed here by user_data.
 *
 * The backend's open sets card->ops, card->info and card->versions (and card->tok, card->regs
 * when it has them; the socket backend calls hc__card_setup() for that).
 */
struct hc_card_ops {
	const char *name;
	/* Undo the backend's open (unmap, close fds). */
	void (*release)(struct hc_card *card);
	/*
	 * Open a context on the card: set ctx->id and ctx->qp (rings ready; qp->irq_fd a
	 * pollable fd or -1 with @wait below). 0 or negative errno (-EBUSY: no KV slot).
	 */
	int (*ctx_open)(struct hc_card *card, struct hc_ctx *ctx);
	/* Close it: its jobs complete (cancelled) into ctx->qp's CQ or are abandoned. */
	void (*ctx_close)(struct hc_card *card, struct hc_ctx *ctx);
	/*
	 * With qp->lock held: put @sqe (card-interface format, user_data set; PREFILL
	 * tokens_offset and DECODE stream_offset hold buf_alloc cookies) into the SQ in the
	 * transport's format, publish it and notify the card. 0, -EAGAIN (full), -errno.
	 */
	int (*push)(struct hc_card *card, struct hc_qp *qp, const struct hc_sqe *sqe);
	/* Optional (the direct card interface): push @n SQEs so, all or none, published with
	 * one tail store and one doorbell so that the card fetches them together. */
	int (*push_n)(struct hc_card *card, struct hc_qp *qp, const struct hc_sqe *sqe,
		      unsigned n);
	/* Cancel every job of @ctx (their CQEs say CANCELLED); does not wait. */
	int (*cancel)(struct hc_card *card, struct hc_ctx *ctx);
	/* A buffer the card can read (PROMPT) or write (STREAM): CPU pointer + cookie. */
	int (*buf_alloc)(struct hc_card *card, enum hc_buf_kind kind, uint64_t size,
			 uint64_t *cookie, void **ptr);
	void (*buf_free)(struct hc_card *card, enum hc_buf_kind kind, uint64_t cookie, void *ptr,
			 uint64_t size);
	/* The host freed stream space and the card flagged CARD_WAITING: wake it. */
	void (*stream_kick)(struct hc_card *card, struct hc_stream_impl *si);
	/*
	 * Optional, for queue pairs without a pollable irq fd: sleep until @qp's CQ (or @si's
	 * stream, if not NULL) may have moved, or @timeout_ms. 0 or negative errno.
	 */
	int (*wait)(struct hc_card *card, struct hc_qp *qp, struct hc_stream_impl *si,
		    int timeout_ms);
	/*
	 * Optional, for queue pairs without a pollable irq fd: a new fd that polls readable
	 * while @si has unread tokens or @si's queue pair has unreaped completions (level-
	 * triggered, never read). The library closes it. fd or negative errno.
	 */
	int (*stream_fd)(struct hc_card *card, struct hc_stream_impl *si);
	/* Optional: 0 while the card is reachable, else negative errno (e.g. -ECONNRESET). */
	int (*check)(struct hc_card *card);
	/* Optional: telemetry when there is no register page mapped (card->regs NULL). */
	int (*telemetry)(struct hc_card *card, struct hc_telemetry *t);
	/* Direct card interface only (socket): ring doorbell @vector (HC_DOORBELL_*). */
	void (*doorbell)(struct hc_card *card, uint32_t vector);
};

/* One outstanding SQE, matched to its CQE by user_data. */
struct hc_op {
	struct hc_op *next;
	uint64_t user_data;
	int done;
	int autofree;		/* fire-and-forget (CANCEL): freed by the reaper */
	struct hc_cqe cqe;
	struct hc_stream_impl *stream;	/* DECODE: where the completion goes */
	struct hc_stream_impl *linked;	/* PREFILL linked ahead of this stream's DECODE
					   (hc_ctx_generate): its failure is the stream's */
};

struct hc_qp {
	struct hc_card *card;
	uint32_t index;
	int enabled;
	int users;		/* contexts assigned */
	pthread_mutex_t lock;	/* SQ, CQ, ops list, irq_seq */
	uint64_t sq_off, cq_off;
	int cq_host;		/* the CQ is in host memory at bus address cq_off */
	struct hc_ring sq, cq;
	struct hc_op *ops;	/* outstanding */
	uint64_t next_user_data;
	uint32_t irq_vector;
	uint32_t irq_seq;	/* bumped whenever someone drains the irq fd (under lock) */
	int irq_fd;
};

/* Free-list allocator over the data region. */
struct hc_extent {
	struct hc_extent *next;
	uint64_t off, len;
};

struct hc_card {
	const struct hc_card_ops *ops;
	pthread_mutex_t lock;	/* qp setup, control plane */
	pthread_mutex_t alloc_lock;	/* free_list */
	uint8_t *mem;
	size_t mem_size;
	/* socket transport with HC_CAP_HOST_MEMORY: our memfd that the card writes CQs and
	 * streams into (bus address = offset); NULL when the card memory holds them */
	uint8_t *host_mem;
	size_t host_size;
	struct hc_extent *host_free;	/* free list over host_mem, alloc_lock */
	struct hc_card_regs *regs;
	int sock;		/* emu: the connection (its EOF frees our contexts) */
	int n_doorbells, n_irqs;
	int doorbell_fd[1 + HC_CARD_MAX_QP];
	int irq_fd[1 + HC_CARD_MAX_QP];
	struct hc_tokenizer *tok;	/* NULL if the card does not expose one */
	struct hc_card_info info;
	struct hc_card_versions versions;	/* set by the backend's open */
	uint32_t max_prefill;
	uint32_t max_stream_entries;
	uint32_t n_qps;
	struct hc_qp qp[HC_CARD_MAX_QP];
	struct hc_extent *free_list;
	uint64_t ctrl_seq;
	void *backend;		/* backend private */
	int dead;		/* atomic: 0, or why the card is gone (-ECONNRESET, -ETIMEDOUT) */
	uint64_t hb_last;	/* atomics: last heartbeat seen and when (ms) */
	int64_t hb_when;
	struct hc_ctx *ctxs;	/* open contexts, under lock (hc_close frees them) */
	/*
	 * The card's io_uring for waits, lazily made: one thread at a time has it (trylock of
	 * wait_lock); a thread that finds it taken waits with its context's ring instead. Its
	 * multishot polls stay armed whichever streams a single-threaded application waits on.
	 */
	pthread_mutex_t wait_lock;
	struct hc_uring *uring;
};

struct hc_ctx {
	struct hc_ctx *next;	/* card->ctxs */
	struct hc_card *card;
	struct hc_qp *qp;
	uint32_t id;		/* card-side context id */
	uint32_t pos;		/* positions filled (from CQEs) */
	int pending;		/* a sampled token waits to be fed */
	int has_logits;
	uint64_t generated;	/* tokens generated so far: default step_base */
	struct hc_stream_impl *streams;	/* live streams */
	struct hc_stream_impl *running;	/* the decode in flight, if any */
	struct hc_uring *uring;	/* lazily created io_uring for hc_stream_wait */
};

struct hc_stream_impl {
	struct hc_stream pub;
	struct hc_stream_impl *next;	/* in ctx->streams */
	struct hc_ctx *ctx;
	struct hc_ring_hdr *hdr;
	uint64_t ring_cookie, ring_bytes;	/* from ops->buf_alloc(HC_BUF_STREAM) */
	uint32_t max_tokens;
	int ended;		/* CQE reaped (or the card is gone: dead) */
	int dead;
	int poll_fd;		/* ops->stream_fd's, made by hc_stream_fd(); -1 before */
	uint32_t budget_us;	/* hc_decode_params.latency_budget_us */
	int card_defers;	/* the DECODE carried the budget (HC_CAP_WAKEUP_DELAY): no host
				   linger */
	struct hc_stream_status st;
	struct hc_op op;
	/* hc_ctx_generate on a card with HC_CAP_LINK: the linked PREFILL, its token array
	 * (freed with the stream) and its errno if it failed (then the stream's error) */
	struct hc_op prefill_op;
	void *prompt;
	uint64_t prompt_cookie, prompt_bytes;
	int prefill_err;
};

/*
 * How long a stream's wake-up may be held back (by the card, HC_CAP_WAKEUP_DELAY, or by the
 * waits on the host for cards without it) for a latency budget of @budget_us. The budget is
 * how late the application may have a token, and the wake-up itself takes time after the
 * deferral ends: the card's timer firing late, the interrupt, scheduling the sleeping thread,
 * reaping. On a loaded 2-core VM (docs/libhc.md) hc-emud's deferred interrupts fired up to
 * 53 us late at the 99th percentile and a consumer woke up to 30 us after that; so the
 * allowance is HC_WAKE_ALLOWANCE_US plus an eighth of the budget for the jitter of a busy
 * machine. A budget within the allowance is not deferred at all: every token at once.
 */
#define HC_WAKE_ALLOWANCE_US 100
static inline uint32_t hc__wakeup_defer_us(uint32_t budget_us)
{
	uint32_t allowance = HC_WAKE_ALLOWANCE_US + budget_us / 8;

	return budget_us > allowance ? budget_us - allowance : 0;
}

static inline struct hc_stream_impl *hc__impl(struct hc_stream *s)
{
	return (struct hc_stream_impl *)s->priv;
}

/* hc_card.c: the direct card interface (register page, QP registers), used by hc_emu.c */
int hc__card_setup(struct hc_card *card);	/* after the backend mapped card memory */
int hc__mem_alloc(struct hc_card *card, uint64_t size, uint64_t *off);
/* The same over host memory (card->host_mem, HC_CAP_HOST_MEMORY): bus addresses. */
int hc__host_alloc(struct hc_card *card, uint64_t size, uint64_t *addr);
void hc__host_free(struct hc_card *card, uint64_t addr, uint64_t size);
void hc__mem_free(struct hc_card *card, uint64_t off, uint64_t size);
int hc__qp_get(struct hc_card *card, struct hc_qp **out);	/* least-used, enabled */
void hc__qp_put(struct hc_card *card, struct hc_qp *qp);
int hc__direct_push(struct hc_card *card, struct hc_qp *qp, const struct hc_sqe *sqe);
int hc__direct_push_n(struct hc_card *card, struct hc_qp *qp, const struct hc_sqe *sqe,
		      unsigned n);
/* Submit @sqe on @qp for @op (user_data assigned). */
int hc__submit(struct hc_card *card, struct hc_qp *qp, struct hc_sqe *sqe, struct hc_op *op);
/* Reap every CQE of @qp and drain its irq fd; caller holds no lock. */
void hc__reap(struct hc_card *card, struct hc_qp *qp);
/*
 * Reap without draining the irq fd (no system call): for paths whose sleeps use
 * multishot io_uring polls, which fire on every interrupt whatever the fd's level.
 */
void hc__reap_nodrain(struct hc_card *card, struct hc_qp *qp);
/* Wait for @op to complete (reaping @qp). */
int hc__wait_op(struct hc_card *card, struct hc_qp *qp, struct hc_op *op, int timeout_ms);
/* Forget every op still outstanding on @qp (freeing fire-and-forget ones): teardown. */
void hc__qp_drop_ops(struct hc_qp *qp);
/* Forget an op that will not complete (card gone). */
void hc__op_unlink(struct hc_qp *qp, struct hc_op *op);
/* Submit and wait; for tests: raw access to any opcode and context id. */
int hc__submit_linked(struct hc_card *card, struct hc_qp *qp, struct hc_sqe sqe[2],
		      struct hc_op *op[2]);
int hc__exec(struct hc_card *card, struct hc_qp *qp, struct hc_sqe *sqe, struct hc_cqe *cqe);
/* The same, giving up after @timeout_ms (-1: only when the card is gone) with -ETIMEDOUT. */
int hc__exec_timeout(struct hc_card *card, struct hc_qp *qp, struct hc_sqe *sqe,
		     struct hc_cqe *cqe, int timeout_ms);
int hc__status_errno(const struct hc_cqe *cqe);
/* 0 while the card is alive; else negative errno (connection closed, heartbeat frozen). */
int hc__card_check(struct hc_card *card);
/* The card broke the interface or went away: from now on every wait on it fails with @err
 * (the first reason recorded stays). */
void hc__card_fail(struct hc_card *card, int err);

/* hc_emu.c */
int hc_emu_open(struct hc_card *card, const char *sock_path);
/* hc_kernel.c (or hc_kernel_none.c) */
int hc_kernel_open(struct hc_card *card, const char *devnode);

/* hc_stream.c */
void hc__stream_complete(struct hc_stream_impl *si, const struct hc_cqe *cqe);
/* Called by the reaper with the QP lock held: the linked PREFILL of @si completed. */
void hc__stream_prefill_done(struct hc_stream_impl *si, const struct hc_cqe *cqe);
void hc__uring_free(struct hc_uring *u);

#endif
