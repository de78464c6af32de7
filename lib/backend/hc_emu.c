// SPDX-License-Identifier: MIT
/*
 * Socket transport to hc-emud: hello/welcome on a UNIX socket, then the card memory memfd,
 * the write ends of the doorbell pipes and the read ends of the interrupt pipes arrive with
 * SCM_RIGHTS. Nothing else crosses the socket. (Pipes: the daemon keeps the other ends, which
 * nothing we do to ours can make blocking.)
 *
 * Host memory (HC_CAP_HOST_MEMORY): we pass a sealed memfd of our own with the hello, and the
 * card writes our CQs and stream rings there, as a PCIe card writes them into host RAM by
 * DMA; we then read only our own memory on the hot path. HC_EMU_HOST_MEMORY=0 in the
 * environment keeps everything in card memory (and talks to daemons older than 1.0.0's).
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>
#include "hc_internal.h"

/*
 * write(2) on a pipe whose reader is gone (the daemon died) raises SIGPIPE, which would kill
 * an application that never asked for pipes. Block it in this thread around the write, and
 * take back a SIGPIPE that we caused (one already pending before stays pending).
 */
static void write_nosigpipe(int fd, const void *buf, size_t len)
{
	sigset_t pipe_set, pending, old;
	int was_pending;

	sigemptyset(&pipe_set);
	sigaddset(&pipe_set, SIGPIPE);
	pthread_sigmask(SIG_BLOCK, &pipe_set, &old);
	sigpending(&pending);
	was_pending = sigismember(&pending, SIGPIPE);
	if (write(fd, buf, len) < 0 && errno == EPIPE && !was_pending)
		sigtimedwait(&pipe_set, NULL, &(struct timespec){ 0, 0 });
	pthread_sigmask(SIG_SETMASK, &old, NULL);
}

static void emu_doorbell(struct hc_card *card, uint32_t vector)
{
	uint64_t one = 1;

	/* EAGAIN: the pipe is full of rings the card has not read yet; it will. EPIPE: the
	 * card is gone, which the connection's EOF reports. */
	if (vector < (uint32_t)card->n_doorbells && card->doorbell_fd[vector] >= 0)
		write_nosigpipe(card->doorbell_fd[vector], &one, sizeof(one));
}

static void emu_release(struct hc_card *card)
{
	int i;

	if (card->mem)
		munmap(card->mem, card->mem_size);
	if (card->host_mem)
		munmap(card->host_mem, card->host_size);
	for (i = 0; i < 1 + HC_CARD_MAX_QP; i++) {
		if (card->doorbell_fd[i] >= 0)
			close(card->doorbell_fd[i]);
		if (card->irq_fd[i] >= 0)
			close(card->irq_fd[i]);
	}
	if (card->sock >= 0)
		close(card->sock);
}

/*
 * Contexts are card-side objects opened with an SQE on a queue pair of ours. CONTEXT_OPEN and
 * CONTEXT_CLOSE take effect when the card fetches them and never wait behind queued work
 * (docs/card-interface.md), so a card that does not answer one within HC_CTRL_TIMEOUT_MS is
 * broken even if its heartbeat runs: give up with -ETIMEDOUT, as the kernel driver gives up
 * on its own internal jobs, rather than hang hc_ctx_create or hc_close forever.
 */
static int emu_ctx_open(struct hc_card *card, struct hc_ctx *ctx)
{
	struct hc_sqe sqe = { .opcode = HC_OP_CONTEXT_OPEN };
	struct hc_cqe cqe;
	int ret;

	ret = hc__qp_get(card, &ctx->qp);
	if (ret)
		return ret;
	ret = hc__exec_timeout(card, ctx->qp, &sqe, &cqe, HC_CTRL_TIMEOUT_MS);
	if (!ret)
		ret = hc__status_errno(&cqe);
	if (ret) {
		hc__qp_put(card, ctx->qp);
		return ret;
	}
	ctx->id = cqe.ctx_id;
	return 0;
}

static void emu_ctx_close(struct hc_card *card, struct hc_ctx *ctx)
{
	struct hc_sqe sqe = { .opcode = HC_OP_CONTEXT_CLOSE };
	struct hc_cqe cqe;

	sqe.ctx_id = ctx->id;
	hc__exec_timeout(card, ctx->qp, &sqe, &cqe, HC_CTRL_TIMEOUT_MS);
	hc__qp_put(card, ctx->qp);
}

static int emu_cancel(struct hc_card *card, struct hc_ctx *ctx)
{
	struct hc_sqe sqe = { .opcode = HC_OP_CANCEL };
	struct hc_op *op = calloc(1, sizeof(*op));
	int ret;

	if (!op)
		return -ENOMEM;
	op->autofree = 1;	/* nobody waits for the CANCEL's own completion */
	sqe.ctx_id = ctx->id;
	ret = hc__submit(card, ctx->qp, &sqe, op);
	if (ret)
		free(op);
	return ret;
}

