/* SPDX-License-Identifier: ((GPL-2.0 WITH Linux-syscall-note) OR MIT) */
/*
 * HC card interface: what a host sees of an HC card (docs/card-interface.md).
 *
 * The card exposes ONE region of "card memory" (PCI BAR2 of an ivshmem-doorbell device, or a
 * memfd per client of hc-emud), plus doorbells (host -> card) and interrupt vectors
 * (card -> host). Writes to card memory do not trap: the card learns of work only through
 * doorbells (or by polling while busy); the host learns of completions through interrupts
 * (or by polling).
 *
 * Card memory layout:
 *   [0, HC_CARD_REGS_SIZE)           struct hc_card_regs (register page)
 *   [data_offset, mem_size)          host-managed: SQs, CQs, stream rings, prompt arrays
 *
 * All integers are little-endian. "Host-written" fields are written only by the host and
 * read by the card; "card-written" fields the reverse. The card never trusts anything it
 * reads from card memory: it copies, then validates. Reserved fields and unknown flag bits
 * must be zero; the card rejects non-zero ones.
 *
 * Compatibility: this is version 1. Later versions only add fields in reserved space, new
 * opcodes, statuses, reasons and capability bits; a host checks @version and @caps.
 */
#ifndef _UAPI_HC_CARD_H
#define _UAPI_HC_CARD_H

#include <linux/types.h>

#define HC_CARD_MAGIC		0x0064726163204348ULL	/* "HC card\0" as a LE u64 */
#define HC_CARD_VERSION		1
#define HC_CARD_REGS_SIZE	4096	/* register page, at offset 0 of card memory */
#define HC_CARD_MAX_QP		16	/* queue-pair slots in the register page */
#define HC_CARD_MAX_STOP	8	/* stop token ids per DECODE */
#define HC_CARD_NAME_LEN	64
#define HC_CARD_RING_ALIGN	64	/* rings start on a cache line */
#define HC_CARD_MAX_WAKEUP_USEC	1000000	/* largest hc_sqe_decode.wakeup_usec (1 s) */

/* Capability bits (hc_card_regs.caps). */
#define HC_CAP_TRANSPORT_SOCKET	(1ULL << 0)	/* hc-emud socket transport, one memfd per client */
#define HC_CAP_TRANSPORT_PCI	(1ULL << 1)	/* one card memory for the whole card (BAR2) */
#define HC_CAP_FAULT_INJECTION	(1ULL << 2)	/* TEST ONLY: hc_card_regs.fault is honoured */
#define HC_CAP_COALESCE		(1ULL << 3)	/* hc_card_qp.coalesce_* are honoured */
#define HC_CAP_TOKENIZER	(1ULL << 4)	/* hc_card_regs.tokenizer_* locate the ROM tokenizer */
#define HC_CAP_WAKEUP_DELAY	(1ULL << 5)	/* hc_sqe_decode.wakeup_* are honoured */
#define HC_CAP_HOST_MEMORY	(1ULL << 6)	/* CQs and stream rings may live in host memory */
#define HC_CAP_LINK		(1ULL << 7)	/* HC_SQE_F_LINK on PREFILL is honoured */

/*
 * Host memory (HC_CAP_HOST_MEMORY): what the card writes for the host -- a queue pair's CQ
 * (HC_QP_CTRL_CQ_HOST) and a DECODE's stream ring (HC_SQE_F_STREAM_HOST) -- may live in the
 * host's own memory at a *bus address*, which the card writes as a PCIe device writes by DMA;
 * the host then never reads card memory on its hot path. The bus address space is the
 * transport's: on the socket transport, offsets into the memfd the client passed with its
 * hello (HC_EMU_HELLO_HOST_MEMORY). A range outside host memory is refused with
 * HC_REASON_DMA_FAULT, as a device's DMA fault: the card writes nothing there.
 */

/* Card status (hc_card_regs.status). */
enum hc_card_status {
	HC_CARD_STATUS_OFFLINE = 0,	/* not yet initialised */
	HC_CARD_STATUS_READY = 1,
	HC_CARD_STATUS_RESETTING = 2,
	HC_CARD_STATUS_ERROR = 3,	/* fatal; hc_card_regs.error says why; reset to recover */
};

