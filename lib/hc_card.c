// SPDX-License-Identifier: MIT
/*
 * The card handle: open/close, register page, card-memory allocator, queue pairs, and the
 * submission/completion plumbing every context and stream goes through.
 */
#include <errno.h>
#include <poll.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include "hc_internal.h"
#include "tokenizer.h"

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/*
 * ---- memory allocators (socket transport): the library owns card memory's
 * [data_offset, mem_size) and, with HC_CAP_HOST_MEMORY, all of its host memory ----
 */

#define ALIGN_UP(x, a) (((x) + (a) - 1) & ~((uint64_t)(a) - 1))

static int extent_alloc(struct hc_card *card, struct hc_extent **list, uint64_t size,
			uint64_t *off)
{
	struct hc_extent **pp, *e;
	int ret = -ENOSPC;

	size = ALIGN_UP(size, HC_CARD_RING_ALIGN);
	pthread_mutex_lock(&card->alloc_lock);
	for (pp = list; (e = *pp); pp = &e->next) {
		if (e->len < size)
			continue;
		*off = e->off;
		e->off += size;
		e->len -= size;
		if (!e->len) {
			*pp = e->next;
			free(e);
		}
		ret = 0;
		break;
	}
	pthread_mutex_unlock(&card->alloc_lock);
	return ret;
}

static void extent_free(struct hc_card *card, struct hc_extent **list, uint64_t off,
			uint64_t size)
{
	struct hc_extent **pp, *e, *n;

	size = ALIGN_UP(size, HC_CARD_RING_ALIGN);
	pthread_mutex_lock(&card->alloc_lock);
	for (pp = list; (e = *pp) && e->off < off; pp = &e->next)
		;
	n = malloc(sizeof(*n));
	if (!n) {
		/* leak the space rather than fail a free */
		pthread_mutex_unlock(&card->alloc_lock);
		return;
	}
	n->off = off;
	n->len = size;
	n->next = e;
	*pp = n;
	/* coalesce with the next and the previous extent */
	if (e && n->off + n->len == e->off) {
		n->len += e->len;
		n->next = e->next;
		free(e);
	}
	for (e = *list; e && e != n; e = e->next) {
		if (e->next == n && e->off + e->len == n->off) {
			e->len += n->len;
			e->next = n->next;
			free(n);
			break;
		}
	}
	pthread_mutex_unlock(&card->alloc_lock);
}

int hc__mem_alloc(struct hc_card *card, uint64_t size, uint64_t *off)
{
	return extent_alloc(card, &card->free_list, size, off);
}

void hc__mem_free(struct hc_card *card, uint64_t off, uint64_t size)
{
	extent_free(card, &card->free_list, off, size);
}

int hc__host_alloc(struct hc_card *card, uint64_t size, uint64_t *addr)
{
	return extent_alloc(card, &card->host_free, size, addr);
}

void hc__host_free(struct hc_card *card, uint64_t addr, uint64_t size)
{
	extent_free(card, &card->host_free, addr, size);
}

/* ---- interrupts ---- */

/*
 * Empty an interrupt fd (non-blocking): a pipe from hc-emud holds one 8-byte record per
 * interrupt. A read of a pipe returns all it holds up to the buffer's size, so a short read
 * emptied it: no second read() to hear EAGAIN, one system call per drain instead of two on
 * every sleep. (A record written after that read leaves the fd readable: a spurious
 * wake-up, never a lost one.) Stops at EOF too (the daemon is gone, the socket says so), and
 * after 64 full reads, in case the card raises faster than we read. True if anything was
 * pending.
 */
static bool drain_fd(int fd)
{
	char buf[512];
	bool any = false;
	ssize_t n;
	int i;

	for (i = 0; i < 64; i++) {
		n = read(fd, buf, sizeof(buf));
		if (n <= 0)
			break;
		any = true;
		if ((size_t)n < sizeof(buf))
			break;
	}
	return any;
}

/* Drain @qp's irq fd; qp->lock held. */
static void drain_irq_locked(struct hc_qp *qp)
{
	if (qp->irq_fd >= 0 && drain_fd(qp->irq_fd))
		qp->irq_seq++;
}

