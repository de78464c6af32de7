/* SPDX-License-Identifier: MIT */
/*
 * libhc: the application library for HC cards (docs/libhc.md, man libhc(7)).
 *
 * Objects: a card handle (struct hc_card) from hc_open(); contexts (struct hc_ctx), one per
 * KV slot on the card; and token streams (struct hc_stream), one per decode job, read in place
 * from card memory by the static inline fast paths in <hc/hc_stream.h>.
 *
 * Conventions for every function below:
 *  - Errors are negative errno values (hc_strerror() names them); 0 or a count on success.
 *    Any call that talks to the card may also return -ECONNRESET (the card or its daemon
 *    went away), -ETIMEDOUT (the card hung: its heartbeat stopped for 3 s; or a control step,
 *    i.e. connecting, the card becoming ready, a queue pair's setup, opening or closing a
 *    context, went unanswered for 10 s even with a live heartbeat) or -EPROTO (the card broke
 *    the interface, e.g. ring indices out of range; it stays failed); no call blocks forever
 *    on a dead card.
 *  - The library never aborts, exits or prints; it keeps no global mutable state.
 *  - Threading: a card handle may be used from several threads at once (hc_ctx_create,
 *    hc_card_info, hc_card_telemetry, ... lock internally). A context, and the streams it
 *    produced, must be used by one thread at a time (like a FILE* without locking); different
 *    contexts of one card may be driven from different threads concurrently.
 *  - Token ids are int32_t in the text/prompt API (as lib/tokenizer/tokenizer.h) and uint32_t in the
 *    stream ring (as the card writes them); valid ids are < vocab_size either way.
 */
#ifndef HC_HC_H
#define HC_HC_H

#include <stddef.h>
#include <stdint.h>
#include <hc/hc_version.h>