/* Card-level error codes (hc_card_regs.error). */
enum hc_card_error {
	HC_CARD_ERR_NONE = 0,
	HC_CARD_ERR_INTERNAL = 1,	/* card firmware/emulator failure */
	HC_CARD_ERR_NOMEM = 2,
};

/* Doorbell and interrupt vectors. */
#define HC_DOORBELL_CONTROL	0	/* register page changed: QP ctrl, reset, fault */
#define HC_DOORBELL_QP(q)	(1 + (q))	/* SQ tail moved, or CQ/stream space freed */
#define HC_IRQ_CONTROL		0	/* control change acknowledged (QP ack, reset done) */

/**
 * struct hc_card_telemetry - card-wide counters, card-written, monotonic unless noted.
 * @tokens_generated: tokens produced by DECODE jobs (all functions).
 * @prompt_tokens: tokens consumed by PREFILL jobs (all functions).
 * @jobs_completed: jobs that ended with a non-error status.
 * @jobs_failed: jobs and SQEs that ended with HC_STATUS_ERROR.
 * @busy_ns: time spent running the model, nanoseconds.
 * @contexts_in_use: KV slots currently allocated, card-wide (a gauge).
 * @temperature_mc: simulated die temperature, millidegrees Celsius (a gauge).
 * @power_uw: simulated board power, microwatts (a gauge).
 * @energy_uj: integral of @power_uw, microjoules.
 * @uptime_ns: time since the card became ready.
 * @functions_active: connected clients (socket) / 1 (PCI) (a gauge).
 * @reserved: zero.
 */
struct hc_card_telemetry {
	__u64 tokens_generated;
	__u64 prompt_tokens;
	__u64 jobs_completed;
	__u64 jobs_failed;
	__u64 busy_ns;
	__u64 contexts_in_use;
	__u64 temperature_mc;
	__u64 power_uw;
	__u64 energy_uj;
	__u64 uptime_ns;
	__u64 functions_active;
	__u64 reserved[5];
};

/**
 * struct hc_card_fault - TEST-ONLY fault injection controls (host-written).
 *
 * Honoured only when the card advertises HC_CAP_FAULT_INJECTION (hc-emud --allow-faults);
 * otherwise ignored. They act on the function whose register page they are written to
 * (socket: that client only; PCI: the whole card). Ring HC_DOORBELL_CONTROL after writing.
 * @stall: non-zero: stop making progress on every job AND stop the heartbeat, until a
 *	card reset (hc_card_regs.reset_request) or until the host writes 0 again.
 * @stall_after_tokens: non-zero: arm a stall that triggers after this many more generated
 *	tokens (mid-decode); the card then behaves as if @stall were set.
 * @drop_irqs: number of upcoming interrupts the card silently drops.
 * @corrupt_cqes: number of upcoming completions replaced by a corrupt one (user_data
 *	bit-inverted, ctx_id 0xffffffff, status HC_STATUS_CORRUPT_FAULT); the real
 *	completion is lost.
 * @seq: host increments after changing any of the above; the card acts on a change of
 *	@seq (so counts can be re-armed with the same value).
 * @reserved: must be zero.
 */
struct hc_card_fault {
	__u32 stall;
	__u32 stall_after_tokens;
	__u32 drop_irqs;
	__u32 corrupt_cqes;
	__u32 seq;
	__u32 reserved[11];
};

/**
 * struct hc_card_fault_state - card-written view of injected faults (TEST ONLY).
 * @seq: last hc_card_fault.seq the card acted on.
 * @stalled: 1 while the function is stalled.
 * @irqs_dropped: interrupts dropped so far.
 * @cqes_corrupted: completions corrupted so far.
 * @reserved: zero.
 */
struct hc_card_fault_state {
	__u32 seq;
	__u32 stalled;
	__u32 irqs_dropped;
	__u32 cqes_corrupted;
	__u32 reserved[12];
};

/* hc_card_qp.ctrl bits (host-written). */
#define HC_QP_CTRL_ENABLE	(1u << 0)
#define HC_QP_CTRL_CQ_HOST	(1u << 1)	/* @cq_offset is a host bus address (HC_CAP_HOST_MEMORY) */

/* hc_card_qp.state (card-written). */
enum hc_qp_state {
	HC_QP_STATE_DISABLED = 0,
	HC_QP_STATE_ENABLED = 1,
	HC_QP_STATE_ERROR = 2,	/* bad configuration or corrupt ring indices; see @error */
};