/* Wait for the control interrupt or @deadline; card->lock held. */
static int wait_ctrl_irq(struct hc_card *card, int64_t deadline)
{
	struct pollfd pfd = { .fd = card->irq_fd[HC_IRQ_CONTROL], .events = POLLIN };
	int64_t left = deadline - now_ms();
	int ret;

	if (left <= 0)
		return -ETIMEDOUT;
	/* a card that went away (or hung) acks nothing: say so now, not after the deadline
	 * (and a hung-up interrupt pipe would make this loop spin until then) */
	ret = hc__card_check(card);
	if (ret)
		return ret;
	if (poll(&pfd, 1, left > 100 ? 100 : (int)left) > 0)
		drain_fd(pfd.fd);
	return 0;
}

/* ---- queue pairs ---- */

static int qp_enable_locked(struct hc_card *card, struct hc_qp *qp)
{
	struct hc_card_qp *r = &card->regs->qp[qp->index];
	uint64_t sq_bytes = HC_RING_BYTES(HC_SQ_ENTRIES, sizeof(struct hc_sqe));
	uint64_t cq_bytes = HC_RING_BYTES(HC_CQ_ENTRIES, sizeof(struct hc_cqe));
	uint32_t sq_n = HC_SQ_ENTRIES, cq_n = HC_CQ_ENTRIES, seq;
	uint8_t *cq_mem;
	int64_t deadline;
	int ret;

	if (sq_n > card->regs->max_sq_entries || cq_n > card->regs->max_cq_entries)
		return -EPROTO;
	ret = hc__mem_alloc(card, sq_bytes, &qp->sq_off);
	if (ret)
		return ret;
	/* the CQ where the card writes it for us: host memory if we have it, so that reaping
	 * never reads card memory (on a PCIe card, an uncached read across the bus) */
	qp->cq_host = card->host_mem && !hc__host_alloc(card, cq_bytes, &qp->cq_off);
	if (!qp->cq_host) {
		ret = hc__mem_alloc(card, cq_bytes, &qp->cq_off);
		if (ret) {
			hc__mem_free(card, qp->sq_off, sq_bytes);
			return ret;
		}
	}
	cq_mem = (qp->cq_host ? card->host_mem : card->mem) + qp->cq_off;
	memset(card->mem + qp->sq_off, 0, HC_RING_HDR_SIZE);
	memset(cq_mem, 0, HC_RING_HDR_SIZE);
	hc_ring_init(&qp->sq, card->mem + qp->sq_off, sq_n, sizeof(struct hc_sqe));
	hc_ring_init(&qp->cq, cq_mem, cq_n, sizeof(struct hc_cqe));
	/* We always want completion interrupts: leave the CQ's NEED_WAKEUP set for good. */
	qp->cq.hdr->consumer_flags = HC_RING_CONSUMER_NEED_WAKEUP;
	qp->irq_vector = 1 + qp->index;
	qp->irq_fd = card->irq_fd[qp->irq_vector];

	r->sq_offset = qp->sq_off;
	r->cq_offset = qp->cq_off;
	r->sq_entries = sq_n;
	r->cq_entries = cq_n;
	r->irq_vector = qp->irq_vector;
	r->ctrl = HC_QP_CTRL_ENABLE | (qp->cq_host ? HC_QP_CTRL_CQ_HOST : 0);
	r->coalesce_count = 0;
	r->coalesce_usec = 0;
	seq = hc_ring_load(&r->ctrl_seq) + 1;
	hc_ring_store_release(&r->ctrl_seq, seq);
	card->ops->doorbell(card, HC_DOORBELL_CONTROL);
	deadline = now_ms() + HC_CTRL_TIMEOUT_MS;
	while (hc_ring_load_acquire(&r->ack_seq) != seq) {
		ret = wait_ctrl_irq(card, deadline);
		if (ret)
			goto fail;
	}
	if (hc_ring_load(&r->state) != HC_QP_STATE_ENABLED) {
		ret = -EPROTO;
		goto fail;
	}
	qp->enabled = 1;
	return 0;
fail:
	hc__mem_free(card, qp->sq_off, sq_bytes);
	if (qp->cq_host)
		hc__host_free(card, qp->cq_off, cq_bytes);
	else
		hc__mem_free(card, qp->cq_off, cq_bytes);
	return ret;
}