#ifdef __cplusplus
extern "C" {
#endif

#define HC_URI_MAX        256	/* longest device URI, NUL included */
#define HC_MODEL_NAME_MAX 64	/* model name, NUL included */
#define HC_MAX_STOP_IDS   8	/* stop token ids per decode job */
#define HC_MAX_LATENCY_BUDGET_US 1000000	/* largest hc_decode_params.latency_budget_us */

/* Environment variable consulted by hc_open(NULL) first. */
#define HC_DEVICE_ENV     "HC_DEVICE"
/* The emulator's socket when nothing else is found (hc-emud's default --socket). */
/* hc-emud's default sockets: $XDG_RUNTIME_DIR/HC_EMU_SOCKET_BASENAME, else HC_DEFAULT_EMU_SOCKET. */
#define HC_DEFAULT_EMU_SOCKET "/run/hc/emud.sock"
#define HC_EMU_SOCKET_BASENAME "hc-emud.sock"

struct hc_card;
struct hc_ctx;
struct hc_stream;

/* ------------------------------------------------------------------------------------------
 * Errors
 */

/*
 * hc_strerror - a short English description of a libhc return value.
 * @err: a negative errno returned by libhc (positive values are accepted as well).
 * Return: a static string; never NULL. Thread-safe (unlike strerror(3)).
 */
const char *hc_strerror(int err);

/*
 * hc_version - the version of the libhc that is running, e.g. "1.0.0".
 * Compare with HC_VERSION_STRING (hc_version.h), the version a program was built against.
 * Return: a static string; never NULL.
 */
const char *hc_version(void);

/* ------------------------------------------------------------------------------------------
 * Devices
 */

/* Backends a URI can name. */
enum hc_backend {
	HC_BACKEND_EMU = 1,	/* "emu:/path/to/socket": hc-emud over a UNIX socket */
	HC_BACKEND_KERNEL = 2,	/* "/dev/accel/accelN" or "/dev/dri/renderDN": the hc kernel driver */
};

struct hc_device_desc {
	char uri[HC_URI_MAX];	/* pass to hc_open() */
	uint32_t backend;	/* enum hc_backend */
	uint32_t reserved;
};

/*
 * hc_parse_uri - classify a device URI without opening it.
 * @uri: "emu:PATH" (PATH non-empty, shorter than a UNIX socket path), "/dev/accel/accelN", or
 *   "/dev/dri/renderDN" (the hc driver's node on kernels without the accel subsystem, e.g. 6.1).
 * @backend: set to the enum hc_backend on success (may be NULL).
 * @path: receives the socket or device-node path (NUL-terminated; may be NULL).
 * @len: size of @path.
 * Return: 0; -EINVAL for a malformed URI (unknown scheme, empty or relative device path,
 * trailing garbage); -ENAMETOOLONG if the path does not fit (or exceeds sun_path).
 * Thread-safe.
 */
int hc_parse_uri(const char *uri, enum hc_backend *backend, char *path, size_t len);

/*
 * hc_list_devices - list the cards that hc_open(NULL) could use, in discovery order:
 * $HC_DEVICE (if set and well-formed), then /dev/accel/accel* nodes bound to the hc kernel
 * driver, then /dev/dri/renderD* nodes bound to it (checked through sysfs), then hc-emud's
 * default sockets ($XDG_RUNTIME_DIR/hc-emud.sock, /run/hc/emud.sock) if they exist.
 * @out: array of @cap entries (may be NULL when @cap is 0).
 * @cap: capacity of @out.
 * @n_out: set to the number of devices found (may exceed @cap).
 * Return: 0 (also when nothing is found); -ENOSPC when @n_out > @cap (the first @cap entries
 * are filled). Presence is checked, not that the device answers. Thread-safe.
 */
int hc_list_devices(struct hc_device_desc *out, size_t cap, size_t *n_out);

/*
 * hc_open - connect to a card.
 * @uri: a device URI (see hc_parse_uri()), or NULL to use the first device that opens in
 * hc_list_devices() order.
 * @out: set to the new card handle on success.
 * Return: 0; -EINVAL bad URI; -ENOENT no such socket/node (or nothing discovered);
 * -ECONNREFUSED the socket exists but no daemon listens; -EPROTO the card speaks another
 * interface version or sent malformed setup data; -ENODEV backend not available (e.g. the
 * kernel driver is not loaded); -ETIMEDOUT the card never became ready; -ENOMEM.
 * Thread-safe. The handle owns file descriptors (close-on-exec) and a mapping of card memory;
 * over hc-emud's socket also a memfd of host memory the card writes completions and tokens
 * into (HC_EMU_HOST_MEMORY=0 in the environment: card memory instead, same tokens).
 */
int hc_open(const char *uri, struct hc_card **out);

/*
 * hc_close - release a card handle: cancels and frees every context and stream still open
 * on it. NULL is ignored. No other thread may be using @card or its objects.
 */
void hc_close(struct hc_card *card);

/* ------------------------------------------------------------------------------------------
 * Card information
 */

struct hc_card_info {
	char     model_name[HC_MODEL_NAME_MAX];	/* NUL-terminated */
	uint8_t  identity[32];		/* SHA-256 of the baked ROM ("silicon revision") */
	uint32_t interface_version;	/* card interface (include/uapi/hc_card.h) */
	uint32_t vocab_size;
	uint32_t dim;
	uint32_t n_layers;
	uint32_t n_heads;
	uint32_t n_kv_heads;
	uint32_t ffn_dim;
	uint32_t model_max_ctx;		/* the model's longest context */
	uint32_t n_contexts;		/* KV slots available to this handle */
	uint32_t max_ctx;		/* longest context the card accepts */
	uint32_t n_queue_pairs;
	uint32_t max_queue_entries;
	uint64_t stream_mem_bytes;	/* card memory for stream rings */
	uint64_t capabilities;		/* HC_CAP_* bits, <hc/uapi/hc_card.h> */
	uint32_t status;		/* card status register (READY, RESETTING, ERROR) */
	uint32_t error_code;		/* card error register */
};

/*
 * hc_card_info - static description of the card and its model.
 * @card: an open card.
 * @info: filled on success.
 * Return: 0. Thread-safe.
 */
int hc_card_info(struct hc_card *card, struct hc_card_info *info);

/* The versions behind a card handle, besides libhc's own (hc_version()): hc_card_versions(). */
struct hc_card_versions {
	uint32_t interface_version;	/* card interface, as hc_card_info.interface_version */
	uint32_t fw_version;		/* the card firmware's, packed as HC_VERSION_ENCODE() packs
					   it (hc-emud: the project's version); 0: the card does
					   not say */
	char     driver_version[32];	/* the kernel driver's (the hc_accel module's version,
					   e.g. "1.0.0"); "" on the socket transport or unknown */
	uint32_t reserved[8];		/* zero; later libhc versions may fill them */
};

/*
 * hc_card_versions - the versions of the card interface, of the card's firmware and of the
 * kernel driver the card sits behind.
 * @card: an open card.
 * @v: filled on success.
 * Return: 0; -EINVAL for NULL arguments. Thread-safe; reports what hc_open() found.
 */
int hc_card_versions(struct hc_card *card, struct hc_card_versions *v);

struct hc_telemetry {
	uint64_t heartbeat;		/* advances every few ms while the card is alive */
	uint64_t tokens_generated;	/* card-wide, all clients */
	uint64_t prompt_tokens;
	uint64_t jobs_completed;
	uint64_t jobs_failed;
	uint64_t busy_ns;
	uint64_t contexts_in_use;	/* KV slots in use on the card, all clients */
	uint64_t temperature_mc;	/* millidegree C (simulated on the emulator) */
	uint64_t power_uw;		/* microwatt (simulated on the emulator) */
	uint64_t energy_uj;		/* microjoule */
	uint64_t uptime_ns;
	uint64_t clients;		/* connected clients (emulator) / 1 (PCI) */
	uint64_t my_contexts;		/* contexts open through this handle's function */
};

/*
 * hc_card_telemetry - snapshot of the card's telemetry counters (register page).
 * @card: an open card.
 * @t: filled on success.
 * Return: 0. Thread-safe. Counters are read one by one, not as an atomic snapshot.
 */
int hc_card_telemetry(struct hc_card *card, struct hc_telemetry *t);

/*
 * hc_identity_hex - format a 32-byte identity as 64 lowercase hex digits.
 * @identity: 32 bytes.
 * @hex: at least 65 bytes; NUL-terminated on return.
 * Return: @hex. Thread-safe.
 */
char *hc_identity_hex(const uint8_t identity[32], char hex[65]);

/* ------------------------------------------------------------------------------------------
 * Text (the tokenizer baked into the card's ROM, delivered by the card)
 */

/*
 * hc_tokenize - encode UTF-8 text with the card's tokenizer.
 * @card: an open card.
 * @text: @len bytes of UTF-8 (need not be NUL-terminated).
 * @flags: HC_TEXT_BOS to prepend BOS; HC_TEXT_SPECIAL to parse special-token text.
 * @ids: receives at most @cap ids.
 * @n_out: set to the full count of ids, so a caller can retry with a larger @ids on -ENOSPC.
 * Return: 0; -ENOSPC; -EINVAL for invalid UTF-8. Thread-safe.
 */
#define HC_TEXT_BOS     (1u << 0)
#define HC_TEXT_SPECIAL (1u << 1)
int hc_tokenize(struct hc_card *card, const char *text, size_t len, unsigned flags,
		int32_t *ids, size_t cap, size_t *n_out);

/*
 * hc_token_piece - raw bytes of one token's text (may be a partial UTF-8 sequence).
 * @card: an open card.  @id: a token id.  @len: set to the length in bytes.
 * Return: a pointer valid until hc_close(), or NULL if @id is out of range. Thread-safe.
 */
const char *hc_token_piece(struct hc_card *card, int32_t id, size_t *len);

/*
 * hc_token_bos - the model's BOS id, or -1 if it has none.
 * hc_stop_ids - the model's end-of-generation ids (EOS, EOT, ...): writes at most @cap,
 * returns how many were written. Both thread-safe.
 */
int32_t hc_token_bos(struct hc_card *card);
uint32_t hc_stop_ids(struct hc_card *card, int32_t *ids, uint32_t cap);

/* A chat message for hc_chat_tokenize() / hc_ctx_prefill_chat(). */
struct hc_message {
	const char *role;	/* "system", "user" or "assistant" */
	const char *content;
};

/*
 * hc_chat_tokenize - render messages in the ROM's chat format (BOS first) and encode them.
 * @add_generation_prompt: non-zero to end with the assistant header.
 * Other parameters and return as hc_tokenize(); -EOPNOTSUPP if the ROM has no chat format.
 * Thread-safe.
 */
int hc_chat_tokenize(struct hc_card *card, const struct hc_message *msgs, size_t n_msgs,
		     int add_generation_prompt, int32_t *ids, size_t cap, size_t *n_out);

/*
 * Streaming detokenizer: push ids as they arrive, get complete UTF-8 only (a multi-byte
 * character split over tokens comes out whole; invalid bytes become U+FFFD).
 * A struct hc_text_stream belongs to one thread at a time.
 */
struct hc_text_stream;

/*
 * hc_text_stream_new - start a detokenizer for @card. Return: 0 or -ENOMEM.
 * hc_text_stream_push - decode @id into @out (at most @cap bytes; 256 is always enough);
 *     return the number of bytes written, or -ENOSPC if @cap is too small (state unchanged),
 *     -EINVAL for an id out of range.
 * hc_text_stream_flush - write what is pending at end of stream; return bytes written or
 *     -ENOSPC.
 * hc_text_stream_free - free it (NULL ignored).
 */
int hc_text_stream_new(struct hc_card *card, struct hc_text_stream **out);
int hc_text_stream_push(struct hc_text_stream *ts, int32_t id, char *out, size_t cap);
int hc_text_stream_flush(struct hc_text_stream *ts, char *out, size_t cap);
void hc_text_stream_free(struct hc_text_stream *ts);

/* ------------------------------------------------------------------------------------------
 * Contexts
 */

/*
 * hc_ctx_create - open a context (one KV slot on the card) at position 0.
 * @card: an open card.
 * @out: set to the context on success.
 * Return: 0; -EBUSY every KV slot is in use; -ENOMEM; -EIO the card failed the job.
 * Thread-safe with respect to @card.
 */
int hc_ctx_create(struct hc_card *card, struct hc_ctx **out);

/*
 * hc_ctx_destroy - cancel anything running on @ctx, wait for it, and give the KV slot back.
 * Streams of @ctx become invalid. NULL ignored.
 */
void hc_ctx_destroy(struct hc_ctx *ctx);

/*
 * hc_ctx_prefill_tokens - append @n prompt tokens to the context and wait until the card
 * has processed them.
 * @ctx: a context with no decode running.
 * @ids: @n token ids, each < vocab_size.
 * Return: 0; -EINVAL id out of range or @n == 0; -ENOSPC the context would exceed max_ctx
 * (nothing appended); -EBUSY a decode is still running; -EIO card error; -ECANCELED reset.
 */
int hc_ctx_prefill_tokens(struct hc_ctx *ctx, const int32_t *ids, size_t n);

/*
 * hc_ctx_prefill_text - tokenize @len bytes of @text with the card's tokenizer (@flags as
 * hc_tokenize(); pass HC_TEXT_BOS at the start of a conversation) and prefill them.
 * Return: as hc_tokenize() and hc_ctx_prefill_tokens().
 */
int hc_ctx_prefill_text(struct hc_ctx *ctx, const char *text, size_t len, unsigned flags);

/*
 * hc_ctx_prefill_chat - prefill messages in the ROM's chat format. When the context is not
 * at position 0, the leading BOS is dropped so turns can be appended to a kept history.
 * Return: as hc_chat_tokenize() and hc_ctx_prefill_tokens().
 */
int hc_ctx_prefill_chat(struct hc_ctx *ctx, const struct hc_message *msgs, size_t n_msgs,
			int add_generation_prompt);

/*
 * hc_ctx_position - KV positions filled in the context, as the card last reported.
 * The last token of a decode (or the sampled stop id) stays pending on the card and is fed
 * first by the next prefill or decode, so a conversation continues exactly.
 */
uint32_t hc_ctx_position(const struct hc_ctx *ctx);

/* Decode parameters. Zero-initialise, then set what you need. */
struct hc_decode_params {
	uint32_t max_tokens;		/* > 0 */
	float    temperature;		/* 0: greedy (ties go to the lowest id) */
	float    top_p;			/* 0 or >= 1: off */
	uint32_t top_k;			/* 0: off */
	uint64_t seed;			/* with (seed, step) the draw is deterministic */
	uint32_t n_stop;		/* <= HC_MAX_STOP_IDS */
	int32_t  stop_ids[HC_MAX_STOP_IDS];	/* sampling one ends the job; it is not streamed */
	uint32_t ring_entries;		/* stream ring size, power of two; 0: library default */
	uint32_t latency_budget_us;	/* how late a token may reach a consumer that sleeps in
					   hc_stream_wait()/hc_stream_wait_any() or on
					   hc_stream_fd(), in microseconds (<=
					   HC_MAX_LATENCY_BUDGET_US): wake-ups are batched, about
					   one per budget instead of one per token. 0: every token
					   at once (the default). Never changes the tokens */
	uint64_t step_base;		/* token i is drawn with step step_base + i; to continue a
					   sampled conversation reproducibly pass the tokens
					   generated so far; 0 matches a fresh in-process run */
};

/*
 * hc_ctx_decode - start generating on the card. Tokens appear in the returned stream as the
 * card produces them; read them with hc_stream_peek()/hc_stream_advance().
 * @ctx: a context with a non-empty history and no decode running.
 * @params: see struct hc_decode_params. A latency budget is handed to a card that can defer
 * the stream's interrupt (HC_CAP_WAKEUP_DELAY: by up to the budget less an allowance for the
 * wake-up's own time, 100 us plus an eighth of the budget, or until half the ring is unread;
 * a budget within the allowance defers nothing); on other cards
 * hc_stream_wait()/hc_stream_wait_any() batch the wake-ups themselves (after a wake-up they
 * sleep as long before returning).
 * @out: set to the stream; free with hc_stream_free() after it has ended.
 * Return: 0; -EINVAL bad parameters; -EBUSY a decode is already running on @ctx;
 * -ENOSPC no stream memory left (free finished streams); -EIO.
 */
int hc_ctx_decode(struct hc_ctx *ctx, const struct hc_decode_params *params,
		  struct hc_stream **out);

/*
 * hc_ctx_generate - hc_ctx_prefill_tokens() of @ids, then hc_ctx_decode() of @params, in one
 * submission where the card can link them (HC_CAP_LINK, as hc-emud): the stream is returned
 * before the card has read the prompt, and the first token comes one round trip sooner.
 * The same tokens either way. A card that cannot link (behind the kernel driver) gets the
 * two calls; a prompt longer than one PREFILL has all but its last part prefilled first.
 * @ctx: a context with no decode running (fresh, or continuing a kept history).
 * @ids: @n prompt token ids, each < vocab_size.
 * Return: 0, or the errors of hc_ctx_prefill_tokens() and hc_ctx_decode(), which leave the
 * context as those calls do (checked first: nothing submitted). A prompt the card refuses
 * after the call returned ends the stream with HC_STREAM_ERROR and the prefill's errno (e.g.
 * -ENOSPC), with no token: the card cancelled the decode.
 */
int hc_ctx_generate(struct hc_ctx *ctx, const int32_t *ids, size_t n,
		    const struct hc_decode_params *params, struct hc_stream **out);

/*
 * hc_ctx_cancel - ask the card to stop the running decode of @ctx (no-op if none). Returns at
 * once; the stream then ends with status HC_STREAM_CANCELLED (or its natural end if that came
 * first). The card stops within one token step. Return: 0 or -EIO.
 */
int hc_ctx_cancel(struct hc_ctx *ctx);

/*
 * hc_ctx_reset - forget the context's history (position back to 0). Waits for a running
 * decode to be cancelled first. Return: 0 or -EIO.
 */
int hc_ctx_reset(struct hc_ctx *ctx);

/* ------------------------------------------------------------------------------------------
 * Streams (see <hc/hc_stream.h> for the zero-copy fast path)
 */

enum hc_stream_state {
	HC_STREAM_RUNNING = 0,		/* the card is still producing */
	HC_STREAM_DONE_MAX_TOKENS = 1,	/* produced max_tokens */
	HC_STREAM_DONE_STOP = 2,	/* sampled a stop id: NOT in the stream, see stop_id */
	HC_STREAM_CANCELLED = 3,	/* hc_ctx_cancel() */
	HC_STREAM_CONTEXT_FULL = 4,	/* the context reached max_ctx */
	HC_STREAM_ERROR = 5,		/* the card failed the job: see error */
};

struct hc_stream_status {
	uint32_t state;		/* enum hc_stream_state */
	int32_t  error;		/* HC_STREAM_ERROR: negative errno (-EIO, -ECANCELED on reset, ...) */
	uint32_t count;		/* tokens the card produced for this job (final once ended) */
	uint32_t position;	/* context position after the job (final once ended) */
	int32_t  stop_id;	/* HC_STREAM_DONE_STOP: the stop id sampled; else -1 */
	uint32_t reserved;
	uint64_t consumed;	/* tokens advanced past by the application so far */
};

/*
 * hc_stream_status - state of a stream; reaps completions without blocking.
 * Return: 1 if the stream has ended (job complete AND every token consumed), 0 if not,
 * negative errno on error. @st (may be NULL) is filled either way.
 */
int hc_stream_status(struct hc_stream *s, struct hc_stream_status *st);

/*
 * hc_stream_wait - block until at least one of @streams is ready: it has unread tokens or
 * its job has completed. Uses io_uring (one submission covers all streams' interrupt fds;
 * poll(2) where io_uring is refused, or when the environment sets HC_NO_IO_URING to anything
 * but "" or "0": the same results). Streams decoded with a latency budget wake it about once
 * per budget (see hc_decode_params.latency_budget_us).
 * @streams: @n streams, all owned by the calling thread (they may belong to different
 * contexts and cards).
 * @timeout_ms: -1 forever, 0 poll, otherwise milliseconds.
 * Return: the number of ready streams (>0), 0 on timeout, negative errno (-EINTR is not
 * returned: interrupted waits are restarted until the timeout).
 */
int hc_stream_wait(struct hc_stream **streams, unsigned n, int timeout_ms);

/*
 * hc_stream_wait_any - hc_stream_wait() for an application that keeps its streams in one
 * array and wants to know which are ready: one io_uring wait covers every stream's interrupt
 * fd (poll(2) where io_uring is refused or HC_NO_IO_URING is set), however many streams.
 * @streams: @n slots; NULL slots are skipped (set a slot to NULL once its stream ended). The
 * streams follow hc_stream_wait()'s rules (owned by the calling thread, any cards).
 * @timeout_ms: -1 forever, 0 poll, otherwise milliseconds.
 * @ready: if not NULL, room for @n indices: receives the slots of the ready streams, in
 * increasing order.
 * Return: the number of ready streams (= indices written), 0 on timeout, negative errno
 * (-EINVAL: @n is 0 or every slot is NULL).
 */
int hc_stream_wait_any(struct hc_stream *const *streams, unsigned n, int timeout_ms,
		       unsigned *ready);

/*
 * hc_stream_fd - a file descriptor that becomes readable (POLLIN) when @s may be ready, for
 * the application's own epoll/io_uring loop. Wake-ups may be spurious. Call hc_stream_rearm()
 * before sleeping on it (it reaps completions, drains the fd and re-enables wake-ups;
 * hc_stream_rearm_many() for several streams, required when they share an fd), then
 * peek after it fires. Do not read the fd yourself. With hc-emud the fd is the interrupt of
 * the context's queue pair: a context has one of its own while the handle has no more
 * contexts than n_queue_pairs; beyond that contexts share one, and another thread's
 * hc_stream_wait() may consume a wake-up meant for this fd, so poll it with a timeout in that
 * case. On the kernel backend it is the stream's own fd from the driver (level-triggered,
 * made on the first call, closed by hc_stream_free()). A latency budget the card got
 * (HC_CAP_WAKEUP_DELAY) batches this fd's wake-ups too; the host-side batching of cards
 * without it is done only by hc_stream_wait() and hc_stream_wait_any().
 * Return: the fd (owned by the library) or a negative errno.
 */
int hc_stream_fd(struct hc_stream *s);

/*
 * hc_stream_rearm - for event loops using hc_stream_fd(): reap completions, drain the fd and
 * ask the card for an interrupt on the next token. Return: 1 if @s is ready now (do not sleep),
 * 0 if it is safe to wait on the fd, negative errno.
 */
int hc_stream_rearm(struct hc_stream *s);

/*
 * hc_stream_rearm_many - hc_stream_rearm() for every stream an event loop is about to sleep
 * on, at once. Streams whose fds are the same (contexts sharing a queue pair) must be rearmed
 * together by one call: hc_stream_rearm() of one drains the shared fd, which may consume
 * the wake-up announcing another stream's token after that stream's own rearm (the loop
 * then sleeps with the token in the ring until some other interrupt). This call drains each distinct fd once, before looking at any stream, then asks for
 * wake-ups (HOST_NEED_WAKEUP), issues a full barrier and re-checks: when it returns 0, a
 * token any of the streams gets later makes its fd readable. Each distinct fd is drained
 * once, not twice per stream.
 * @streams: @n slots; NULL slots are skipped (as hc_stream_wait_any()).
 * Return: the number of ready streams (>0: do not sleep; wake-ups may still be off for some,
 * so call it again before sleeping), 0 if it is safe to wait on the fds, negative errno
 * (-EINVAL: @n is 0 or every slot is NULL).
 */
int hc_stream_rearm_many(struct hc_stream *const *streams, unsigned n);

/*
 * hc_stream_read - copying convenience over peek/advance: wait for and copy up to @cap
 * tokens. Return: tokens copied (>0), 0 at end of stream, negative errno.
 */
int hc_stream_read(struct hc_stream *s, uint32_t *ids, unsigned cap);

/*
 * hc_stream_free - release a stream. If its job is still running, it is cancelled and waited
 * for first. NULL ignored.
 */
void hc_stream_free(struct hc_stream *s);

#ifdef __cplusplus
}
#endif

#include <hc/hc_stream.h>

#endif
