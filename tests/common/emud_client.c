// SPDX-License-Identifier: MIT
/*
 * The raw card-interface client of the tests (see emud_client.h): the hello handshake over
 * hc-emud's socket and the ivshmem protocol of its PCI transport, queue pairs, SQE/CQE
 * traffic, stream rings, and starting and stopping the daemon.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include "emud_client.h"

uint64_t tc_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

void tc_nap(void)
{
	struct timespec ts = { 0, 1000000 };

	nanosleep(&ts, NULL);
}

int tc_sock_connect(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	size_t len = strlen(path);
	int fd;

	if (len >= sizeof(sa.sun_path)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	memcpy(sa.sun_path, path, len + 1);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

int tc_connect(struct tc *c, const char *path, uint64_t mem_size)
{
	return tc_hello(c, path, mem_size, 0, 0, NULL, 0);
}

int tc_memfd(uint64_t size, int seals)
{
	int fd = memfd_create("tc-host", MFD_CLOEXEC | MFD_ALLOW_SEALING);

	if (fd < 0)
		return -1;
	if (ftruncate(fd, (off_t)size) < 0 || (seals && fcntl(fd, F_ADD_SEALS, seals) < 0)) {
		close(fd);
		return -1;
	}
	return fd;
}

int tc_connect_host(struct tc *c, const char *path, uint64_t host_size)
{
	int fd = tc_memfd(host_size, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL), rc;
	void *p;

	if (fd < 0)
		return -errno;
	rc = tc_hello(c, path, 0, HC_EMU_HELLO_HOST_MEMORY, host_size, &fd, 1);
	if (!rc) {
		p = mmap(NULL, host_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
		if (p == MAP_FAILED)
			rc = -errno;
		else {
			c->host_mem = p;
			c->host_size = host_size;
			c->host_brk = 4096;
			c->host_rings = 1;
			c->host_fd = fd;
			return 0;
		}
	}
	close(fd);
	return rc;
}

void *tc_ptr(struct tc *c, uint64_t off)
{
	return (c->host_rings ? c->host_mem : c->mem) + off;
}

/* Offset of @len fresh zeroed bytes of @mem (@size bytes, bump pointer *@brk), 64-aligned;
 * 0 when full. Card memory (tc_alloc) and host memory (tc_host_alloc) alike. */
static uint64_t bump_alloc(unsigned char *mem, uint64_t size, uint64_t *brk, uint64_t len)
{
	uint64_t off = (*brk + 63) & ~63ull;

	if (off + len > size)
		return 0;
	*brk = off + len;
	memset(mem + off, 0, len);
	return off;
}

static uint64_t tc_host_alloc(struct tc *c, uint64_t len)
{
	return bump_alloc(c->host_mem, c->host_size, &c->host_brk, len);
}

