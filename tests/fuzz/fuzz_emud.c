// SPDX-License-Identifier: MIT
/*
 * Fuzz target: hc-emud's control and SQE paths, in process. One card (the tiny synthetic ROM;
 * the null model, unless bit 2 of the first byte asks for the forward pass, whose batched
 * passes the scheduler now fills with decoders and prompt chunks) and, per input, one function over
 * heap card memory, the way emud_socket.c makes one per client. The input is a program of
 * a hostile client: raw writes anywhere in card memory (register page included), queue-pair
 * setups, SQEs (raw or nudged towards valid), doorbells, service and scheduler rounds, CQ
 * and stream reads, resets; with bit 1 of the first byte set, the function has host memory
 * too (HC_CAP_HOST_MEMORY) and CQs and streams may live there. The daemon side runs exactly what its event loop runs
 * (emud_fn_kick, emud_fn_service, emud_sched_round, emud_fn_sleep_prepare). At the end the
 * function is destroyed and the card's KV accounting must be back to zero.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "bake.h"
#include "emud.h"
#include "fuzz.h"

#define MEM_SIZE	(256u << 10)
#define QP_AREA		(64u << 10)	/* per queue pair: SQ, CQ, stream ring, prompt tokens */
#define CQ_AT		4096u
#define STREAM_AT	(16u << 10)
#define TOKENS_AT	(32u << 10)
#define N_QP		2
#define MAX_ROUNDS	256		/* daemon turns per input: bounds the time of one input */

/*
 * hc-emud.c is not linked (main, event loop): its log and clock helpers the card code calls.
 * Log lines are formatted, never printed: the arguments are checked, the output stays quiet.
 * emud_log became a macro over emud_logp (a priority first) with the systemd work.
 */