/**
 * struct hc_card_qp - one queue pair's registers, 128 bytes.
 *
 * Host side (first cache line): fill every field, then store-release @ctrl_seq incremented
 * and ring HC_DOORBELL_CONTROL. The card validates, writes @state and @error, then
 * store-releases @ack_seq = @ctrl_seq and raises HC_IRQ_CONTROL. Disabling a queue pair
 * abandons its queued and running jobs without completions.
 *
 * @sq_offset: (host) card-memory offset of the SQ ring (HC_CARD_RING_ALIGN aligned, inside
 *	[data_offset, mem_size)): struct hc_ring_hdr then @sq_entries struct hc_sqe.
 * @cq_offset: (host) same for the CQ ring: struct hc_ring_hdr then @cq_entries hc_cqe. With
 *	HC_QP_CTRL_CQ_HOST, a bus address in host memory instead (HC_CARD_RING_ALIGN aligned).
 * @sq_entries: (host) power of two, 1..max_sq_entries.
 * @cq_entries: (host) power of two, 1..max_cq_entries.
 * @irq_vector: (host) interrupt vector for this CQ and for stream rings fed by DECODE jobs
 *	submitted on this queue pair; < n_irq_vectors.
 * @ctrl: (host) HC_QP_CTRL_*.
 * @ctrl_seq: (host) incremented on every change, written last (store-release).
 * @coalesce_count: (host) interrupt after this many completions (0 or 1: every batch).
 * @coalesce_usec: (host) ...or when the oldest unsignalled completion is this old
 *	(0: no time limit beyond @coalesce_count; the card still signals when idle).
 * @host_reserved: must be zero.
 * @state: (card) enum hc_qp_state.
 * @error: (card) enum hc_reason explaining HC_QP_STATE_ERROR, else 0.
 * @ack_seq: (card) last @ctrl_seq applied; written last (store-release).
 * @jobs_inflight: (card) jobs taken from the SQ and not yet completed.
 * @card_reserved: zero.
 */
struct hc_card_qp {
	__u64 sq_offset;
	__u64 cq_offset;
	__u32 sq_entries;
	__u32 cq_entries;
	__u32 irq_vector;
	__u32 ctrl;
	__u32 ctrl_seq;
	__u32 coalesce_count;
	__u32 coalesce_usec;
	__u32 host_reserved[5];

	__u32 state;
	__u32 error;
	__u32 ack_seq;
	__u32 jobs_inflight;
	__u32 card_reserved[12];
};