int hc__qp_get(struct hc_card *card, struct hc_qp **out)
{
	struct hc_qp *best = NULL;
	uint32_t i;
	int ret = 0;

	pthread_mutex_lock(&card->lock);
	/* Prefer an unused queue pair: a context alone on its QP never shares its irq fd. */
	for (i = 0; i < card->n_qps; i++)
		if (!best || card->qp[i].users < best->users)
			best = &card->qp[i];
	if (!best) {
		ret = -ENODEV;
	} else if (!best->enabled) {
		ret = qp_enable_locked(card, best);
	}
	if (!ret) {
		best->users++;
		*out = best;
	}
	pthread_mutex_unlock(&card->lock);
	return ret;
}

void hc__qp_put(struct hc_card *card, struct hc_qp *qp)
{
	pthread_mutex_lock(&card->lock);
	qp->users--;
	pthread_mutex_unlock(&card->lock);
}

/* ---- submission and completion ---- */

/* The socket transport's push: the @n SQEs as they are, published together, then the
 * doorbell if the card sleeps. */
int hc__direct_push_n(struct hc_card *card, struct hc_qp *qp, const struct hc_sqe *sqe,
		      unsigned n)
{
	int space = hc_ring_prod_space(&qp->sq);

	if (space < (int)n)
		return space < 0 ? -EIO : -EAGAIN;
	for (unsigned i = 0; i < n; i++)
		memcpy(hc_ring_prod_entry(&qp->sq, i), &sqe[i], sizeof(*sqe));
	hc_ring_prod_publish(&qp->sq, n);
	if (hc_ring_prod_need_wakeup(&qp->sq))
		card->ops->doorbell(card, HC_DOORBELL_QP(qp->index));
	return 0;
}

int hc__direct_push(struct hc_card *card, struct hc_qp *qp, const struct hc_sqe *sqe)
{
	return hc__direct_push_n(card, qp, sqe, 1);
}

int hc__submit(struct hc_card *card, struct hc_qp *qp, struct hc_sqe *sqe, struct hc_op *op)
{
	int ret = __atomic_load_n(&card->dead, __ATOMIC_RELAXED);

	/* a card that failed (gone, or broke the interface) gets no more work: its answers
	 * would be believed, whatever it does with its rings */
	if (ret)
		return ret;
	pthread_mutex_lock(&qp->lock);
	op->done = 0;
	op->user_data = ++qp->next_user_data;
	sqe->user_data = op->user_data;
	ret = card->ops->push(card, qp, sqe);
	if (!ret) {
		op->next = qp->ops;
		qp->ops = op;
	}
	pthread_mutex_unlock(&qp->lock);
	return ret;
}

/*
 * A linked PREFILL (HC_SQE_F_LINK) and the job it links (@sqe[0], @sqe[1]; @op[0], @op[1]),
 * published together (ops->push_n): no other SQE comes between them, both or neither, and
 * the card fetches them in one go. -EOPNOTSUPP for a transport without push_n.
 */
int hc__submit_linked(struct hc_card *card, struct hc_qp *qp, struct hc_sqe sqe[2],
		      struct hc_op *op[2])
{
	int ret = __atomic_load_n(&card->dead, __ATOMIC_RELAXED);

	if (ret)
		return ret;
	if (!card->ops->push_n)
		return -EOPNOTSUPP;
	pthread_mutex_lock(&qp->lock);
	for (int i = 0; i < 2; i++) {
		op[i]->done = 0;
		op[i]->user_data = qp->next_user_data + 1 + i;
		sqe[i].user_data = op[i]->user_data;
	}
	ret = card->ops->push_n(card, qp, sqe, 2);
	if (!ret) {
		qp->next_user_data += 2;
		for (int i = 0; i < 2; i++) {
			op[i]->next = qp->ops;
			qp->ops = op[i];
		}
	}
	pthread_mutex_unlock(&qp->lock);
	return ret;
}

static void reap_locked(struct hc_card *card, struct hc_qp *qp, int drain)
{
	struct hc_op **pp, *op;
	struct hc_cqe cqe;
	int avail, i;

	if (drain)
		drain_irq_locked(qp);
	avail = hc_ring_cons_avail(&qp->cq);
	if (avail < 0) {
		/*
		 * The CQ tail is more than a ring ahead of our head, or behind it: the card broke
		 * the ring protocol and nothing it posts can be read any more. Fail the card, or
		 * every wait would sleep (forever, while its heartbeat runs) for a completion.
		 */
		hc__card_fail(card, -EPROTO);
		return;
	}
	if (!avail)
		return;
	for (i = 0; i < avail; i++) {
		memcpy(&cqe, hc_ring_cons_entry(&qp->cq, i), sizeof(cqe));
		for (pp = &qp->ops; (op = *pp); pp = &op->next)
			if (op->user_data == cqe.user_data)
				break;
		if (!op)
			continue;	/* not ours (corrupt or stale): drop it */
		*pp = op->next;
		op->cqe = cqe;
		if (op->stream)
			hc__stream_complete(op->stream, &cqe);
		if (op->linked)
			hc__stream_prefill_done(op->linked, &cqe);
		if (op->autofree)
			free(op);
		else
			__atomic_store_n(&op->done, 1, __ATOMIC_RELEASE);
	}
	hc_ring_cons_release(&qp->cq, avail);
	if (card->ops->doorbell && hc_ring_cons_producer_waiting(&qp->cq))
		card->ops->doorbell(card, HC_DOORBELL_QP(qp->index));
}

