/* SPDX-License-Identifier: ((GPL-2.0 WITH Linux-syscall-note) OR MIT) */
/*
 * hc_accel: UAPI of the HC card kernel driver (docs/driver.md).
 *
 * The device node is /dev/accel/accelN (DRM accel, Linux >= 6.2) or, on kernels without the
 * accel subsystem, a DRM render node /dev/dri/renderD* with the same ioctls.
 *
 * Model: a process opens the node and creates contexts (one KV slot on the card each) and
 * stream buffers (token stream rings in card memory, mmap-able: the process reads tokens in
 * place, zero-copy). Each context has a ring buffer in system memory, mapped by the process:
 * a submission ring of struct drm_hc_job and a completion ring of struct drm_hc_cqe, both using
 * the ring header and ordering rules of <hc_ring.h> (the process produces jobs and consumes
 * completions; the driver consumes jobs and produces completions). DRM_IOCTL_HC_SUBMIT hands
 * the driver a batch of filled entries: it copies each entry, then validates it, then places
 * it on the card's own queue. Completions appear in the context's completion ring; WAIT
 * sleeps until one arrives (or a stream ring advances).
 *
 * Every object belongs to the file descriptor that created it and is released when it is
 * closed. Reserved fields, padding and unknown flag bits must be zero (else -EINVAL).
 * Timeouts are absolute CLOCK_MONOTONIC nanoseconds; ioctls are restartable.
 */
#ifndef _UAPI_DRM_HC_ACCEL_H
#define _UAPI_DRM_HC_ACCEL_H

#include "drm.h"

