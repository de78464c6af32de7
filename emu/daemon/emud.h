/* SPDX-License-Identifier: MIT */
/*
 * hc-emud internals: the emulated HC card (docs/card-interface.md, docs/hc-emud.md).
 *
 * One struct emud_card (ROM, model, KV slot accounting, telemetry) serves any number of
 * functions (struct emud_fn): a card memory with its register page, queue pairs and
 * contexts. The socket transport makes one function per client; the PCI (ivshmem)
 * transport one function for the whole card. Transports only create functions, deliver
 * doorbells (emud_fn_kick) and implement raise_irq.
 *
 * Threads: everything runs on the main thread (event loop + scheduler) except the
 * heartbeat thread, which walks card->fns under card->lock and only touches heartbeat,
 * telemetry mirrors and atomics.
 */
#ifndef HC_EMU_EMUD_H
#define HC_EMU_EMUD_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <syslog.h>		/* LOG_ERR ... LOG_DEBUG: the sd-daemon(3) priorities */
#include "uapi/hc_card.h"
#include "uapi/hc_ring.h"
#include "model.h"
#include "rom.h"

#define EMUD_DEFAULT_CONTEXTS	64
#define EMUD_DEFAULT_CLIENT_MEM	(16u << 20)
#define EMUD_MIN_CLIENT_MEM	(64u << 10)
#define EMUD_MAX_CLIENT_MEM	(1ull << 30)
#define EMUD_DEFAULT_QPS	4
#define EMUD_DEFAULT_CHUNK	32
#define EMUD_IDLE_CHUNK		128	/* ... when no context decodes: the model's pass */
#define EMUD_MAX_SQ_ENTRIES	4096
#define EMUD_MAX_CQ_ENTRIES	16384
#define EMUD_MAX_STREAM_ENTRIES	(1u << 20)
#define EMUD_QP_MAX_INFLIGHT	1024	/* queued jobs per queue pair; more: NO_MEMORY */
#define EMUD_QP_MAX_OVF		1024	/* CQEs held for a full CQ before SQ fetching stops */
#define EMUD_HEARTBEAT_MS	5
#define EMUD_WEDGED_MS		2000	/* main loop stuck this long: the heartbeat stops */
#define EMUD_LOG_LIMIT		100	/* bad-SQE log lines per function before muting */

struct emud_opts {
	const char *rom_path;
	const char *socket_path;
	const char *ivshmem_path;
	const char *guest_ram;		/* the PCI guest's RAM file: its host memory */
	int threads;
	enum hc_path path;		/* kernel table (HC_PATH_AUTO: the fastest; same bits) */
	uint32_t n_contexts;		/* card-wide KV slots */
	uint32_t max_contexts;		/* per function */
	uint64_t client_mem;		/* card memory per socket client (default and cap) */
	uint64_t ivshmem_mem;		/* card memory of the PCI function */
	uint32_t n_qp;			/* queue pairs per function */
	uint32_t prefill_chunk;		/* prompt tokens per scheduling turn */
	bool prefill_chunk_set;		/* given: also when no context decodes */
	uint32_t max_ctx;		/* cap on context length (0: ROM max_ctx) */
	uint64_t kv_mem;		/* KV cache budget of the card, bytes (0: half of RAM) */
	bool allow_faults;		/* TEST ONLY fault injection registers */
	bool null_model;		/* BENCHMARK ONLY: tokens without computing (emud_null.c) */
	uint32_t pace;			/* tokens/s per decoding context at most (0: model speed) */
	const char *socket_group;	/* chgrp of a socket we bind (not of a systemd one) */
	int verbose;			/* > 0: LOG_DEBUG lines too (clients, queue pairs, contexts) */
};

/* Card-wide counters, updated with atomics (main thread) and read by the heartbeat thread. */
struct emud_counters {
	uint64_t tokens_generated;
	uint64_t prompt_tokens;
	uint64_t jobs_completed;
	uint64_t jobs_failed;
	uint64_t busy_ns;
	uint64_t contexts_in_use;
	uint64_t functions_active;
};

struct emud_fn;

struct emud_fn_ops {
	const char *kind;					/* "client", "pci" */
	void (*raise_irq)(struct emud_fn *fn, uint32_t vector);
};