void hc__reap(struct hc_card *card, struct hc_qp *qp)
{
	pthread_mutex_lock(&qp->lock);
	reap_locked(card, qp, 1);
	pthread_mutex_unlock(&qp->lock);
}

void hc__reap_nodrain(struct hc_card *card, struct hc_qp *qp)
{
	pthread_mutex_lock(&qp->lock);
	reap_locked(card, qp, 0);
	pthread_mutex_unlock(&qp->lock);
}

void hc__card_fail(struct hc_card *card, int err)
{
	int none = 0;

	__atomic_compare_exchange_n(&card->dead, &none, err, false, __ATOMIC_RELAXED,
				    __ATOMIC_RELAXED);
}

int hc__card_check(struct hc_card *card)
{
	int dead = __atomic_load_n(&card->dead, __ATOMIC_RELAXED);
	uint64_t hb;
	int64_t t;

	if (dead)
		return dead;
	if (card->ops->check) {
		dead = card->ops->check(card);
		if (dead) {
			hc__card_fail(card, dead);
			return __atomic_load_n(&card->dead, __ATOMIC_RELAXED);
		}
	}
	if (!card->regs)
		return 0;	/* the backend watches the heartbeat itself (kernel driver) */
	if (hc_ring_load(&card->regs->status) == HC_CARD_STATUS_ERROR)
		return -EIO;
	hb = hc_ring_load64(&card->regs->heartbeat);
	t = now_ms();
	if (hb != __atomic_load_n(&card->hb_last, __ATOMIC_RELAXED) ||
	    !__atomic_load_n(&card->hb_when, __ATOMIC_RELAXED)) {
		__atomic_store_n(&card->hb_last, hb, __ATOMIC_RELAXED);
		__atomic_store_n(&card->hb_when, t, __ATOMIC_RELAXED);
	} else if (t - __atomic_load_n(&card->hb_when, __ATOMIC_RELAXED) > HC_HANG_MS) {
		return -ETIMEDOUT;	/* hung (not sticky: a card reset may revive it) */
	}
	return 0;
}

int hc__wait_op(struct hc_card *card, struct hc_qp *qp, struct hc_op *op, int timeout_ms)
{
	int64_t deadline = timeout_ms < 0 ? -1 : now_ms() + timeout_ms;
	struct pollfd pfd[2] = { { .fd = qp->irq_fd, .events = POLLIN },
				 { .fd = card->sock, .events = POLLIN } };
	int done, slice, ret;

	for (;;) {
		pthread_mutex_lock(&qp->lock);
		reap_locked(card, qp, 1);
		done = op->done;
		/* A shared QP's fd may be drained by another thread: wake up now and then. */
		slice = qp->users > 1 ? 5 : HC_WAIT_SLICE_MS;
		pthread_mutex_unlock(&qp->lock);
		if (done)
			return 0;
		ret = hc__card_check(card);
		if (ret)
			return ret;
		if (deadline >= 0) {
			int64_t left = deadline - now_ms();

			if (left <= 0)
				return -ETIMEDOUT;
			if (left < slice)
				slice = (int)left;
		}
		if (qp->irq_fd < 0) {
			ret = card->ops->wait ? card->ops->wait(card, qp, NULL, slice) : -ENOSYS;
			if (ret < 0 && ret != -ETIME && ret != -ETIMEDOUT && ret != -EINTR)
				return ret;
			continue;
		}
		if (poll(pfd, card->sock >= 0 ? 2 : 1, slice) < 0 && errno != EINTR)
			return -errno;
	}
}