#ifdef emud_log
void emud_logp(int prio, const char *fmt, ...)
#else
void emud_log(const char *fmt, ...)
#endif
{
	char buf[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
}

static uint64_t fake_ns;

/* A clock that advances per call: coalescing timeouts fire, and inputs replay the same. */
uint64_t emud_now_ns(void)
{
	return fake_ns += 10000;
}

static struct emud_card card;
static uint32_t irqs;

static void raise_irq(struct emud_fn *fn, uint32_t vector)
{
	irqs++;
}

static const struct emud_fn_ops ops = { "fuzz", raise_irq };

static void card_init(void)
{
	struct bake_source *src;
	char path[512], err[512];

	snprintf(path, sizeof(path), "%s/tiny.rom", fz_dir());
	if (bake_open_synthetic("tiny", 1, &src, err, sizeof(err)) ||
	    bake_write_rom(src, HC_WTYPE_Q8_0, path, 0, err, sizeof(err)) ||
	    hc_rom_open(path, &card.rom, err, sizeof(err)) ||
	    hc_model_new(card.rom, 1, HC_PATH_AUTO, &card.model, err, sizeof(err))) {
		fprintf(stderr, "fuzz_emud: %s\n", err);
		abort();
	}
	src->close(src);
	pthread_mutex_init(&card.lock, NULL);
	card.rom_hdr = hc_rom_header(card.rom);
	card.arch = hc_model_arch(card.model);
	card.opt.threads = 1;
	card.opt.n_contexts = 4;
	card.opt.max_contexts = 3;
	card.opt.n_qp = N_QP;
	card.opt.prefill_chunk = 8;
	card.opt.null_model = true;
	card.max_ctx = 64;
	card.kv_pos_bytes = 2ull * card.arch->n_layers * card.arch->n_kv_heads *
			    card.arch->head_dim * sizeof(float);
	/* room for two full contexts: the third OPEN meets NO_MEMORY */
	card.opt.kv_mem = 2 * card.max_ctx * card.kv_pos_bytes;
	card.prob = malloc(sizeof(*card.prob) * card.arch->vocab_size);
	card.epfd = -1;
	if (!card.prob)
		abort();
}

/* The input, read front to back; reads past its end give zeros. */
struct in {
	const uint8_t *p, *end;
};

static uint32_t get(struct in *in, unsigned bytes)
{
	uint32_t v = 0;

	for (unsigned i = 0; i < bytes; i++)
		v |= (uint32_t)(in->p < in->end ? *in->p++ : 0) << (8 * i);
	return v;
}

struct host {
	struct emud_fn *fn;
	uint64_t base;			/* start of host-managed memory */
	uint32_t sq_n[N_QP], cq_n[N_QP];
	uint32_t ctx[4];		/* context ids seen in completions */
	uint32_t n_ctx;
	unsigned char *cq_mem[N_QP], *st_mem[N_QP];	/* card or host memory */
};

/* Where a ring the host names is: host memory (if the function has it and @host) or card. */
static unsigned char *space(struct host *h, bool host)
{
	return host && h->fn->host_mem ? h->fn->host_mem : h->fn->mem;
}

static struct hc_card_regs *regs(struct host *h)
{
	return (struct hc_card_regs *)h->fn->mem;
}

static uint64_t area(struct host *h, uint32_t q)
{
	return h->base + (uint64_t)q * QP_AREA;
}

/* A queue pair set up as libhc would: zeroed rings, every field, ctrl_seq last, doorbell. */
static void setup_qp(struct host *h, struct in *in)
{
	uint32_t q = get(in, 1) % N_QP, sel = get(in, 1);
	struct hc_card_qp *r = &regs(h)->qp[q];

	h->sq_n[q] = 1u << (sel % 5);
	h->cq_n[q] = 1u << (sel / 5 % 7);
	h->cq_mem[q] = space(h, sel & 0x40);
	memset(h->fn->mem + area(h, q), 0, QP_AREA);
	memset(h->cq_mem[q] + area(h, q), 0, QP_AREA);
	r->sq_offset = area(h, q);
	r->cq_offset = area(h, q) + CQ_AT;
	r->sq_entries = h->sq_n[q];
	r->cq_entries = h->cq_n[q];
	r->irq_vector = get(in, 1) % (1 + N_QP);
	r->ctrl = (sel & 0x80 ? 0 : HC_QP_CTRL_ENABLE) |
		  (h->cq_mem[q] != h->fn->mem ? HC_QP_CTRL_CQ_HOST : 0);
	r->coalesce_count = get(in, 1) % 4;
	r->coalesce_usec = get(in, 1) % 4 * 10;
	hc_ring_store_release(&r->ctrl_seq, r->ctrl_seq + 1);
	emud_fn_kick(h->fn);
}

/* One SQE at the host's SQ tail: raw bytes, optionally nudged towards a valid one. */
static void submit(struct host *h, struct in *in)
{
	uint32_t q = get(in, 1) % N_QP, fix = get(in, 1);
	struct hc_ring_hdr *hdr;
	struct hc_sqe sqe;
	uint32_t tail, len;

	if (!h->sq_n[q])
		return;
	memset(&sqe, 0, sizeof(sqe));
	len = get(in, 1) % (sizeof(sqe) + 1);
	for (uint32_t i = 0; i < len; i++)
		((uint8_t *)&sqe)[i] = (uint8_t)get(in, 1);
	if (fix & 1) {
		sqe.opcode %= HC_OP_MAX;
		sqe.flags = 0;
		sqe.reserved0 = 0;
	}
	/* a context seen in a completion, or one of the first ids the card hands out */
	if (fix & 2)
		sqe.ctx_id = h->n_ctx ? h->ctx[(fix >> 4) % h->n_ctx] : 1 + (fix >> 4) % 3;
	if (fix & 4) {
		/* the arguments inside this queue pair's own areas */
		if (sqe.opcode == HC_OP_PREFILL) {
			sqe.prefill.tokens_offset = area(h, q) + TOKENS_AT;
			sqe.prefill.n_tokens %= 64;
			memset(sqe.prefill.reserved, 0, sizeof(sqe.prefill.reserved));
			sqe.prefill.reserved0 = 0;
			if (fix & 0x80)	/* linked to the context's next job */
				sqe.flags = HC_SQE_F_LINK;
		} else if (sqe.opcode == HC_OP_DECODE) {
			sqe.decode.stream_offset = area(h, q) + STREAM_AT;
			h->st_mem[q] = space(h, fix & 0x20);
			if (h->st_mem[q] != h->fn->mem)
				sqe.flags = HC_SQE_F_STREAM_HOST;
			sqe.decode.stream_entries = 1u << (sqe.decode.stream_entries % 11);
			sqe.decode.max_tokens %= 200;
			sqe.decode.n_stop %= HC_CARD_MAX_STOP + 1;
			if (fix & 0x40)	/* greedy: most random float bits are refused */
				sqe.decode.temperature = sqe.decode.top_p = 0;
			memset(sqe.decode.reserved, 0, sizeof(sqe.decode.reserved));
			/* deferred wake-ups in range (random u32s are nearly all refused) */
			sqe.decode.wakeup_usec %= 3000;
			sqe.decode.wakeup_tokens %= sqe.decode.stream_entries + 1;
		} else if (sqe.opcode == HC_OP_CONTEXT_OPEN) {
			memset(&sqe.open, 0, sizeof(sqe.open));
			sqe.open.max_ctx = fix >> 3;
		}
	}
	hdr = (struct hc_ring_hdr *)(h->fn->mem + area(h, q));
	tail = hc_ring_load(&hdr->tail);
	memcpy(h->fn->mem + area(h, q) + HC_RING_HDR_SIZE +
	       (uint64_t)(tail & (h->sq_n[q] - 1)) * sizeof(sqe), &sqe, sizeof(sqe));
	hc_ring_store_release(&hdr->tail, tail + 1);
	if (fix & 8)
		emud_fn_kick(h->fn);
}

/* Read the CQ (keeping context ids) and empty the stream ring of queue pair @q. */
static void consume(struct host *h, struct in *in)
{
	uint32_t q = get(in, 1) % N_QP;
	unsigned char *cqm = h->cq_mem[q], *stm = h->st_mem[q] ? h->st_mem[q] : h->fn->mem;
	struct hc_ring_hdr *cq, *st;
	uint32_t head, tail;

	if (!h->cq_n[q])
		return;
	cq = (struct hc_ring_hdr *)(cqm + area(h, q) + CQ_AT);
	st = (struct hc_ring_hdr *)(stm + area(h, q) + STREAM_AT);
	head = hc_ring_load(&cq->head);
	tail = hc_ring_load_acquire(&cq->tail);
	for (uint32_t i = 0; head != tail && i < h->cq_n[q]; i++, head++) {
		struct hc_cqe cqe;

		memcpy(&cqe, cqm + area(h, q) + CQ_AT + HC_RING_HDR_SIZE +
		       (uint64_t)(head & (h->cq_n[q] - 1)) * sizeof(cqe), sizeof(cqe));
		if (cqe.ctx_id && cqe.status == HC_STATUS_OK)
			h->ctx[h->n_ctx < 4 ? h->n_ctx++ : cqe.ctx_id % 4] = cqe.ctx_id;
	}
	hc_ring_store_release(&cq->head, head);
	hc_ring_store_release(&st->head, hc_ring_load_acquire(&st->tail));
	emud_fn_kick(h->fn);
}

static void daemon_turn(struct host *h, bool idle)
{
	emud_sched_round(&card);
	emud_fn_service(h->fn, idle);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct in in = { data, data + size };
	struct emud_fn fn;
	struct host h;
	unsigned char *mem, *host = NULL;
	unsigned rounds = 0;

	if (!card.rom)
		card_init();
	fake_ns = 0;
	card.opt.allow_faults = size && (data[0] & 1);
	card.opt.null_model = !(size && (data[0] & 4));
	mem = aligned_alloc(4096, MEM_SIZE);
	if (!mem)
		return 0;
	memset(mem, 0, MEM_SIZE);
	memset(&fn, 0, sizeof(fn));
	fn.id = ++card.next_fn_id;
	if (size && (data[0] & 2)) {
		host = aligned_alloc(4096, MEM_SIZE);
		if (!host) {
			free(mem);
			return 0;
		}
		memset(host, 0, MEM_SIZE);
		fn.host_mem = host;
		fn.host_size = MEM_SIZE;
	}
	if (emud_fn_init(&fn, &card, mem, MEM_SIZE, HC_CAP_TRANSPORT_SOCKET | HC_CAP_HOST_MEMORY,
			 &ops, NULL))
		abort();
	emud_card_add_fn(&card, &fn);
	memset(&h, 0, sizeof(h));
	h.fn = &fn;
	h.base = (regs(&h)->data_offset + 4095) & ~4095ull;
	if (h.base + N_QP * QP_AREA > MEM_SIZE)
		abort();
	in.p += size != 0;

	while (in.p < in.end && rounds < MAX_ROUNDS) {
		switch (get(&in, 1) % 11) {
		case 0: {	/* raw write anywhere in card memory */
			uint32_t off = get(&in, 3) % MEM_SIZE, len = get(&in, 1);

			for (uint32_t i = 0; i < len && off + i < MEM_SIZE; i++)
				mem[off + i] = (uint8_t)get(&in, 1);
			break;
		}
		case 1: {	/* one register of the page */
			uint32_t idx = get(&in, 2) % (HC_CARD_REGS_SIZE / 4);

			((uint32_t *)mem)[idx] = get(&in, 4);
			break;
		}
		case 2: setup_qp(&h, &in); break;
		case 3: submit(&h, &in); break;
		case 4: emud_fn_kick(&fn); break;
		case 5: daemon_turn(&h, get(&in, 1) & 1); rounds++; break;
		case 6: consume(&h, &in); break;
		case 7: emud_fn_sleep_prepare(&fn); break;
		case 8:		/* reset, as hc_card_reset does */
			hc_ring_store_release64(&regs(&h)->reset_request,
						regs(&h)->reset_request + 1);
			emud_fn_kick(&fn);
			break;
		case 9: {	/* prompt tokens for PREFILLs: small ids, or any */
			uint32_t q = get(&in, 1) % N_QP, n = get(&in, 1) % 64, any = get(&in, 1) & 1;
			uint32_t *t = (uint32_t *)(mem + area(&h, q) + TOKENS_AT);

			for (uint32_t i = 0; i < n; i++)
				t[i] = any ? get(&in, 4) : get(&in, 2) % card.arch->vocab_size;
			break;
		}
		default:	/* a stream ring's header: corrupt indices, flags */
			((uint32_t *)(mem + area(&h, get(&in, 1) % N_QP) + STREAM_AT))
				[get(&in, 1) % 32] = get(&in, 4);
			break;
		}
	}
	/* the event loop runs on until the card is idle (bounded) */
	for (unsigned i = 0; i < 32 && rounds < MAX_ROUNDS; i++, rounds++) {
		bool runnable = emud_fn_runnable(&fn);

		daemon_turn(&h, !runnable);
		if (!runnable && emud_fn_sleep_prepare(&fn))
			break;
	}

	if (getenv("HC_FUZZ_DEBUG"))	/* is a seed doing what it was written for? */
		fprintf(stderr, "fuzz_emud: %u daemon turns, %u interrupts, %llu tokens, %llu jobs "
			"done, %llu failed\n", rounds, irqs,
			(unsigned long long)card.cnt.tokens_generated,
			(unsigned long long)card.cnt.jobs_completed,
			(unsigned long long)card.cnt.jobs_failed);
	emud_card_remove_fn(&card, &fn);
	emud_fn_destroy(&fn);
	free(mem);
	free(host);
	/* a function gone, everything it held is back: no KV slot or byte leaks to others */
	if (card.kv_in_use || card.kv_reserved)
		__builtin_trap();
	return 0;
}