/*
 * Buffers: a stream ring (the card writes it) in host memory when we have it, with the cookie
 * its bus address | EMU_COOKIE_HOST; everything else, and streams once host memory is full,
 * in card memory at the offset the SQE carries.
 */
#define EMU_COOKIE_HOST (1ULL << 63)
/* Our host memory: the CQs and a thousand 4096-entry streams (16 KiB each); a page takes
 * RAM only once the card writes it. Streams that do not fit go to card memory. */
#define EMU_HOST_MEM_SIZE (16ULL << 20)

static int emu_buf_alloc(struct hc_card *card, enum hc_buf_kind kind, uint64_t size,
			 uint64_t *cookie, void **ptr)
{
	int ret;

	if (kind == HC_BUF_STREAM && card->host_mem && !hc__host_alloc(card, size, cookie)) {
		*ptr = card->host_mem + *cookie;
		*cookie |= EMU_COOKIE_HOST;
		return 0;
	}
	ret = hc__mem_alloc(card, size, cookie);
	if (!ret)
		*ptr = card->mem + *cookie;
	return ret;
}

static void emu_buf_free(struct hc_card *card, enum hc_buf_kind kind, uint64_t cookie, void *ptr,
			 uint64_t size)
{
	(void)kind;
	(void)ptr;
	if (cookie & EMU_COOKIE_HOST)
		hc__host_free(card, cookie & ~EMU_COOKIE_HOST, size);
	else
		hc__mem_free(card, cookie, size);
}

/* A DECODE whose stream is in host memory names it by bus address, flagged as such. */
static void emu_sqe(struct hc_sqe *s)
{
	if (s->opcode == HC_OP_DECODE && (s->decode.stream_offset & EMU_COOKIE_HOST)) {
		s->flags |= HC_SQE_F_STREAM_HOST;
		s->decode.stream_offset &= ~EMU_COOKIE_HOST;
	}
}

/* At most two: single SQEs and a linked PREFILL with its DECODE (hc__submit_linked). */
static int emu_push_n(struct hc_card *card, struct hc_qp *qp, const struct hc_sqe *sqe,
		      unsigned n)
{
	struct hc_sqe s[2];

	if (n > 2)
		return -EINVAL;
	for (unsigned i = 0; i < n; i++) {
		s[i] = sqe[i];
		emu_sqe(&s[i]);
	}
	return hc__direct_push_n(card, qp, s, n);
}

static int emu_push(struct hc_card *card, struct hc_qp *qp, const struct hc_sqe *sqe)
{
	return emu_push_n(card, qp, sqe, 1);
}

static void emu_stream_kick(struct hc_card *card, struct hc_stream_impl *si)
{
	emu_doorbell(card, HC_DOORBELL_QP(si->ctx->qp->index));
}

/*
 * The daemon never sends after the welcome: a readable socket means EOF or an error. Nor does
 * it close its ends of the pipes while it serves us: an interrupt pipe that hangs up can never
 * signal again and a doorbell pipe that errs can never be heard, so either also means the
 * card is gone (waits would otherwise sleep out their slices forever, or spin on the hang-up).
 */
static int emu_check(struct hc_card *card)
{
	struct pollfd pfd[1 + 2 * (1 + HC_CARD_MAX_QP)];
	int n = 0, i;

	pfd[n++] = (struct pollfd){ .fd = card->sock, .events = POLLIN };
	for (i = 0; i < card->n_irqs; i++)
		pfd[n++] = (struct pollfd){ .fd = card->irq_fd[i] };	/* POLLHUP only */
	for (i = 0; i < card->n_doorbells; i++)
		pfd[n++] = (struct pollfd){ .fd = card->doorbell_fd[i] };	/* POLLERR only */
	if (poll(pfd, n, 0) <= 0)
		return 0;
	for (i = 0; i < n; i++)
		if (pfd[i].revents & (POLLIN | POLLHUP | POLLERR))
			return -ECONNRESET;
	return 0;
}

static const struct hc_card_ops emu_ops = {
	.name = "emu",
	.release = emu_release,
	.ctx_open = emu_ctx_open,
	.ctx_close = emu_ctx_close,
	.push = emu_push,
	.push_n = emu_push_n,
	.cancel = emu_cancel,
	.buf_alloc = emu_buf_alloc,
	.buf_free = emu_buf_free,
	.stream_kick = emu_stream_kick,
	.check = emu_check,
	.doorbell = emu_doorbell,
};