int hc__status_errno(const struct hc_cqe *cqe)
{
	switch (cqe->status) {
	case HC_STATUS_OK:
	case HC_STATUS_DONE_MAX_TOKENS:
	case HC_STATUS_DONE_STOP_TOKEN:
		return 0;
	case HC_STATUS_CANCELLED:
		return -ECANCELED;
	case HC_STATUS_CONTEXT_FULL:
		return -ENOSPC;
	case HC_STATUS_ERROR:
		switch (cqe->reason) {
		case HC_REASON_NO_CONTEXTS:
			return -EBUSY;
		case HC_REASON_NO_MEMORY:
			return -ENOMEM;
		case HC_REASON_BAD_CONTEXT:
		case HC_REASON_BAD_TOKEN:
		case HC_REASON_BAD_DESCRIPTOR:
		case HC_REASON_BAD_OFFSET:
		case HC_REASON_BAD_RING:
		case HC_REASON_BAD_STATE:
		case HC_REASON_BAD_OPCODE:
		case HC_REASON_BAD_VECTOR:
			return -EINVAL;
		default:
			return -EIO;
		}
	default:
		return -EIO;
	}
}

void hc__op_unlink(struct hc_qp *qp, struct hc_op *op)
{
	struct hc_op **pp;

	pthread_mutex_lock(&qp->lock);
	for (pp = &qp->ops; *pp; pp = &(*pp)->next)
		if (*pp == op) {
			*pp = op->next;
			break;
		}
	pthread_mutex_unlock(&qp->lock);
}

int hc__exec_timeout(struct hc_card *card, struct hc_qp *qp, struct hc_sqe *sqe,
		     struct hc_cqe *cqe, int timeout_ms)
{
	struct hc_op op = { 0 };
	int ret;

	ret = hc__submit(card, qp, sqe, &op);
	if (ret)
		return ret;
	ret = hc__wait_op(card, qp, &op, timeout_ms);
	if (ret) {
		hc__op_unlink(qp, &op);	/* gone or too late: never complete into our stack */
		return ret;
	}
	*cqe = op.cqe;
	return 0;
}

int hc__exec(struct hc_card *card, struct hc_qp *qp, struct hc_sqe *sqe, struct hc_cqe *cqe)
{
	return hc__exec_timeout(card, qp, sqe, cqe, -1);
}

/* ---- open / close ---- */

static int load_tokenizer(struct hc_card *card)
{
	const struct hc_card_regs *r = card->regs;
	uint64_t off = r->tokenizer_offset, len = r->tokenizer_size;
	char err[256];
	void *copy;
	int ret;

	if (!(r->caps & HC_CAP_TOKENIZER) || !off || !len)
		return 0;	/* text functions then answer -EOPNOTSUPP */
	if (off < HC_CARD_REGS_SIZE || off > card->mem_size || len > card->mem_size - off)
		return -EPROTO;
	/*
	 * hc_tok_load validates every length and index, but it was written for files: it may
	 * read a byte twice (a token's type is stored, then checked on a second read), and the
	 * card can rewrite its memory in between. Parse a private copy.
	 */
	copy = malloc(len);
	if (!copy)
		return -ENOMEM;
	memcpy(copy, card->mem + off, len);
	ret = hc_tok_load(copy, len, &card->tok, err, sizeof(err));
	free(copy);
	if (ret < 0)
		return ret == -ENOMEM ? -ENOMEM : -EPROTO;
	return 0;
}