/**
 * struct hc_card_regs - the register page, at offset 0 of card memory, HC_CARD_REGS_SIZE.
 *
 * Identity and limits (card-written once, before @status becomes READY):
 * @magic: HC_CARD_MAGIC. A driver binds an ivshmem device only if BAR2 starts with it.
 * @version: HC_CARD_VERSION.
 * @regs_size: sizeof(struct hc_card_regs) == HC_CARD_REGS_SIZE.
 * @caps: HC_CAP_* bits.
 * @mem_size: bytes of card memory, register page included.
 * @data_offset: first byte of host-managed memory (rings, prompt arrays).
 * @data_size: mem_size - data_offset ("stream memory bytes").
 * @fn_id: function id: client id (socket transport), 0 (PCI).
 * @fw_version: the card firmware's version, packed as (major << 16) | (minor << 8) | patch
 *	(HC_VERSION_ENCODE of <hc/hc_version.h>); hc-emud writes the project's version
 *	(HC_VERSION_NUMBER). 0: the card does not say.
 * @ident_reserved: zero.
 * @model_identity: SHA-256 identity of the baked ROM (hc_rom_header.identity).
 * @model_name: NUL-terminated model name.
 * @vocab_size: model shape, as in struct hc_rom_arch.
 * @dim: model width.
 * @n_layers: transformer blocks.
 * @n_heads: attention heads.
 * @n_kv_heads: key/value heads.
 * @head_dim: dim / n_heads.
 * @ffn_dim: SwiGLU hidden width.
 * @max_ctx: longest context the model supports.
 * @n_contexts: KV slots of the whole card.
 * @max_contexts: contexts this function may hold open at once.
 * @max_ctx_len: longest context a CONTEXT_OPEN may request (<= @max_ctx).
 * @n_queue_pairs: usable entries of @qp.
 * @max_sq_entries: largest SQ.
 * @max_cq_entries: largest CQ.
 * @max_stream_entries: largest stream ring (entries).
 * @max_stop_tokens: HC_CARD_MAX_STOP.
 * @n_doorbells: doorbell vectors (1 + n_queue_pairs).
 * @n_irq_vectors: interrupt vectors.
 * @max_prefill_tokens: largest PREFILL n_tokens.
 * @limits_reserved: zero.
 *
 * Status (card-written, changes at run time):
 * @status: enum hc_card_status.
 * @error: enum hc_card_error when @status is ERROR.
 * @heartbeat: incremented every few milliseconds while the card is alive, also when idle;
 *	at least once per HC_CARD_HEARTBEAT_MAX_MS. Stops when the card hangs.
 * @reset_done: last @reset_request completed (store-release).
 * @fn_contexts_in_use: contexts open in this function.
 * @status_reserved: zero.
 *
 * Host control (host-written):
 * @reset_request: store-release an incremented value and ring HC_DOORBELL_CONTROL to reset
 *	the function (socket: this client; PCI: the card): all jobs are abandoned WITHOUT
 *	completions, every context is closed, every queue pair disabled, faults cleared.
 *	The card then sets @reset_done = @reset_request and raises HC_IRQ_CONTROL.
 * @control_reserved: must be zero.
 *
 * @telemetry: card-written counters.
 * @fault: TEST ONLY, host-written fault injection (see struct hc_card_fault).
 * @fault_state: TEST ONLY, card-written.
 * @tokenizer_offset: (card, with HC_CAP_TOKENIZER) card-memory offset of the baked ROM's
 *	tokenizer blob (lib/tokenizer/tokenizer.h format, exactly the ROM's bytes), 64-byte aligned,
 *	between the register page and @data_offset; read-only for the host. Applications
 *	need it to turn text into token ids and back. 0 if absent.
 * @tokenizer_size: (card) bytes of the tokenizer blob.
 * @reserved: zero.
 * @qp: queue-pair registers.
 * @tail_reserved: zero.
 */
struct hc_card_regs {
	/* 0x000: identity */
	__u64 magic;
	__u32 version;
	__u32 regs_size;
	__u64 caps;
	__u64 mem_size;
	__u64 data_offset;
	__u64 data_size;
	__u32 fn_id;
	__u32 fw_version;
	__u32 ident_reserved[2];
	/* 0x040 */
	__u8  model_identity[32];
	/* 0x060 */
	char  model_name[HC_CARD_NAME_LEN];
	/* 0x0a0: model shape */
	__u32 vocab_size;
	__u32 dim;
	__u32 n_layers;
	__u32 n_heads;
	__u32 n_kv_heads;
	__u32 head_dim;
	__u32 ffn_dim;
	__u32 max_ctx;
	/* 0x0c0: limits */
	__u32 n_contexts;
	__u32 max_contexts;
	__u32 max_ctx_len;
	__u32 n_queue_pairs;
	__u32 max_sq_entries;
	__u32 max_cq_entries;
	__u32 max_stream_entries;
	__u32 max_stop_tokens;
	__u32 n_doorbells;
	__u32 n_irq_vectors;
	__u32 max_prefill_tokens;
	__u32 limits_reserved[5];
	/* 0x100: status (card-written) */
	__u32 status;
	__u32 error;
	__u64 heartbeat;
	__u64 reset_done;
	__u32 fn_contexts_in_use;
	__u32 status_reserved[9];
	/* 0x140: host control (host-written) */
	__u64 reset_request;
	__u64 control_reserved[7];
	/* 0x180: telemetry (card-written) */
	struct hc_card_telemetry telemetry;
	/* 0x200: fault injection (TEST ONLY) */
	struct hc_card_fault fault;
	struct hc_card_fault_state fault_state;
	/* 0x280: the ROM's tokenizer blob in card memory (HC_CAP_TOKENIZER) */
	__u64 tokenizer_offset;
	__u64 tokenizer_size;
	__u64 reserved[46];
	/* 0x400: queue pairs */
	struct hc_card_qp qp[HC_CARD_MAX_QP];
	/* 0xc00 */
	__u64 tail_reserved[128];
};