/*
 * Our host memory: a memfd sealed so that neither side can truncate it under the other's
 * mapping (the daemon refuses one without F_SEAL_SHRINK and F_SEAL_SEAL). Pages are
 * allocated as the card writes them. fd or negative errno; the mapping in card->host_mem.
 */
static int host_memory_create(struct hc_card *card)
{
	int fd = memfd_create("hc-host-memory", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	void *p;

	if (fd < 0)
		return -errno;
	if (ftruncate(fd, EMU_HOST_MEM_SIZE) < 0 ||
	    fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL) < 0)
		goto fail;
	p = mmap(NULL, EMU_HOST_MEM_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (p == MAP_FAILED)
		goto fail;
	card->host_mem = p;
	card->host_size = EMU_HOST_MEM_SIZE;
	return fd;
fail:
	close(fd);
	return -errno;
}

/* Allocations start one page in, so that bus address 0 is never a ring. */
static int host_memory_setup(struct hc_card *card)
{
	if (!(card->info.capabilities & HC_CAP_HOST_MEMORY)) {
		munmap(card->host_mem, card->host_size);
		card->host_mem = NULL;
		card->host_size = 0;
		return 0;
	}
	card->host_free = calloc(1, sizeof(*card->host_free));
	if (!card->host_free)
		return -ENOMEM;
	card->host_free->off = 4096;
	card->host_free->len = card->host_size - 4096;
	return 0;
}

/* The hello, with our host memory's memfd if @host_fd >= 0. Bytes sent or -1 (errno). */
static ssize_t send_hello(int sock, const struct hc_emu_hello *hello, int host_fd)
{
	union {
		struct cmsghdr h;
		char buf[CMSG_SPACE(sizeof(int))];
	} cbuf;
	struct iovec iov = { .iov_base = (void *)hello, .iov_len = sizeof(*hello) };
	struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1 };
	struct cmsghdr *c;
	ssize_t n;

	if (host_fd >= 0) {
		memset(&cbuf, 0, sizeof(cbuf));
		msg.msg_control = cbuf.buf;
		msg.msg_controllen = sizeof(cbuf.buf);
		c = CMSG_FIRSTHDR(&msg);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(c), &host_fd, sizeof(int));
	}
	do
		n = sendmsg(sock, &msg, MSG_NOSIGNAL);
	while (n < 0 && errno == EINTR);
	return n;
}

static void close_fds(const int *fds, int n)
{
	int i;

	for (i = 0; i < n; i++)
		close(fds[i]);
}