int hc__card_setup(struct hc_card *card)
{
	struct hc_card_regs *r = card->regs;
	struct hc_card_info *in = &card->info;
	int64_t deadline = now_ms() + HC_CTRL_TIMEOUT_MS;
	uint64_t mem_size, data_offset, data_size;
	uint32_t i, nq;
	int ret;

	if (card->mem_size < HC_CARD_REGS_SIZE || r->magic != HC_CARD_MAGIC ||
	    r->regs_size != HC_CARD_REGS_SIZE || r->version != HC_CARD_VERSION)
		return -EPROTO;
	while (hc_ring_load_acquire(&r->status) != HC_CARD_STATUS_READY) {
		if (now_ms() > deadline)
			return -ETIMEDOUT;
		if (card->ops->check && (ret = card->ops->check(card)))
			return ret;	/* the card went away before it was ready */
		usleep(1000);
	}
	/*
	 * The card may rewrite its register page at any time: check copies, once. Values the
	 * interface cannot have (more queue pairs or vectors than the page has room for, memory
	 * past the mapping, no stream ring size) mean a broken card, not one to work around.
	 */
	mem_size = hc_ring_load64(&r->mem_size);
	data_offset = hc_ring_load64(&r->data_offset);
	data_size = hc_ring_load64(&r->data_size);
	if (data_offset < HC_CARD_REGS_SIZE || mem_size > card->mem_size ||
	    data_offset > mem_size || data_size > mem_size - data_offset)
		return -EPROTO;
	nq = hc_ring_load(&r->n_queue_pairs);
	if (nq > HC_CARD_MAX_QP || hc_ring_load(&r->n_doorbells) > 1 + HC_CARD_MAX_QP ||
	    hc_ring_load(&r->n_irq_vectors) > 1 + HC_CARD_MAX_QP ||
	    !hc_ring_load(&r->max_stream_entries))
		return -EPROTO;
	/* fewer doorbells or interrupts than queue pairs: use the queue pairs we can signal */
	if (nq + 1 > (uint32_t)card->n_doorbells)
		nq = card->n_doorbells > 0 ? card->n_doorbells - 1 : 0;
	if (nq + 1 > (uint32_t)card->n_irqs)
		nq = card->n_irqs > 0 ? card->n_irqs - 1 : 0;
	if (!nq)
		return -EPROTO;
	card->n_qps = nq;
	for (i = 0; i < nq; i++) {
		card->qp[i].card = card;
		card->qp[i].index = i;
		card->qp[i].irq_fd = -1;
		pthread_mutex_init(&card->qp[i].lock, NULL);
	}

	memset(in, 0, sizeof(*in));
	memcpy(in->model_name, r->model_name, sizeof(in->model_name));
	in->model_name[sizeof(in->model_name) - 1] = 0;
	memcpy(in->identity, r->model_identity, sizeof(in->identity));
	in->interface_version = r->version;
	in->vocab_size = r->vocab_size;
	in->dim = r->dim;
	in->n_layers = r->n_layers;
	in->n_heads = r->n_heads;
	in->n_kv_heads = r->n_kv_heads;
	in->ffn_dim = r->ffn_dim;
	in->model_max_ctx = r->max_ctx;
	in->n_contexts = r->max_contexts;
	in->max_ctx = r->max_ctx_len;
	in->n_queue_pairs = nq;
	in->max_queue_entries = r->max_sq_entries;
	in->stream_mem_bytes = r->data_size;
	in->capabilities = r->caps;
	memset(&card->versions, 0, sizeof(card->versions));
	card->versions.interface_version = r->version;
	card->versions.fw_version = r->fw_version;	/* no driver between us and the card */
	card->max_prefill = r->max_prefill_tokens;
	card->max_stream_entries = r->max_stream_entries;

	{
		card->free_list = calloc(1, sizeof(*card->free_list));
		if (!card->free_list)
			return -ENOMEM;
		card->free_list->off = ALIGN_UP(data_offset, HC_CARD_RING_ALIGN);
		if (card->free_list->off >= card->mem_size)
			return -EPROTO;
		card->free_list->len = (card->mem_size - card->free_list->off) &
				       ~(uint64_t)(HC_CARD_RING_ALIGN - 1);
	}
	ret = load_tokenizer(card);
	return ret;
}

void hc__qp_drop_ops(struct hc_qp *qp)
{
	struct hc_op *op, *next;

	pthread_mutex_lock(&qp->lock);
	for (op = qp->ops; op; op = next) {
		next = op->next;
		if (op->autofree)
			free(op);	/* its completion never came (card gone or hung) */
	}
	qp->ops = NULL;
	pthread_mutex_unlock(&qp->lock);
}

static void card_free(struct hc_card *card)
{
	struct hc_extent *e, *n;
	uint32_t i;

	for (i = 0; i < card->n_qps; i++)
		hc__qp_drop_ops(&card->qp[i]);

	if (card->uring)
		hc__uring_free(card->uring);	/* before its polled fds are closed */
	if (card->ops && card->ops->release)
		card->ops->release(card);
	for (e = card->free_list; e; e = n) {
		n = e->next;
		free(e);
	}
	for (e = card->host_free; e; e = n) {
		n = e->next;
		free(e);
	}
	for (i = 0; i < card->n_qps; i++)
		pthread_mutex_destroy(&card->qp[i].lock);
	if (card->tok)
		hc_tok_free(card->tok);
	pthread_mutex_destroy(&card->lock);
	pthread_mutex_destroy(&card->alloc_lock);
	pthread_mutex_destroy(&card->wait_lock);
	free(card);
}