#define HC_CARD_HEARTBEAT_MAX_MS	100	/* a live card bumps heartbeat at least this often */

/* SQE opcodes. */
enum hc_opcode {
	HC_OP_NOP = 0,		/* completes with HC_STATUS_OK; ctx_id must be 0 */
	HC_OP_CONTEXT_OPEN = 1,	/* allocate a KV slot; CQE ctx_id is the new context */
	HC_OP_CONTEXT_CLOSE = 2,	/* cancel the context's jobs, free its slot */
	HC_OP_PREFILL = 3,	/* feed prompt tokens */
	HC_OP_DECODE = 4,	/* generate tokens into a stream ring */
	HC_OP_CANCEL = 5,	/* cancel every queued and running job of ctx_id */
	HC_OP_RESET_CONTEXT = 6,	/* forget all positions (runs in order with the jobs) */
	HC_OP_MAX = 7,
};

/**
 * struct hc_sqe_open - HC_OP_CONTEXT_OPEN arguments.
 * @max_ctx: positions to reserve, 0 = max_ctx_len; must be <= max_ctx_len.
 * @reserved0: must be zero.
 * @reserved: must be zero.
 */
struct hc_sqe_open {
	__u32 max_ctx;
	__u32 reserved0;
	__u64 reserved[13];
};

/**
 * struct hc_sqe_prefill - HC_OP_PREFILL arguments.
 * @tokens_offset: card-memory offset of n_tokens __u32 token ids (4-byte aligned, inside
 *	[data_offset, mem_size)). The card copies them when it fetches the SQE; the host
 *	may reuse the array once the SQ head has passed the SQE (or the CQE arrived).
 * @n_tokens: 1..max_prefill_tokens; every id < vocab_size.
 * @reserved0: must be zero.
 * @reserved: must be zero.
 */
struct hc_sqe_prefill {
	__u64 tokens_offset;
	__u32 n_tokens;
	__u32 reserved0;
	__u64 reserved[12];
};

/**
 * struct hc_sqe_decode - HC_OP_DECODE arguments.
 * @stream_offset: card-memory offset of the stream ring (HC_CARD_RING_ALIGN aligned):
 *	struct hc_ring_hdr then @stream_entries __u32 token ids. With the SQE's
 *	HC_SQE_F_STREAM_HOST, a bus address in host memory instead.
 * @stream_entries: power of two, 1..max_stream_entries.
 * @max_tokens: stop after this many tokens, >= 1.
 * @temperature: IEEE-754 binary32 bits; 0.0 = greedy. Finite, >= 0.
 * @top_p: binary32 bits; 0 or >= 1.0 = off. Finite, >= 0.
 * @top_k: 0 = off.
 * @n_stop: used entries of @stop, 0..HC_CARD_MAX_STOP.
 * @seed: sampling seed.
 * @step_base: the i-th token of this job is sampled with step = @step_base + i
 *	(hc_sample()'s step): use the number of tokens already generated when continuing.
 * @stop: stop token ids (< vocab_size). A sampled stop token ends the job with
 *	HC_STATUS_DONE_STOP_TOKEN; it is NOT written to the stream, the CQE's aux is its id.
 * @wakeup_usec: (with HC_CAP_WAKEUP_DELAY; else must be zero) how late the stream's
 *	wake-up may be, in microseconds, at most HC_CARD_MAX_WAKEUP_USEC. When the card
 *	publishes a token while the stream's HC_STREAM_HOST_NEED_WAKEUP is set, it raises the
 *	queue pair's irq_vector no later than @wakeup_usec after that publish, provided
 *	HC_STREAM_HOST_NEED_WAKEUP is still set then (a consumer that cleared it is awake and
 *	reads the tail itself: the full-barrier pairing of hc_ring.h still holds). Earlier is
 *	allowed: at once when the ring is full (the context pauses until the host reads), when
 *	@wakeup_tokens are unread, when the job ends, or together with another interrupt. 0:
 *	at once, as without the capability. It changes when interrupts are raised, never
 *	which tokens are produced or when.
 * @wakeup_tokens: (with HC_CAP_WAKEUP_DELAY; else must be zero) ...or as soon as the stream
 *	holds this many unread tokens (tail - head); 0: no count limit; at most
 *	@stream_entries. Meaningless without @wakeup_usec.
 * @reserved: must be zero.
 */