int tc_hello(struct tc *c, const char *path, uint64_t mem_size, uint32_t flags,
	     uint64_t host_size, const int *pass, int n_pass)
{
	struct hc_emu_hello h;
	struct hc_emu_welcome w;
	union {
		char buf[CMSG_SPACE(sizeof(int) * HC_EMU_MAX_FDS)];
		struct cmsghdr align;
	} u;
	struct iovec iov = { &w, sizeof(w) };
	struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.buf,
			      .msg_controllen = sizeof(u.buf) };
	struct cmsghdr *cm;
	int fds[HC_EMU_MAX_FDS];
	uint32_t i, nfds = 0;
	ssize_t n;

	memset(c, 0, sizeof(*c));
	c->sock = tc_sock_connect(path);
	if (c->sock < 0)
		return -errno;
	memset(&h, 0, sizeof(h));
	h.hdr.magic = HC_CARD_MAGIC;
	h.hdr.type = HC_EMU_MSG_HELLO;
	h.hdr.size = sizeof(h);
	h.version = HC_EMU_PROTO_VERSION;
	h.mem_size = mem_size;
	h.flags = flags;
	h.host_mem_size = host_size;
	{
		union {
			char buf[CMSG_SPACE(sizeof(int) * 4)];
			struct cmsghdr align;
		} o;
		struct iovec hv = { &h, sizeof(h) };
		struct msghdr hm = { .msg_iov = &hv, .msg_iovlen = 1 };

		if (n_pass > 0 && n_pass <= 4) {
			memset(&o, 0, sizeof(o));
			hm.msg_control = o.buf;
			hm.msg_controllen = CMSG_SPACE(sizeof(int) * (size_t)n_pass);
			cm = CMSG_FIRSTHDR(&hm);
			cm->cmsg_level = SOL_SOCKET;
			cm->cmsg_type = SCM_RIGHTS;
			cm->cmsg_len = CMSG_LEN(sizeof(int) * (size_t)n_pass);
			memcpy(CMSG_DATA(cm), pass, sizeof(int) * (size_t)n_pass);
		}
		if (sendmsg(c->sock, &hm, MSG_NOSIGNAL) != sizeof(h))
			return -EIO;
	}
	n = recvmsg(c->sock, &msg, MSG_CMSG_CLOEXEC);
	if (n != sizeof(w) || w.hdr.magic != HC_CARD_MAGIC || w.hdr.type != HC_EMU_MSG_WELCOME)
		return -EPROTO;
	if (w.status)
		return w.status;
	for (cm = CMSG_FIRSTHDR(&msg); cm; cm = CMSG_NXTHDR(&msg, cm))
		if (cm->cmsg_level == SOL_SOCKET && cm->cmsg_type == SCM_RIGHTS) {
			nfds = (uint32_t)((cm->cmsg_len - CMSG_LEN(0)) / sizeof(int));
			memcpy(fds, CMSG_DATA(cm), nfds * sizeof(int));
		}
	if (nfds != w.n_fds || nfds != 1 + w.n_doorbells + w.n_irq_vectors)
		return -EPROTO;
	c->memfd = fds[0];
	c->n_db = w.n_doorbells;
	c->n_irq = w.n_irq_vectors;
	c->id = w.client_id;
	for (i = 0; i < c->n_db; i++)
		c->db[i] = fds[1 + i];
	for (i = 0; i < c->n_irq; i++)
		c->irq[i] = fds[1 + c->n_db + i];
	c->mem_size = w.mem_size;
	c->mem = mmap(NULL, c->mem_size, PROT_READ | PROT_WRITE, MAP_SHARED, c->memfd, 0);
	if (c->mem == MAP_FAILED)
		return -errno;
	c->regs = (struct hc_card_regs *)c->mem;
	c->brk = c->regs->data_offset;
	c->next_user_data = 1000;
	return 0;
}

int tc_iv_recv(int sock, int64_t *val, int *fd)
{
	union {
		char buf[CMSG_SPACE(sizeof(int))];
		struct cmsghdr align;
	} u;
	struct iovec iov = { val, sizeof(*val) };
	struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.buf,
			      .msg_controllen = sizeof(u.buf) };
	struct cmsghdr *cm;

	*fd = -1;
	if (recvmsg(sock, &msg, MSG_CMSG_CLOEXEC | MSG_WAITALL) != sizeof(*val))
		return -1;
	for (cm = CMSG_FIRSTHDR(&msg); cm; cm = CMSG_NXTHDR(&msg, cm))
		if (cm->cmsg_level == SOL_SOCKET && cm->cmsg_type == SCM_RIGHTS)
			memcpy(fd, CMSG_DATA(cm), sizeof(int));
	return 0;
}