enum emud_ctx_state {
	CTX_EMPTY = 0,		/* neither logits nor a pending token */
	CTX_LOGITS,		/* c->logits are those of the last position */
	CTX_PENDING,		/* c->pending was sampled (and shown) but not fed yet */
};

struct emud_job {
	struct emud_job *next;
	uint8_t op;			/* HC_OP_PREFILL, HC_OP_DECODE, HC_OP_RESET_CONTEXT */
	uint8_t qp;			/* submitting queue pair */
	bool started;
	bool link;			/* PREFILL with HC_SQE_F_LINK: the next job needs its OK */
	bool waiting;			/* DECODE: stream ring full, not runnable */
	bool have_tok;			/* DECODE: tok sampled but not yet in the stream */
	bool paced;			/* DECODE: tok held until not_before (--pace) */
	uint64_t not_before;		/* DECODE, --pace: earliest time of the next token */
	uint64_t wake_ns;		/* DECODE: hc_sqe_decode.wakeup_usec, in ns (0: at once) */
	uint32_t wake_tokens;		/* DECODE: hc_sqe_decode.wakeup_tokens (0: no limit) */
	uint64_t wake_at;		/* DECODE: a deferred wake-up is due then (0: none) */
	int32_t tok;
	uint32_t count;
	uint64_t user_data;
	/* PREFILL: tokens[0] is a slot for the context's pending token, prompt at [1..n] */
	int32_t *tokens;
	uint32_t n_tokens;
	uint32_t off;			/* next index of tokens[] to feed */
	uint32_t passes;		/* forward passes its chunks took so far */
	uint32_t shared;		/* ... of which carried other contexts' tokens too */
	/* DECODE */
	struct hc_ring stream;
	uint32_t max_tokens;
	uint32_t n_stop;
	uint32_t stop[HC_CARD_MAX_STOP];
	struct hc_sampling samp;
	uint64_t step_base;
};

struct emud_ctx {
	uint32_t id;
	uint64_t kv_bytes;		/* reserved from card->kv_reserved */
	struct hc_kv *kv;
	float *logits;
	enum emud_ctx_state state;
	int32_t pending;
	struct emud_job *head, *tail;	/* jobs in submission order; head runs */
	uint32_t fed;			/* tokens of the head PREFILL's next chunk that a
					   batched pass already ran (feed_round), not yet
					   accounted */
	bool link_broken;		/* a linked PREFILL failed with no job after it yet: the
					   next one submitted completes CANCELLED */
};

struct emud_cqe_node {
	struct emud_cqe_node *next;
	struct hc_cqe cqe;
};

struct emud_qp {
	bool enabled;
	uint32_t seen_seq;
	struct hc_ring sq, cq;
	uint32_t irq_vector;
	uint32_t coalesce_count;
	uint64_t coalesce_ns;
	uint32_t inflight;		/* jobs queued on contexts */
	struct emud_cqe_node *ovf_head, *ovf_tail;	/* CQEs waiting for CQ space */
	uint32_t n_ovf;
	uint32_t unsignalled;		/* CQEs posted since the last interrupt */
	uint64_t first_unsignalled_ns;
	bool sq_need_wakeup;		/* our view of the SQ's NEED_WAKEUP flag */
};

struct emud_fn {
	struct emud_card *card;
	struct emud_fn *next;		/* card->fns, under card->lock */
	uint32_t id;
	const struct emud_fn_ops *ops;
	void *transport;

	unsigned char *mem;
	uint64_t mem_size;
	uint64_t data_offset;		/* our copy: host-managed memory starts here */
	unsigned char *host_mem;	/* HC_CAP_HOST_MEMORY: bus address 0 (set before init) */
	uint64_t host_size;
	struct hc_card_regs *regs;
	uint32_t n_qp, n_irq;
	struct emud_qp qp[HC_CARD_MAX_QP];

	struct emud_ctx **ctx;		/* [max_contexts], id = index + 1 */
	uint32_t max_contexts;
	uint32_t n_open;
	uint64_t tok_bytes;		/* prompt copies held by queued PREFILLs (bounded) */

	uint64_t seen_reset;
	uint32_t seen_fault_seq;
	int stalled;			/* atomic: read by the heartbeat thread */
	uint32_t stall_after;		/* tokens until an armed stall, 0 = not armed */
	uint32_t drop_irqs, corrupt_cqes;
	uint32_t irqs_dropped, cqes_corrupted;