struct hc_sqe_decode {
	__u64 stream_offset;
	__u32 stream_entries;
	__u32 max_tokens;
	__u32 temperature;
	__u32 top_p;
	__u32 top_k;
	__u32 n_stop;
	__u64 seed;
	__u64 step_base;
	__u32 stop[HC_CARD_MAX_STOP];
	__u32 wakeup_usec;
	__u32 wakeup_tokens;
	__u64 reserved[3];
};

/**
 * struct hc_sqe - submission queue entry, 128 bytes, host-written.
 * @opcode: enum hc_opcode.
 * @flags: HC_SQE_F_*; others must be zero.
 * @reserved0: must be zero.
 * @ctx_id: context, as returned by HC_OP_CONTEXT_OPEN (ids are per function); 0 for
 *	NOP and CONTEXT_OPEN.
 * @user_data: echoed in the CQE.
 * @open: HC_OP_CONTEXT_OPEN.
 * @prefill: HC_OP_PREFILL.
 * @decode: HC_OP_DECODE.
 * @args: the union as raw words; all zero for CLOSE, CANCEL, RESET_CONTEXT and NOP.
 */
#define HC_SQE_F_STREAM_HOST	(1u << 0)	/* DECODE: stream_offset is a host bus address */
/*
 * PREFILL (HC_CAP_LINK): the context's next job (the next PREFILL, DECODE or RESET_CONTEXT
 * submitted for the same ctx_id) runs only if this PREFILL completes OK; otherwise it
 * completes CANCELLED with count 0 and changes nothing, and if it is a linked PREFILL itself
 * the chain goes on. So a host can queue a prompt and its DECODE in one submission without
 * the DECODE ever continuing from a history the prompt did not reach.
 */
#define HC_SQE_F_LINK		(1u << 1)

struct hc_sqe {
	__u8  opcode;
	__u8  flags;
	__u16 reserved0;
	__u32 ctx_id;
	__u64 user_data;
	union {
		struct hc_sqe_open open;
		struct hc_sqe_prefill prefill;
		struct hc_sqe_decode decode;
		__u64 args[14];
	};
};

/* Completion status (hc_cqe.status). */
enum hc_status {
	HC_STATUS_OK = 0,		/* NOP, OPEN, CLOSE, PREFILL, CANCEL, RESET_CONTEXT */
	HC_STATUS_DONE_MAX_TOKENS = 1,	/* DECODE produced max_tokens */
	HC_STATUS_DONE_STOP_TOKEN = 2,	/* DECODE sampled a stop token (aux) */
	HC_STATUS_CANCELLED = 3,	/* by CANCEL or CONTEXT_CLOSE; count = work done */
	HC_STATUS_CONTEXT_FULL = 4,	/* no room for the next position; count = work done */
	HC_STATUS_ERROR = 5,		/* see hc_cqe.reason */
	HC_STATUS_CORRUPT_FAULT = 0xdead,	/* TEST ONLY: injected corrupt completion */
};

/* Error reasons (hc_cqe.reason with HC_STATUS_ERROR; hc_card_qp.error). */
enum hc_reason {
	HC_REASON_NONE = 0,
	HC_REASON_BAD_OPCODE = 1,	/* unknown opcode */
	HC_REASON_BAD_DESCRIPTOR = 2,	/* non-zero reserved/flags, bad count or parameter */
	HC_REASON_BAD_CONTEXT = 3,	/* ctx_id is not an open context of this function */
	HC_REASON_BAD_OFFSET = 4,	/* offset/length outside data memory or misaligned */
	HC_REASON_BAD_TOKEN = 5,	/* token id >= vocab_size */
	HC_REASON_BAD_RING = 6,		/* entries not a power of two / too big; corrupt indices */
	HC_REASON_NO_CONTEXTS = 7,	/* no free KV slot, or this function's limit reached */
	HC_REASON_BAD_STATE = 8,	/* DECODE on a context with nothing to continue from */
	HC_REASON_NO_MEMORY = 9,	/* card out of memory, or a queue limit reached */
	HC_REASON_INTERNAL = 10,	/* card failure */
	HC_REASON_BAD_VECTOR = 11,	/* irq_vector >= n_irq_vectors */
	HC_REASON_DMA_FAULT = 12,	/* host-memory range outside host memory or misaligned */
};