#if defined(__cplusplus)
extern "C" {
#endif

#define DRM_HC_GET_INFO		0x00
#define DRM_HC_CTX_CREATE	0x01
#define DRM_HC_CTX_DESTROY	0x02
#define DRM_HC_STREAM_CREATE	0x03
#define DRM_HC_SUBMIT		0x04
#define DRM_HC_WAIT		0x05
#define DRM_HC_CANCEL		0x06
#define DRM_HC_GET_TOKENIZER	0x07
#define DRM_HC_STREAM_POLLFD	0x08

#define DRM_HC_MAX_STOP		8	/* stop token ids per DECODE job */
#define DRM_HC_MAX_RING_ENTRIES	4096	/* largest context submission ring */

/**
 * struct drm_hc_info - DRM_IOCTL_HC_GET_INFO: the card and its baked model.
 * @flags: (in) must be zero.
 * @interface_version: (out) card interface version (HC_CARD_VERSION of <hc_card.h>).
 * @caps: (out) card capability bits (HC_CAP_*) that the driver supports and passes on:
 *	HC_CAP_TRANSPORT_PCI, HC_CAP_TOKENIZER, HC_CAP_WAKEUP_DELAY, HC_CAP_FAULT_INJECTION.
 * @model_identity: (out) SHA-256 identity of the baked model ROM.
 * @model_name: (out) NUL-terminated model name.
 * @vocab_size: (out) vocabulary size; token ids are below it.
 * @dim: (out) model width.
 * @n_layers: (out) transformer blocks.
 * @n_heads: (out) attention heads.
 * @n_kv_heads: (out) key/value heads.
 * @head_dim: (out) dim / n_heads.
 * @ffn_dim: (out) feed-forward hidden width.
 * @max_ctx: (out) longest context the model supports.
 * @n_contexts: (out) KV slots of the whole card.
 * @max_contexts: (out) contexts one file may hold open at once.
 * @max_ctx_len: (out) largest drm_hc_ctx_create.max_ctx.
 * @max_ring_entries: (out) largest context submission ring.
 * @max_stream_entries: (out) largest stream ring (entries).
 * @max_stop_tokens: (out) DRM_HC_MAX_STOP.
 * @max_prefill_tokens: (out) largest PREFILL job.
 * @status: (out) card status (enum hc_card_status).
 * @stream_mem_bytes: (out) card memory for stream rings and prompts.
 * @fw_version: (out) the card firmware's version, as the card reports it
 *	(hc_card_regs.fw_version: (major << 16) | (minor << 8) | patch); 0 if the card does not
 *	say, and from drivers that predate the field.
 * @reserved32: (out) zero.
 * @reserved: (out) zero.
 */
struct drm_hc_info {
	__u32 flags;
	__u32 interface_version;
	__u64 caps;
	__u8  model_identity[32];
	char  model_name[64];
	__u32 vocab_size;
	__u32 dim;
	__u32 n_layers;
	__u32 n_heads;
	__u32 n_kv_heads;
	__u32 head_dim;
	__u32 ffn_dim;
	__u32 max_ctx;
	__u32 n_contexts;
	__u32 max_contexts;
	__u32 max_ctx_len;
	__u32 max_ring_entries;
	__u32 max_stream_entries;
	__u32 max_stop_tokens;
	__u32 max_prefill_tokens;
	__u32 status;
	__u64 stream_mem_bytes;
	__u32 fw_version;
	__u32 reserved32;
	__u64 reserved[7];
};

/**
 * struct drm_hc_ctx_create - DRM_IOCTL_HC_CTX_CREATE: open a context (one KV slot).
 * @max_ctx: (in) positions to reserve; 0 = max_ctx_len.
 * @sq_entries: (in) submission ring entries, power of two, 1..max_ring_entries.
 * @cq_entries: (in) completion ring entries, power of two, >= @sq_entries and
 *	<= 2 * max_ring_entries; 0 = 2 * @sq_entries.
 * @flags: (in) must be zero.
 * @handle: (out) context handle, meaningful only on this file.
 * @pad: must be zero.
 * @ring_mmap_offset: (out) mmap() offset of the context's rings.
 * @ring_size: (out) bytes to map at @ring_mmap_offset.
 * @sq_offset: (out) offset of the submission ring (struct hc_ring_hdr, then @sq_entries
 *	struct drm_hc_job) within the mapping.
 * @cq_offset: (out) offset of the completion ring (struct hc_ring_hdr, then @cq_entries
 *	struct drm_hc_cqe) within the mapping.
 * @reserved: must be zero.
 *
 * Returns -EMFILE when the file has max_contexts open or its process the most contexts one
 * process may hold (module parameter max_contexts_per_process), -ENOSPC when the card has no
 * free KV slot, -EAGAIN when the card was reset while the context was being opened (try again),
 * -EBUSY when the card's queue is full.
 */
struct drm_hc_ctx_create {
	__u32 max_ctx;
	__u32 sq_entries;
	__u32 cq_entries;
	__u32 flags;
	__u32 handle;
	__u32 pad;
	__u64 ring_mmap_offset;
	__u64 ring_size;
	__u32 sq_offset;
	__u32 cq_offset;
	__u64 reserved[2];
};

/**
 * struct drm_hc_ctx_destroy - DRM_IOCTL_HC_CTX_DESTROY: close a context.
 * @handle: (in) context handle.
 * @flags: (in) must be zero.
 *
 * Cancels the context's jobs and frees its KV slot. Jobs still in flight complete in the
 * completion ring with DRM_HC_STATUS_CANCELLED (or an error) before the ioctl returns.
 * A WAIT on the context in another thread returns -ENOENT.
 */
struct drm_hc_ctx_destroy {
	__u32 handle;
	__u32 flags;
};

/**
 * struct drm_hc_stream_create - DRM_IOCTL_HC_STREAM_CREATE: a token stream ring in card
 * memory (struct hc_ring_hdr then @entries __u32 token ids, zeroed), for DECODE jobs.
 * @entries: (in) power of two, 1..max_stream_entries.
 * @flags: (in) must be zero.
 * @handle: (out) GEM handle; release with DRM_IOCTL_GEM_CLOSE.
 * @pad: must be zero.
 * @mmap_offset: (out) mmap() offset of the ring.
 * @size: (out) bytes that may be mapped (whole pages; the ring is at offset 0).
 * @reserved: must be zero.
 *
 * Returns -ENOSPC when card memory is exhausted, -EDQUOT when the file or its process would
 * exceed its card-memory quota (module parameters max_mem_per_file_kb,
 * max_mem_per_process_kb; the same applies to a PREFILL's prompt at SUBMIT).
 */
struct drm_hc_stream_create {
	__u32 entries;
	__u32 flags;
	__u32 handle;
	__u32 pad;
	__u64 mmap_offset;
	__u64 size;
	__u64 reserved[2];
};

/*
 * drm_hc_job.opcode: what a process may submit. These are the driver's values; it translates
 * them to the card's opcodes, which may change with the card interface.
 */
#define DRM_HC_OP_NOP		0
#define DRM_HC_OP_PREFILL	3
#define DRM_HC_OP_DECODE	4
#define DRM_HC_OP_RESET_CONTEXT	6

/**
 * struct drm_hc_job_prefill - PREFILL arguments.
 * @tokens_ptr: user pointer to @n_tokens __u32 token ids (copied at submit).
 * @n_tokens: 1..max_prefill_tokens.
 * @pad: must be zero.
 * @reserved: must be zero.
 */
struct drm_hc_job_prefill {
	__u64 tokens_ptr;
	__u32 n_tokens;
	__u32 pad;
	__u64 reserved[12];
};

/**
 * struct drm_hc_job_decode - DECODE arguments (see struct hc_sqe_decode).
 * @stream_handle: GEM handle of a stream from DRM_IOCTL_HC_STREAM_CREATE on this file.
 * @max_tokens: stop after this many tokens, >= 1.
 * @temperature: IEEE-754 binary32 bits; 0.0 = greedy.
 * @top_p: binary32 bits; 0 or >= 1.0 = off.
 * @top_k: 0 = off.
 * @n_stop: used entries of @stop, 0..DRM_HC_MAX_STOP.
 * @seed: sampling seed.
 * @step_base: sampling step of the first token (tokens already generated when continuing).
 * @stop: stop token ids.
 * @wakeup_usec: how late the stream's wake-up may come, in microseconds (at most 1000000),
 *	when drm_hc_info.caps has HC_CAP_WAKEUP_DELAY (else must be zero): the card may delay the
 *	interrupt for a token published while HC_STREAM_HOST_NEED_WAKEUP is set by up to this
 *	long (struct hc_sqe_decode in <hc_card.h>); the tokens never change. 0: at once.
 * @wakeup_tokens: ...or until this many tokens are unread (0: no count; at most the stream's
 *	entries). Zero without HC_CAP_WAKEUP_DELAY.
 * @reserved: must be zero.
 */
struct drm_hc_job_decode {
	__u32 stream_handle;
	__u32 max_tokens;
	__u32 temperature;
	__u32 top_p;
	__u32 top_k;
	__u32 n_stop;
	__u64 seed;
	__u64 step_base;
	__u32 stop[DRM_HC_MAX_STOP];
	__u32 wakeup_usec;
	__u32 wakeup_tokens;
	__u64 reserved[4];
};

/**
 * struct drm_hc_job - a submission ring entry, 128 bytes, written by the process.
 * @opcode: DRM_HC_OP_*.
 * @flags: must be zero.
 * @reserved0: must be zero.
 * @reserved1: must be zero.
 * @user_data: echoed in the completion (struct drm_hc_cqe.user_data).
 * @prefill: DRM_HC_OP_PREFILL.
 * @decode: DRM_HC_OP_DECODE.
 * @args: the union as raw words; all zero for NOP and RESET_CONTEXT. Every member of the
 *	union is exactly as large as @args, so every byte of an entry is defined: bytes that no
 *	field uses are reserved and must be zero.
 */
struct drm_hc_job {
	__u8  opcode;
	__u8  flags;
	__u16 reserved0;
	__u32 reserved1;
	__u64 user_data;
	union {
		struct drm_hc_job_prefill prefill;
		struct drm_hc_job_decode decode;
		__u64 args[14];
	};
};

/* drm_hc_cqe.status */
#define DRM_HC_STATUS_OK		0	/* NOP, PREFILL, RESET_CONTEXT done */
#define DRM_HC_STATUS_DONE_MAX_TOKENS	1	/* DECODE produced max_tokens */
#define DRM_HC_STATUS_DONE_STOP_TOKEN	2	/* DECODE sampled a stop token (@aux) */
#define DRM_HC_STATUS_CANCELLED		3	/* by CANCEL or CTX_DESTROY; @count = work done */
#define DRM_HC_STATUS_CONTEXT_FULL	4	/* no room for the next position */
#define DRM_HC_STATUS_ERROR		5	/* see @reason */

/*
 * drm_hc_cqe.reason with DRM_HC_STATUS_ERROR: below 0x100 the card's reason (the values of
 * enum hc_reason in <hc_card.h>, for diagnostics; e.g. 2 = bad descriptor, 5 = bad token),
 * from 0x100 the driver's own.
 */
#define DRM_HC_REASON_RESET	0x100	/* the card was reset while the job was in flight */
#define DRM_HC_REASON_TIMEOUT	0x101	/* the job made no progress; the card was reset */
#define DRM_HC_REASON_LOST	0x102	/* the card lost the job's completion */

/**
 * struct drm_hc_cqe - a completion ring entry, 32 bytes, written by the driver.
 * @user_data: the job's drm_hc_job.user_data.
 * @ctx_id: the context handle.
 * @status: DRM_HC_STATUS_*.
 * @reason: DRM_HC_REASON_* (or the card's reason) with DRM_HC_STATUS_ERROR, else 0.
 * @count: DECODE: tokens written to the stream; PREFILL: prompt tokens consumed; else 0.
 * @pos: context positions filled after the job (KV length).
 * @aux: DRM_HC_STATUS_DONE_STOP_TOKEN: the stop token id; DRM_HC_STATUS_ERROR: the job's
 *	opcode; else 0.
 * @flags: zero.
 */
struct drm_hc_cqe {
	__u64 user_data;
	__u32 ctx_id;
	__u16 status;
	__u16 reason;
	__u32 count;
	__u32 pos;
	__u32 aux;
	__u32 flags;
};

/**
 * struct drm_hc_submit - DRM_IOCTL_HC_SUBMIT: submit filled submission ring entries.
 * @ctx_handle: (in) context.
 * @count: (in) most entries to take (from the ring's head towards its tail); 0 = all.
 * @flags: (in) must be zero.
 * @submitted: (out) entries taken, also on error; the ring head has advanced by it.
 * @reserved: must be zero.
 *
 * Returns -EINVAL at the first malformed entry (it stays at the head of the ring), -ENOENT
 * for an unknown stream handle, -EFAULT for a bad prompt pointer, -EDQUOT when the prompt
 * would exceed a card-memory quota, -EBUSY when the completion
 * ring has no room for more jobs in flight or the context already has the most jobs in
 * flight one context may have (the module parameter max_jobs_per_context), -ECANCELED when
 * the context was lost in a card reset (destroy it and create a new one), -EIO when the card
 * is unusable. Prompts are copied before the driver takes any lock: a prompt pointer whose
 * page fault does not complete blocks only this call (and destroying this context).
 */
struct drm_hc_submit {
	__u32 ctx_handle;
	__u32 count;
	__u32 flags;
	__u32 submitted;
	__u64 reserved;
};

#define DRM_HC_WAIT_STREAM	(1u << 0)	/* also wake when the stream's tail moves */

/**
 * struct drm_hc_wait - DRM_IOCTL_HC_WAIT: sleep until the context's completion ring tail
 * differs from @cq_tail (or, with DRM_HC_WAIT_STREAM, the stream ring tail differs from
 * @stream_tail), or until @timeout_ns.
 * @ctx_handle: (in) context.
 * @flags: (in) DRM_HC_WAIT_*.
 * @cq_tail: (in) completion ring tail already seen; (out) current tail.
 * @stream_handle: (in) stream GEM handle with DRM_HC_WAIT_STREAM, else zero.
 * @stream_tail: (in) stream tail already seen; (out) current tail.
 * @pad: must be zero.
 * @timeout_ns: (in) absolute CLOCK_MONOTONIC deadline.
 * @reserved: must be zero.
 *
 * Returns 0 when something changed, -ETIME at the deadline, -EINTR/-ERESTARTSYS on a signal,
 * -ENOENT when the context is destroyed meanwhile, -ENODEV when the card is gone.
 * Set HC_STREAM_HOST_NEED_WAKEUP in the stream ring (then re-check its tail) before waiting
 * for tokens, as <hc_ring.h> describes: the card interrupts only when asked to.
 *
 * With DRM_HC_WAIT_STREAM the driver first notifies the card if it set
 * HC_STREAM_CARD_WAITING (stream ring full). A process that released stream space and sees
 * that flag calls WAIT with DRM_HC_WAIT_STREAM and a @timeout_ns in the past to only notify.
 */
struct drm_hc_wait {
	__u32 ctx_handle;
	__u32 flags;
	__u32 cq_tail;
	__u32 stream_handle;
	__u32 stream_tail;
	__u32 pad;
	__s64 timeout_ns;
	__u64 reserved;
};

/**
 * struct drm_hc_cancel - DRM_IOCTL_HC_CANCEL: cancel every queued and running job of a
 * context; they complete with DRM_HC_STATUS_CANCELLED. Does not wait.
 * @ctx_handle: (in) context.
 * @flags: (in) must be zero.
 */
struct drm_hc_cancel {
	__u32 ctx_handle;
	__u32 flags;
};

/**
 * struct drm_hc_get_tokenizer - DRM_IOCTL_HC_GET_TOKENIZER: copy the tokenizer blob baked
 * into the card's ROM (lib/tokenizer/tokenizer.h format; the card advertises HC_CAP_TOKENIZER).
 * @ptr: (in) user buffer, or 0 to only ask for the size.
 * @size: (in) bytes at @ptr; (out) bytes of the blob.
 * @flags: (in) must be zero.
 * @pad: must be zero.
 *
 * Returns 0 (blob copied, or only its size when @ptr is 0), -ENOSPC when @size is too small
 * (@size then holds the blob's size), -EOPNOTSUPP when the card has no tokenizer.
 */
struct drm_hc_get_tokenizer {
	__u64 ptr;
	__u64 size;
	__u32 flags;
	__u32 pad;
};

/**
 * struct drm_hc_stream_pollfd - DRM_IOCTL_HC_STREAM_POLLFD: a file descriptor for the
 * process's own poll/epoll/io_uring loop that is readable (EPOLLIN, level-triggered) while
 * the stream ring holds tokens beyond the head the process published (tail != head), or the
 * context's completion ring holds completions beyond its head (e.g. the DECODE job ended),
 * or the context was lost in a card reset or destroyed. EPOLLERR|EPOLLHUP once the card is
 * gone. As for WAIT, set HC_STREAM_HOST_NEED_WAKEUP (then re-check the tail) before sleeping
 * for tokens: the card interrupts only when asked to. The fd cannot be read or written; it
 * keeps the context and stream alive until it is closed (also after their handles are).
 * @ctx_handle: (in) context on this file whose completion ring is watched.
 * @stream_handle: (in) stream GEM handle on this file (DRM_IOCTL_HC_STREAM_CREATE).
 * @flags: (in) must be zero.
 * @fd: (out) the new file descriptor, close-on-exec.
 * @reserved: must be zero.
 *
 * Returns -ENOENT for a handle unknown on this file, -ENODEV when the card is gone.
 */
struct drm_hc_stream_pollfd {
	__u32 ctx_handle;
	__u32 stream_handle;
	__u32 flags;
	__s32 fd;
	__u64 reserved[2];
};

#define DRM_IOCTL_HC_GET_INFO \
	DRM_IOWR(DRM_COMMAND_BASE + DRM_HC_GET_INFO, struct drm_hc_info)
#define DRM_IOCTL_HC_CTX_CREATE \
	DRM_IOWR(DRM_COMMAND_BASE + DRM_HC_CTX_CREATE, struct drm_hc_ctx_create)
#define DRM_IOCTL_HC_CTX_DESTROY \
	DRM_IOW(DRM_COMMAND_BASE + DRM_HC_CTX_DESTROY, struct drm_hc_ctx_destroy)
#define DRM_IOCTL_HC_STREAM_CREATE \
	DRM_IOWR(DRM_COMMAND_BASE + DRM_HC_STREAM_CREATE, struct drm_hc_stream_create)
#define DRM_IOCTL_HC_SUBMIT \
	DRM_IOWR(DRM_COMMAND_BASE + DRM_HC_SUBMIT, struct drm_hc_submit)
#define DRM_IOCTL_HC_WAIT \
	DRM_IOWR(DRM_COMMAND_BASE + DRM_HC_WAIT, struct drm_hc_wait)
#define DRM_IOCTL_HC_CANCEL \
	DRM_IOW(DRM_COMMAND_BASE + DRM_HC_CANCEL, struct drm_hc_cancel)
#define DRM_IOCTL_HC_GET_TOKENIZER \
	DRM_IOWR(DRM_COMMAND_BASE + DRM_HC_GET_TOKENIZER, struct drm_hc_get_tokenizer)
#define DRM_IOCTL_HC_STREAM_POLLFD \
	DRM_IOWR(DRM_COMMAND_BASE + DRM_HC_STREAM_POLLFD, struct drm_hc_stream_pollfd)

#if defined(__cplusplus)
}
#endif

#endif /* _UAPI_DRM_HC_ACCEL_H */