	uint32_t irq_mask;		/* vectors to raise at the end of this round */
	uint32_t n_deferred;		/* head jobs with a deferred stream wake-up (wake_at) */
	bool kicked;			/* a doorbell rang since the last service */
	uint64_t heartbeat;		/* heartbeat thread only */
	uint32_t logged;		/* bad-SQE log lines so far */
};

/* Contexts fed to the model in one pass (emud_sched.c): decoders and prompt chunks */
#define EMUD_BATCH	32

struct emud_card {
	struct emud_opts opt;
	struct hc_rom *rom;
	const struct hc_rom_header *rom_hdr;
	struct hc_model *model;
	const struct hc_rom_arch *arch;
	uint32_t max_ctx;		/* effective context length cap */
	uint32_t kv_in_use;		/* main thread */
	uint64_t kv_pos_bytes;		/* KV cache bytes per position (K and V, all layers) */
	uint64_t kv_reserved;		/* reserved by open contexts, <= opt.kv_mem */
	struct emud_counters cnt;	/* atomics */
	uint64_t start_ns;

	pthread_mutex_t lock;		/* protects fns list against the heartbeat thread */
	struct emud_fn *fns;
	struct hc_card_telemetry snap;	/* last mirrored telemetry, under lock */
	uint32_t next_fn_id;

	struct hc_prob_index *prob;

	pthread_t hb_thread;
	int hb_stop;			/* atomic */
	bool hb_running;
	/* main-thread liveness, read by the heartbeat thread (atomics) */
	uint64_t loop_iter;		/* event-loop iterations */
	int loop_waiting;		/* sleeping in epoll_wait */
	int in_forward;			/* inside hc_forward (the worker pool is busy) */

	int epfd;
	int timer_tfd;			/* timerfd: next held token (--pace), next deferred
					   stream wake-up (HC_CAP_WAKEUP_DELAY); or -1 */
	bool stop;
};

/* An fd in the event loop: @fn runs when it is ready. */
struct emud_ev {
	void (*fn)(struct emud_ev *ev, uint32_t events);
	void *obj;
	uint32_t vector;
};

int emud_ev_add(struct emud_card *card, int fd, struct emud_ev *ev);
void emud_ev_del(struct emud_card *card, int fd);

/* emud_socket.c: the socket transport, one function per client */
struct emud_socket;
int emud_socket_open(struct emud_card *card, const char *path, struct emud_socket **out);
/*
 * Serve on @fd, a listening AF_UNIX stream socket made by someone else (systemd's socket
 * activation): it is left in place on close, its owner and mode are the owner's business.
 */
int emud_socket_adopt(struct emud_card *card, int fd, struct emud_socket **out);
const char *emud_socket_path(const struct emud_socket *s);
void emud_socket_reap(struct emud_socket *s);	/* free clients that went away */
void emud_socket_close(struct emud_socket *s);	/* all clients, unlink the socket */
const char *emud_default_socket_path(char *buf, size_t len);

/* emud_ivshmem.c: the PCI transport (QEMU ivshmem-doorbell; hc-emud is server + card peer 0) */
#define EMUD_DEFAULT_IVSHMEM_MEM (16u << 20)
struct emud_ivshmem;
int emud_ivshmem_open(struct emud_card *card, const char *path, uint64_t mem_size,
		      struct emud_ivshmem **out);
void emud_ivshmem_close(struct emud_ivshmem *s);

/*
 * emud_service.c: one log line on stderr at priority @prio (LOG_ERR, LOG_WARNING, LOG_NOTICE,
 * LOG_INFO, LOG_DEBUG). Under systemd (stderr is the journal) the line carries an sd-daemon
 * "<N>" prefix and no time stamp; otherwise a time stamp and a level word. LOG_DEBUG lines
 * (per-client and per-context events) are only written with -v: the default stays quiet
 * however many clients come and go.
 */