/**
 * struct hc_cqe - completion queue entry, 32 bytes, card-written.
 * @user_data: the SQE's user_data (as read, even from a garbage SQE).
 * @ctx_id: the context (the new one for CONTEXT_OPEN; the SQE's value for errors).
 * @status: enum hc_status.
 * @reason: enum hc_reason for HC_STATUS_ERROR, else 0.
 * @count: DECODE: tokens written to the stream; PREFILL: prompt tokens consumed;
 *	CANCEL: jobs cancelled; else 0.
 * @pos: context positions filled after the job (KV length), 0 if no context.
 * @aux: DONE_STOP_TOKEN: the stop token id; ERROR: the SQE's opcode; else 0.
 * @flags: zero (none defined yet).
 */
struct hc_cqe {
	__u64 user_data;
	__u32 ctx_id;
	__u16 status;
	__u16 reason;
	__u32 count;
	__u32 pos;
	__u32 aux;
	__u32 flags;
};

/* ---- Socket transport (hc-emud) -------------------------------------------------------- */

/*
 * A client connects to hc-emud's UNIX stream socket (default HC_EMU_SOCKET_NAME in
 * $XDG_RUNTIME_DIR, or HC_EMU_SOCKET_ROOT for root; HC_DEVICE=emu:/path overrides) and sends
 * struct hc_emu_hello. The daemon answers with struct hc_emu_welcome carrying, via
 * SCM_RIGHTS, in this order: the card memory memfd (mmap MAP_SHARED, mem_size bytes, sealed
 * with F_SEAL_SHRINK so that it cannot be truncated under the client's mapping),
 * n_doorbells doorbells (write ends of pipes: the host writes a u64 1 to ring; EAGAIN means
 * rings are pending already), n_irq_vectors interrupts (read ends of pipes: the card writes 8
 * bytes per interrupt; the host polls and reads until EAGAIN). All are non-blocking; the
 * daemon keeps the other ends, which the client cannot reconfigure. Nothing else crosses the
 * socket; closing it (or dying) frees everything the client owned.
 */
#define HC_EMU_SOCKET_NAME	"hc-emud.sock"
#define HC_EMU_SOCKET_ROOT	"/run/hc/emud.sock"
#define HC_EMU_PROTO_VERSION	1

enum hc_emu_msg_type {
	HC_EMU_MSG_HELLO = 1,
	HC_EMU_MSG_WELCOME = 2,
};

/**
 * struct hc_emu_msg_hdr - header of every socket message.
 * @magic: HC_CARD_MAGIC.
 * @type: enum hc_emu_msg_type.
 * @size: bytes of the whole message, header included (lets messages grow).
 */
struct hc_emu_msg_hdr {
	__u64 magic;
	__u32 type;
	__u32 size;
};

/**
 * struct hc_emu_hello - client -> daemon, first and only message.
 * @hdr: type HC_EMU_MSG_HELLO, size sizeof(struct hc_emu_hello).
 * @version: HC_EMU_PROTO_VERSION.
 * @flags: HC_EMU_HELLO_*; others must be zero.
 * @mem_size: requested card memory bytes (0 = daemon default); capped by the daemon.
 * @host_mem_size: with HC_EMU_HELLO_HOST_MEMORY, bytes of the host memory memfd passed
 *	with this message (SCM_RIGHTS, the only fd): a memfd sealed with F_SEAL_SHRINK and
 *	F_SEAL_SEAL (so that it cannot be truncated under the daemon's mapping), at least this
 *	long, a multiple of 4096, at most HC_EMU_MAX_HOST_MEM. Its offsets are the bus addresses
 *	of this client's function (HC_CAP_HOST_MEMORY); else must be zero.
 * @reserved: must be zero.
 */
#define HC_EMU_HELLO_HOST_MEMORY	(1u << 0)
#define HC_EMU_MAX_HOST_MEM		(1ULL << 36)

struct hc_emu_hello {
	struct hc_emu_msg_hdr hdr;
	__u32 version;
	__u32 flags;
	__u64 mem_size;
	__u64 host_mem_size;
	__u64 reserved[3];
};