static int open_uri(const char *uri, struct hc_card **out)
{
	char path[HC_URI_MAX];
	enum hc_backend be;
	struct hc_card *card;
	int ret, i;

	ret = hc_parse_uri(uri, &be, path, sizeof(path));
	if (ret)
		return ret;
	card = calloc(1, sizeof(*card));
	if (!card)
		return -ENOMEM;
	pthread_mutex_init(&card->lock, NULL);
	pthread_mutex_init(&card->alloc_lock, NULL);
	pthread_mutex_init(&card->wait_lock, NULL);
	card->sock = -1;
	for (i = 0; i < 1 + HC_CARD_MAX_QP; i++)
		card->doorbell_fd[i] = card->irq_fd[i] = -1;
	ret = be == HC_BACKEND_EMU ? hc_emu_open(card, path) : hc_kernel_open(card, path);
	if (ret) {
		card_free(card);
		return ret;
	}
	*out = card;
	return 0;
}

int hc_open(const char *uri, struct hc_card **out)
{
	struct hc_device_desc d[16];
	size_t n = 0, i;
	int ret, first = -ENOENT;

	if (!out)
		return -EINVAL;
	if (uri)
		return open_uri(uri, out);
	ret = hc_list_devices(d, 16, &n);
	if (ret && ret != -ENOSPC)
		return ret;
	for (i = 0; i < n && i < 16; i++) {
		ret = open_uri(d[i].uri, out);
		if (!ret)
			return 0;
		if (i == 0)
			first = ret;
	}
	return first;
}

void hc_close(struct hc_card *card)
{
	struct hc_ctx *ctx;

	if (!card)
		return;
	/* Contexts still open are closed on the card (or die with the connection). */
	while ((ctx = card->ctxs))
		hc_ctx_destroy(ctx);
	card_free(card);
}

/* ---- information ---- */

int hc_card_info(struct hc_card *card, struct hc_card_info *info)
{
	if (!card || !info)
		return -EINVAL;
	*info = card->info;
	if (card->regs) {
		info->status = hc_ring_load(&card->regs->status);
		info->error_code = hc_ring_load(&card->regs->error);
	}
	return 0;
}

int hc_card_versions(struct hc_card *card, struct hc_card_versions *v)
{
	if (!card || !v)
		return -EINVAL;
	*v = card->versions;
	return 0;
}

int hc_card_telemetry(struct hc_card *card, struct hc_telemetry *t)
{
	struct hc_card_regs *r;

	if (!card || !t)
		return -EINVAL;
	if (!card->regs)
		return card->ops->telemetry ? card->ops->telemetry(card, t) : -EOPNOTSUPP;
	r = card->regs;
	memset(t, 0, sizeof(*t));
	t->heartbeat = hc_ring_load64(&r->heartbeat);
	t->tokens_generated = hc_ring_load64(&r->telemetry.tokens_generated);
	t->prompt_tokens = hc_ring_load64(&r->telemetry.prompt_tokens);
	t->jobs_completed = hc_ring_load64(&r->telemetry.jobs_completed);
	t->jobs_failed = hc_ring_load64(&r->telemetry.jobs_failed);
	t->busy_ns = hc_ring_load64(&r->telemetry.busy_ns);
	t->contexts_in_use = hc_ring_load64(&r->telemetry.contexts_in_use);
	t->temperature_mc = hc_ring_load64(&r->telemetry.temperature_mc);
	t->power_uw = hc_ring_load64(&r->telemetry.power_uw);
	t->energy_uj = hc_ring_load64(&r->telemetry.energy_uj);
	t->uptime_ns = hc_ring_load64(&r->telemetry.uptime_ns);
	t->clients = hc_ring_load64(&r->telemetry.functions_active);
	t->my_contexts = hc_ring_load(&r->fn_contexts_in_use);
	return 0;
}

char *hc_identity_hex(const uint8_t identity[32], char hex[65])
{
	static const char digits[] = "0123456789abcdef";
	int i;

	for (i = 0; i < 32; i++) {
		hex[2 * i] = digits[identity[i] >> 4];
		hex[2 * i + 1] = digits[identity[i] & 15];
	}
	hex[64] = 0;
	return hex;
}