void emud_logp(int prio, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
#define emud_log(...)	emud_logp(LOG_INFO, __VA_ARGS__)
#define emud_err(...)	emud_logp(LOG_ERR, __VA_ARGS__)
#define emud_warn(...)	emud_logp(LOG_WARNING, __VA_ARGS__)
#define emud_notice(...) emud_logp(LOG_NOTICE, __VA_ARGS__)
#define emud_dbg(...)	emud_logp(LOG_DEBUG, __VA_ARGS__)
void emud_service_init(int verbose);	/* before the first log line */
/* The socket systemd passed (LISTEN_FDS), -ENOENT if none, or another negative errno. */
int emud_service_listen_fd(void);
/* sd_notify(3) a state ("READY=1", "STOPPING=1", "STATUS=..."); nothing outside systemd. */
void emud_service_notify(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* hc-emud.c */
uint64_t emud_now_ns(void);

/* emud_fn.c: functions, register page, control registers, SQ fetch, CQ posting, irqs */
int emud_fn_init(struct emud_fn *fn, struct emud_card *card, void *mem, uint64_t mem_size,
		 uint64_t caps, const struct emud_fn_ops *ops, void *transport);
void emud_fn_destroy(struct emud_fn *fn);	/* frees contexts; memory belongs to the transport */
void emud_fn_kick(struct emud_fn *fn);		/* a doorbell rang */
void emud_fn_service(struct emud_fn *fn, bool card_idle);
bool emud_fn_sleep_prepare(struct emud_fn *fn);	/* false: new work appeared */
/*
 * A DECODE published a token while its consumer asked for a wake-up: raise the queue pair's
 * vector this round, or defer it by the job's wakeup_usec (HC_CAP_WAKEUP_DELAY).
 */
void emud_fn_stream_wakeup(struct emud_fn *fn, struct emud_job *j);
void emud_post_cqe(struct emud_fn *fn, uint32_t q, const struct hc_cqe *cqe);
void emud_fn_qp_abandon(struct emud_fn *fn, uint32_t q);
bool emud_fn_log_ok(struct emud_fn *fn);	/* per-function log rate limit */
void emud_fn_log_bad(struct emud_fn *fn, const struct hc_sqe *sqe, uint16_t reason,
		     const char *why);
/*
 * Is [off, off + len) inside host-managed memory (not the register page or tokenizer),
 * @align-aligned (a power of two), without overflow? Rings and SQE buffers alike.
 */
bool emud_fn_range_ok(const struct emud_fn *fn, uint64_t off, uint64_t len, uint64_t align);
/* The same for host memory at bus address @addr (HC_CAP_HOST_MEMORY). */
bool emud_fn_host_ok(const struct emud_fn *fn, uint64_t addr, uint64_t len, uint64_t align);

/* emud_sqe.c: validate a copied SQE and act on it */
void emud_sqe_submit(struct emud_fn *fn, uint32_t q, const struct hc_sqe *sqe);

/* emud_sched.c: contexts, jobs and the scheduler */
int emud_ctx_open(struct emud_fn *fn, uint32_t max_ctx, uint32_t *id, uint16_t *reason);
void emud_ctx_close(struct emud_fn *fn, uint32_t id);	/* cancels its jobs with CQEs */
uint32_t emud_ctx_cancel(struct emud_fn *fn, struct emud_ctx *c);
void emud_ctx_free_all(struct emud_fn *fn);		/* no CQEs (reset, client gone) */
struct emud_ctx *emud_ctx_get(struct emud_fn *fn, uint32_t id);
void emud_job_enqueue(struct emud_fn *fn, struct emud_ctx *c, struct emud_job *j);
void emud_job_free(struct emud_fn *fn, struct emud_job *j);
void emud_fn_unblock(struct emud_fn *fn);		/* retry jobs waiting for stream space */
bool emud_fn_runnable(const struct emud_fn *fn);
/*
 * The earliest time the scheduler must look again while idle: a held token may be shown
 * (--pace) or a deferred stream wake-up is due (0: neither).
 */
uint64_t emud_sched_next_timer(const struct emud_card *card);
bool emud_sched_round(struct emud_card *card);		/* true if anything ran */

/* emud_null.c: BENCHMARK ONLY --null-model, the stack's ceiling without the model */
int32_t emud_null_token(uint64_t step, uint32_t vocab);

/* emud_telemetry.c: heartbeat thread, telemetry, simulated temperature and power */
int emud_heartbeat_start(struct emud_card *card);
void emud_heartbeat_stop(struct emud_card *card);
void emud_card_add_fn(struct emud_card *card, struct emud_fn *fn);
void emud_card_remove_fn(struct emud_card *card, struct emud_fn *fn);

static inline void emud_count(uint64_t *ctr, uint64_t n)
{
	__atomic_fetch_add(ctr, n, __ATOMIC_RELAXED);
}

#endif