/**
 * struct hc_emu_welcome - daemon -> client reply.
 * @hdr: type HC_EMU_MSG_WELCOME, size sizeof(struct hc_emu_welcome).
 * @status: 0, or a negative errno (then no fds are passed and the daemon closes).
 * @version: HC_EMU_PROTO_VERSION.
 * @client_id: this client's function id (also hc_card_regs.fn_id).
 * @n_fds: fds passed with this message: 1 + n_doorbells + n_irq_vectors.
 * @n_doorbells: doorbell pipes (their write ends).
 * @n_irq_vectors: interrupt pipes (their read ends).
 * @mem_size: bytes of the memfd.
 * @reserved: zero.
 */
struct hc_emu_welcome {
	struct hc_emu_msg_hdr hdr;
	__s32 status;
	__u32 version;
	__u32 client_id;
	__u32 n_fds;
	__u32 n_doorbells;
	__u32 n_irq_vectors;
	__u64 mem_size;
	__u64 reserved[4];
};

#define HC_EMU_MAX_FDS	(1 + 2 * (1 + HC_CARD_MAX_QP))

/* Layout checks: these structs are ABI. */
/* C11 _Static_assert works in the kernel (gnu11) and in userspace. */
#define HC_CARD_STATIC_ASSERT(e, m) _Static_assert(e, m)
HC_CARD_STATIC_ASSERT(sizeof(struct hc_card_telemetry) == 128, "hc_card_telemetry size");
HC_CARD_STATIC_ASSERT(sizeof(struct hc_card_fault) == 64, "hc_card_fault size");
HC_CARD_STATIC_ASSERT(sizeof(struct hc_card_fault_state) == 64, "hc_card_fault_state size");
HC_CARD_STATIC_ASSERT(sizeof(struct hc_card_qp) == 128, "hc_card_qp size");
HC_CARD_STATIC_ASSERT(sizeof(struct hc_card_regs) == HC_CARD_REGS_SIZE, "hc_card_regs size");
HC_CARD_STATIC_ASSERT(__builtin_offsetof(struct hc_card_regs, fw_version) == 0x034,
		      "regs fw_version");
HC_CARD_STATIC_ASSERT(__builtin_offsetof(struct hc_card_regs, model_identity) == 0x040,
		      "regs model_identity");
HC_CARD_STATIC_ASSERT(__builtin_offsetof(struct hc_card_regs, status) == 0x100, "regs status");
HC_CARD_STATIC_ASSERT(__builtin_offsetof(struct hc_card_regs, reset_request) == 0x140,
		      "regs reset_request");
HC_CARD_STATIC_ASSERT(__builtin_offsetof(struct hc_card_regs, telemetry) == 0x180,
		      "regs telemetry");
HC_CARD_STATIC_ASSERT(__builtin_offsetof(struct hc_card_regs, fault) == 0x200, "regs fault");
HC_CARD_STATIC_ASSERT(__builtin_offsetof(struct hc_card_regs, qp) == 0x400, "regs qp");
HC_CARD_STATIC_ASSERT(sizeof(struct hc_sqe_open) == 112, "hc_sqe_open size");
HC_CARD_STATIC_ASSERT(sizeof(struct hc_sqe_prefill) == 112, "hc_sqe_prefill size");
HC_CARD_STATIC_ASSERT(sizeof(struct hc_sqe_decode) == 112, "hc_sqe_decode size");
HC_CARD_STATIC_ASSERT(__builtin_offsetof(struct hc_sqe_decode, wakeup_usec) == 80,
		      "decode wakeup_usec");
HC_CARD_STATIC_ASSERT(__builtin_offsetof(struct hc_sqe_decode, wakeup_tokens) == 84,
		      "decode wakeup_tokens");
HC_CARD_STATIC_ASSERT(sizeof(struct hc_sqe) == 128, "hc_sqe size");
HC_CARD_STATIC_ASSERT(sizeof(struct hc_cqe) == 32, "hc_cqe size");
HC_CARD_STATIC_ASSERT(sizeof(struct hc_emu_hello) == 64, "hc_emu_hello size");
HC_CARD_STATIC_ASSERT(sizeof(struct hc_emu_welcome) == 80, "hc_emu_welcome size");

#endif /* _UAPI_HC_CARD_H */