int hc_emu_open(struct hc_card *card, const char *sock_path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct hc_emu_hello hello;
	struct hc_emu_welcome w;
	union {
		struct cmsghdr h;
		char buf[CMSG_SPACE(sizeof(int) * HC_EMU_MAX_FDS)];
	} cbuf;
	struct iovec iov = { .iov_base = &w, .iov_len = sizeof(w) };
	struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf.buf,
			      .msg_controllen = sizeof(cbuf.buf) };
	struct cmsghdr *c;
	struct timeval tmo = { HC_CTRL_TIMEOUT_MS / 1000, HC_CTRL_TIMEOUT_MS % 1000 * 1000 };
	int fds[HC_EMU_MAX_FDS], n_fds = 0, i, fd, seals, host_fd = -1, ret;
	const char *env = getenv("HC_EMU_HOST_MEMORY");
	struct stat st;
	ssize_t n;
	void *mem;

	card->ops = &emu_ops;
	if (strlen(sock_path) >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	strcpy(sa.sun_path, sock_path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	card->sock = fd;
	/*
	 * A card that never accepts (its backlog full) or never answers the hello would block
	 * connect() or recvmsg() forever: bound the handshake like any control step.
	 */
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tmo, sizeof(tmo));
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tmo, sizeof(tmo));
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		return errno == EAGAIN ? -ETIMEDOUT : -errno;	/* ENOENT: no socket;
								   ECONNREFUSED: nobody listening */

	memset(&hello, 0, sizeof(hello));
	hello.hdr.magic = HC_CARD_MAGIC;
	hello.hdr.type = HC_EMU_MSG_HELLO;
	hello.hdr.size = sizeof(hello);
	hello.version = HC_EMU_PROTO_VERSION;
	if (!env || strcmp(env, "0")) {
		host_fd = host_memory_create(card);
		if (host_fd < 0)
			return host_fd;
		hello.flags = HC_EMU_HELLO_HOST_MEMORY;
		hello.host_mem_size = card->host_size;
	}
	n = send_hello(fd, &hello, host_fd);
	if (host_fd >= 0)
		close(host_fd);	/* the daemon has its own now; our mapping stays */
	if (n != sizeof(hello))
		return n < 0 ? (errno == EAGAIN ? -ETIMEDOUT : -errno) : -EPROTO;

	memset(&w, 0, sizeof(w));
	do
		n = recvmsg(fd, &msg, MSG_CMSG_CLOEXEC | MSG_WAITALL);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return errno == EAGAIN ? -ETIMEDOUT : -errno;
	for (c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c)) {
		if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS) {
			int k = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int), j;

			/* CMSG_SPACE rounds up: the kernel may install one more than we keep;
			 * close what does not fit rather than leak it */
			for (j = 0; j < k; j++) {
				int got;

				memcpy(&got, CMSG_DATA(c) + j * sizeof(int), sizeof(int));
				if (n_fds < HC_EMU_MAX_FDS)
					fds[n_fds++] = got;
				else
					close(got);
			}
		}
	}
	if (n != sizeof(w) || (msg.msg_flags & MSG_CTRUNC) || w.hdr.magic != HC_CARD_MAGIC ||
	    w.hdr.type != HC_EMU_MSG_WELCOME || w.hdr.size != sizeof(w)) {
		close_fds(fds, n_fds);
		return n == 0 ? -ECONNRESET : -EPROTO;
	}
	if (w.status) {
		/* 0 or a negative errno: anything else would reach the caller as a bogus code
		 * (or, positive, as a success without a card) */
		close_fds(fds, n_fds);
		return w.status < 0 && w.status >= -4095 ? w.status : -EPROTO;
	}
	if (w.version != HC_EMU_PROTO_VERSION || w.n_doorbells < 2 || w.n_irq_vectors < 2 ||
	    w.n_doorbells > 1 + HC_CARD_MAX_QP || w.n_irq_vectors > 1 + HC_CARD_MAX_QP ||
	    w.n_fds != 1 + w.n_doorbells + w.n_irq_vectors || (uint32_t)n_fds != w.n_fds ||
	    w.mem_size < HC_CARD_REGS_SIZE || w.mem_size > (1ULL << 40)) {
		close_fds(fds, n_fds);
		return -EPROTO;
	}
	/*
	 * Doorbells must be write ends of pipes and interrupts read ends: rings into anything
	 * else go nowhere, and a wrong interrupt fd never polls readable (a write end) or always
	 * does (a file), which would turn every wait into a timeout or a busy loop.
	 */
	for (i = 0; i < (int)(w.n_doorbells + w.n_irq_vectors); i++) {
		int fl = fcntl(fds[1 + i], F_GETFL);

		if (fstat(fds[1 + i], &st) < 0 || !S_ISFIFO(st.st_mode) || fl < 0 ||
		    (fl & O_ACCMODE) != (i < (int)w.n_doorbells ? O_WRONLY : O_RDONLY)) {
			close_fds(fds, n_fds);
			return -EPROTO;
		}
	}
	card->n_doorbells = w.n_doorbells;
	card->n_irqs = w.n_irq_vectors;
	for (i = 0; i < (int)w.n_doorbells; i++)
		card->doorbell_fd[i] = fds[1 + i];
	for (i = 0; i < (int)w.n_irq_vectors; i++) {
		card->irq_fd[i] = fds[1 + w.n_doorbells + i];
		/* reads drain until EAGAIN; they must never block */
		fcntl(card->irq_fd[i], F_SETFL, fcntl(card->irq_fd[i], F_GETFL) | O_NONBLOCK);
	}
	for (i = 0; i < (int)w.n_doorbells; i++)
		fcntl(card->doorbell_fd[i], F_SETFL,
		      fcntl(card->doorbell_fd[i], F_GETFL) | O_NONBLOCK);
	/*
	 * A memfd shorter than announced would SIGBUS us on access; so would one the card
	 * truncates later, unless it is sealed against shrinking (hc-emud seals it, as the
	 * card interface says). Anything that is not such a memfd (a pipe, a socket, a file)
	 * fails F_GET_SEALS or lacks the seal.
	 */
	seals = fcntl(fds[0], F_GET_SEALS);
	if (fstat(fds[0], &st) < 0 || (uint64_t)st.st_size < w.mem_size || seals < 0 ||
	    !(seals & F_SEAL_SHRINK)) {
		close(fds[0]);
		return -EPROTO;
	}
	mem = mmap(NULL, w.mem_size, PROT_READ | PROT_WRITE, MAP_SHARED, fds[0], 0);
	close(fds[0]);
	if (mem == MAP_FAILED)
		return -errno;
	card->mem = mem;
	card->mem_size = w.mem_size;
	card->regs = mem;
	ret = hc__card_setup(card);
	return ret ? ret : host_memory_setup(card);
}