int tc_pci_connect(struct tc *c, const char *path)
{
	struct stat st;
	int64_t v, id;
	int fd, card_peer = 0;
	uint32_t i, n;

	memset(c, 0, sizeof(*c));
	c->memfd = -1;
	c->sock = tc_sock_connect(path);
	if (c->sock < 0)
		return -errno;
	if (tc_iv_recv(c->sock, &v, &fd) || v != 0 || fd != -1)
		return -EPROTO;		/* protocol version 0 */
	if (tc_iv_recv(c->sock, &id, &fd) || id < 0 || fd != -1)
		return -EPROTO;		/* our peer id */
	if (tc_iv_recv(c->sock, &v, &fd) || v != -1 || fd < 0)
		return -EPROTO;		/* the shared memory */
	c->memfd = fd;
	if (fstat(fd, &st) < 0)
		return -errno;
	c->mem_size = (uint64_t)st.st_size;
	c->mem = mmap(NULL, c->mem_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (c->mem == MAP_FAILED)
		return -errno;
	c->regs = (struct hc_card_regs *)c->mem;
	n = c->regs->n_doorbells;
	if (n < 2 || n > 1 + HC_CARD_MAX_QP || c->regs->n_irq_vectors != n)
		return -EPROTO;
	for (i = 0; i < n; i++) {
		if (tc_iv_recv(c->sock, &v, &fd) || v != card_peer || fd < 0)
			return -EPROTO;
		c->db[c->n_db++] = fd;
	}
	for (i = 0; i < n; i++) {
		if (tc_iv_recv(c->sock, &v, &fd) || v != id || fd < 0)
			return -EPROTO;
		c->irq[c->n_irq++] = fd;
	}
	c->id = (uint32_t)id;
	c->brk = c->regs->data_offset;
	c->next_user_data = 1000;
	return 0;
}

void tc_close(struct tc *c)
{
	uint32_t i;

	if (c->mem && c->mem != MAP_FAILED)
		munmap(c->mem, c->mem_size);
	if (c->host_mem) {
		munmap(c->host_mem, c->host_size);
		close(c->host_fd);
	}
	for (i = 0; i < c->n_db; i++)
		close(c->db[i]);
	for (i = 0; i < c->n_irq; i++)
		close(c->irq[i]);
	if (c->memfd >= 0)
		close(c->memfd);
	if (c->sock > 0)
		close(c->sock);
	memset(c, 0, sizeof(*c));
}

uint64_t tc_alloc(struct tc *c, uint64_t len)
{
	return bump_alloc(c->mem, c->mem_size, &c->brk, len);
}

void tc_ring(struct tc *c, uint32_t vector)
{
	uint64_t one = 1;

	/* a full doorbell pipe (EAGAIN) already holds rings the card has not read */
	if (write(c->db[vector], &one, sizeof(one)) != sizeof(one) && errno != EAGAIN)
		abort();
}

void tc_wait_irq(struct tc *c, uint32_t vector, int ms)
{
	struct pollfd p = { c->irq[vector], POLLIN, 0 };
	char buf[512];
	int i;

	/* a pipe (socket) holds 8 bytes per interrupt, an eventfd (PCI) a counter: read it empty */
	if (poll(&p, 1, ms) == 1)
		for (i = 0; i < 64 && read(c->irq[vector], buf, sizeof(buf)) > 0; i++)
			;
}

uint32_t tc_qp_setup(struct tc *c, uint32_t q, uint32_t sq_n, uint32_t cq_n, int enable)
{
	struct hc_card_qp *r = &c->regs->qp[q];
	uint64_t sq = tc_alloc(c, HC_RING_BYTES(sq_n, sizeof(struct hc_sqe)));
	uint64_t cq = c->host_rings ? tc_host_alloc(c, HC_RING_BYTES(cq_n, sizeof(struct hc_cqe))) :
				     tc_alloc(c, HC_RING_BYTES(cq_n, sizeof(struct hc_cqe)));
	uint32_t seq = r->ctrl_seq + 1;
	uint64_t t0 = tc_ms();

	r->sq_offset = sq;
	r->cq_offset = cq;
	r->sq_entries = sq_n;
	r->cq_entries = cq_n;
	r->irq_vector = 1 + q;
	r->ctrl = (enable ? HC_QP_CTRL_ENABLE : 0) | (c->host_rings ? HC_QP_CTRL_CQ_HOST : 0);
	r->coalesce_count = c->coalesce_count;
	r->coalesce_usec = c->coalesce_usec;
	hc_ring_store_release(&r->ctrl_seq, seq);
	tc_ring(c, HC_DOORBELL_CONTROL);
	while (hc_ring_load_acquire(&r->ack_seq) != seq && tc_ms() - t0 < TC_HANG_MS)
		tc_wait_irq(c, HC_IRQ_CONTROL, 100);
	if (hc_ring_load(&r->state) == HC_QP_STATE_ENABLED) {
		hc_ring_init(&c->sq, c->mem + sq, sq_n, sizeof(struct hc_sqe));
		hc_ring_init(&c->cq, tc_ptr(c, cq), cq_n, sizeof(struct hc_cqe));
		c->qp = q;
	}
	return hc_ring_load(&r->state);
}

void tc_submit(struct tc *c, const struct hc_sqe *sqe)
{
	uint64_t t0 = tc_ms();

	while (hc_ring_prod_space(&c->sq) <= (int)c->held && tc_ms() - t0 < TC_HANG_MS)
		tc_nap();
	memcpy(hc_ring_prod_entry(&c->sq, c->held), sqe, sizeof(*sqe));
	if (c->hold) {
		c->held++;
		return;
	}
	hc_ring_prod_publish(&c->sq, 1);
	if (hc_ring_prod_need_wakeup(&c->sq))
		tc_ring(c, HC_DOORBELL_QP(c->qp));
}

void tc_release(struct tc *c)
{
	hc_ring_prod_publish(&c->sq, c->held);
	c->held = 0;
	c->hold = 0;
	if (hc_ring_prod_need_wakeup(&c->sq))
		tc_ring(c, HC_DOORBELL_QP(c->qp));
}

int tc_cqe(struct tc *c, struct hc_cqe *out, int hang_ms)
{
	uint64_t t0 = tc_ms();

	for (;;) {
		int n = hc_ring_cons_avail(&c->cq);

		if (n > 0) {
			memcpy(out, hc_ring_cons_entry(&c->cq, 0), sizeof(*out));
			hc_ring_cons_release(&c->cq, 1);
			if (hc_ring_cons_producer_waiting(&c->cq))
				tc_ring(c, HC_DOORBELL_QP(c->qp));
			return 0;
		}
		if (tc_ms() - t0 > (uint64_t)hang_ms)
			return -ETIMEDOUT;
		if (hc_ring_cons_sleep_prepare(&c->cq) == 0)
			tc_wait_irq(c, c->regs->qp[c->qp].irq_vector, 100);
		hc_ring_cons_sleep_done(&c->cq);
	}
}

uint64_t tc_op(struct tc *c, uint8_t op, uint32_t ctx)
{
	struct hc_sqe s;

	memset(&s, 0, sizeof(s));
	s.opcode = op;
	s.ctx_id = ctx;
	s.user_data = c->next_user_data++;
	tc_submit(c, &s);
	return s.user_data;
}

struct hc_cqe tc_sync(struct tc *c, uint8_t op, uint32_t ctx)
{
	struct hc_cqe e;
	uint64_t ud = tc_op(c, op, ctx);

	memset(&e, 0xff, sizeof(e));
	if (tc_cqe(c, &e, TC_HANG_MS) == 0 && e.user_data != ud)
		e.status = 0xbeef;
	return e;
}

uint32_t tc_open(struct tc *c, uint32_t max_ctx)
{
	struct hc_sqe s;
	struct hc_cqe e;

	memset(&s, 0, sizeof(s));
	s.opcode = HC_OP_CONTEXT_OPEN;
	s.open.max_ctx = max_ctx;
	s.user_data = c->next_user_data++;
	tc_submit(c, &s);
	if (tc_cqe(c, &e, TC_HANG_MS) || e.user_data != s.user_data || e.status != HC_STATUS_OK)
		return 0;
	return e.ctx_id;
}

uint64_t tc_prefill(struct tc *c, uint32_t ctx, const int32_t *tok, uint32_t n)
{
	return tc_prefill_flags(c, ctx, tok, n, 0);
}

uint64_t tc_prefill_flags(struct tc *c, uint32_t ctx, const int32_t *tok, uint32_t n,
			  uint8_t flags)
{
	struct hc_sqe s;
	uint64_t off = tc_alloc(c, (uint64_t)n * 4);

	memcpy(c->mem + off, tok, (size_t)n * 4);
	memset(&s, 0, sizeof(s));
	s.opcode = HC_OP_PREFILL;
	s.flags = flags;
	s.ctx_id = ctx;
	s.user_data = c->next_user_data++;
	s.prefill.tokens_offset = off;
	s.prefill.n_tokens = n;
	tc_submit(c, &s);
	return s.user_data;
}

uint64_t tc_stream(struct tc *c, uint32_t entries)
{
	if (c->host_rings)
		return tc_host_alloc(c, HC_RING_BYTES(entries, 4));
	return tc_alloc(c, HC_RING_BYTES(entries, 4));
}

uint64_t tc_decode(struct tc *c, uint32_t ctx, uint64_t stream, uint32_t entries,
		   const struct tc_decode *d)
{
	struct hc_sqe s;

	memset(&s, 0, sizeof(s));
	s.opcode = HC_OP_DECODE;
	s.ctx_id = ctx;
	s.user_data = c->next_user_data++;
	s.flags = c->host_rings ? HC_SQE_F_STREAM_HOST : 0;
	s.decode.stream_offset = stream;
	s.decode.stream_entries = entries;
	s.decode.max_tokens = d->max_tokens;
	s.decode.temperature = tc_f32bits(d->temperature);
	s.decode.top_p = tc_f32bits(d->top_p);
	s.decode.top_k = d->top_k;
	s.decode.n_stop = d->n_stop;
	memcpy(s.decode.stop, d->stop, sizeof(s.decode.stop));
	s.decode.seed = d->seed;
	s.decode.step_base = d->step_base;
	s.decode.wakeup_usec = d->wakeup_usec;
	s.decode.wakeup_tokens = d->wakeup_tokens;
	tc_submit(c, &s);
	return s.user_data;
}

uint32_t tc_stream_take(struct tc *c, struct hc_ring *r, uint32_t *out, uint32_t max)
{
	uint32_t k = 0;
	int n = hc_ring_cons_avail(r);

	while (n > 0 && k < max) {
		out[k++] = hc_ring_load(hc_stream_entry(r, r->local));
		hc_ring_cons_release(r, 1);
		n--;
	}
	if (k && hc_ring_cons_producer_waiting(r))
		tc_ring(c, HC_DOORBELL_QP(c->qp));
	return k;
}

const char *emud_bin(void)
{
	const char *b = getenv("HC_TEST_EMUD_BIN");

	return b && b[0] ? b : "build/hc-emud";
}

int tc_notify_open(char *name, size_t len)
{
	static unsigned int seq;
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	size_t n;
	int fd;

	/* abstract ("@..." for sd_notify): no path to clean up, no sun_path length to mind */
	n = (size_t)snprintf(name, len, "@hc-test-notify-%d-%u", (int)getpid(), seq++);
	if (n >= len || n >= sizeof(sa.sun_path)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	memcpy(sa.sun_path + 1, name + 1, n - 1);
	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return -1;
	if (bind(fd, (struct sockaddr *)&sa, (socklen_t)(offsetof(struct sockaddr_un, sun_path) +
		 n)) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

int tc_notify_wait(int nfd, pid_t pid, const char *what, int ms)
{
	struct pollfd p[2] = { { nfd, POLLIN, 0 }, { -1, POLLIN, 0 } };
	uint64_t t0 = tc_ms();
	char msg[4096];
	int rc = -ETIMEDOUT;

	/* a pidfd turns "the daemon died first" into an event as well (Linux 5.3) */
	p[1].fd = (int)syscall(SYS_pidfd_open, pid, 0);
	while (tc_ms() - t0 < (uint64_t)ms) {
		int left = ms - (int)(tc_ms() - t0);
		siginfo_t si;
		ssize_t n;

		/* without a pidfd, look at the child every 100 ms */
		if (p[1].fd < 0 && left > 100)
			left = 100;
		if (poll(p, p[1].fd >= 0 ? 2 : 1, left) < 0 && errno != EINTR)
			break;
		while ((n = recv(nfd, msg, sizeof(msg) - 1, 0)) > 0) {
			char *line, *save = NULL;

			msg[n] = 0;
			for (line = strtok_r(msg, "\n", &save); line; line = strtok_r(NULL, "\n", &save))
				if (!strcmp(line, what)) {
					rc = 0;
					goto out;
				}
		}
		/* exited (left a zombie for the caller to reap: WNOWAIT) */
		memset(&si, 0, sizeof(si));
		if (waitid(P_PID, (id_t)pid, &si, WEXITED | WNOHANG | WNOWAIT) == 0 &&
		    si.si_pid == pid) {
			rc = -ECHILD;
			break;
		}
	}
out:
	if (p[1].fd >= 0)
		close(p[1].fd);
	return rc;
}

pid_t tc_daemon_spawn(const char *const *argv, const char *log, const char *notify,
		      int listen_fd)
{
	pid_t pid = fork();
	char buf[32];
	int fd;

	if (pid != 0)
		return pid;
	/* never outlive the test, even when its bound kills it */
	prctl(PR_SET_PDEATHSIG, SIGTERM);
	if (listen_fd >= 0) {
		/* sd_listen_fds(3): the sockets from fd 3 on, for this very pid */
		if (listen_fd != 3 ? dup2(listen_fd, 3) < 0 : fcntl(3, F_SETFD, 0) < 0)
			_exit(126);
		snprintf(buf, sizeof(buf), "%d", (int)getpid());
		setenv("LISTEN_PID", buf, 1);
		setenv("LISTEN_FDS", "1", 1);
	}
	if (notify)
		setenv("NOTIFY_SOCKET", notify, 1);
	fd = open(log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd >= 0)
		dup2(fd, 2);
	execv(argv[0], (char *const *)argv);
	_exit(127);
}

pid_t tc_daemon_start(const char *rom, const char *sock, const char *log,
		      const char *const *extra)
{
	const char *argv[40];
	char notify[64];
	int i = 0, nfd, rc;
	pid_t pid;

	/* HC_TEST_VALGRIND=1: run the daemon under valgrind; errors or leaks make it exit 99 */
	if (getenv("HC_TEST_VALGRIND")) {
		argv[i++] = "/usr/bin/valgrind";
		argv[i++] = "-q";
		argv[i++] = "--error-exitcode=99";
		argv[i++] = "--leak-check=full";
		argv[i++] = "--errors-for-leak-kinds=definite,indirect";
	}
	argv[i++] = emud_bin();
	argv[i++] = "--rom";
	argv[i++] = rom;
	argv[i++] = "--socket";
	argv[i++] = sock;
	while (extra && *extra && i < 38)
		argv[i++] = *extra++;
	argv[i] = NULL;
	/*
	 * The socket accepts before the ROM is verified (a bind error must not wait for the
	 * hash); READY=1 is what says the card answers, with every transport up.
	 */
	nfd = tc_notify_open(notify, sizeof(notify));
	if (nfd < 0)
		return -1;
	pid = tc_daemon_spawn(argv, log, notify, -1);
	if (pid < 0) {
		close(nfd);
		return -1;
	}
	rc = tc_notify_wait(nfd, pid, "READY=1", TC_HANG_MS);
	close(nfd);
	if (rc == 0)
		return pid;
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	return -1;
}

int tc_daemon_stop(pid_t pid)
{
	int st;

	if (pid <= 0)
		return -1;
	kill(pid, SIGTERM);
	if (waitpid(pid, &st, 0) != pid)
		return -1;
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}
