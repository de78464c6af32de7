// SPDX-License-Identifier: MIT
/*
 * PCI transport: hc-emud as the ivshmem server AND the card peer for QEMU's
 * ivshmem-doorbell device (Debian ships no ivshmem-server). The guest sees one card: BAR2
 * is this function's card memory (a memfd), its Doorbell register writes
 * ((peer << 16) | vector) land on our eventfds, and we interrupt it by writing its
 * eventfds (MSI-X vector i in the guest).
 *
 * Server protocol (QEMU docs/specs/ivshmem-spec.rst): every message is a little-endian
 * int64, optionally with one fd (SCM_RIGHTS). To a new peer: the protocol version (0), its
 * peer id, -1 with the shared-memory fd, then for every peer (ourselves, the card, id 0;
 * then itself) its id once per vector, each with that vector's eventfd. One guest at a
 * time: the PCI function is the whole card; a second connection is refused. When the guest
 * goes away the function is reset and waits for the next one.
 *
 * The protocol passes eventfds, and an eventfd's O_NONBLOCK lives in the open file
 * description we share with the peer, which may clear it. So our I/O on them never relies on
 * that flag (docs/hc-emud.md, "Descriptors a client can reach"): see ev_read() and
 * pci_raise_irq(). The socket is 0600: the one peer is a process of our own user.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <unistd.h>
#include "emud.h"

/* Also in emud.h once hc-emud.c calls them (--ivshmem PATH, --ivshmem-mem BYTES). */
struct emud_ivshmem;
int emud_ivshmem_open(struct emud_card *card, const char *path, uint64_t mem_size,
		      struct emud_ivshmem **out);
void emud_ivshmem_close(struct emud_ivshmem *s);

#define IVSHMEM_PROTOCOL_VERSION	0
#define EMUD_IVSHMEM_CARD_PEER		0	/* the driver's default card_peer */
#define EMUD_IVSHMEM_MAX_VECTORS	(1 + HC_CARD_MAX_QP)

struct emud_ivshmem {
	struct emud_card *card;
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	int fd;				/* listening socket */
	struct emud_ev ev;
	int memfd;
	unsigned char *mem;
	uint64_t mem_size;
	unsigned char *ram;		/* --guest-ram: guest-physical address = offset */
	uint64_t ram_size;
	struct emud_fn fn;
	bool fn_live;			/* fn initialised and in card->fns */
	uint32_t n_vec;			/* doorbell and interrupt vectors */
	int db[EMUD_IVSHMEM_MAX_VECTORS];	/* guest -> card */
	struct emud_ev db_ev[EMUD_IVSHMEM_MAX_VECTORS];
	/* the guest */
	int guest;			/* connection, -1 if none */
	struct emud_ev guest_ev;
	int irq[EMUD_IVSHMEM_MAX_VECTORS];	/* card -> guest */
	uint16_t guest_id;
	uint16_t next_id;
};

/* Is @fd ready for @events right now? Never waits. */
static bool ev_ready(int fd, short events)
{
	struct pollfd p = { .fd = fd, .events = events };

	return poll(&p, 1, 0) == 1 && (p.revents & events);
}

/*
 * Read an eventfd without ever blocking, whatever its O_NONBLOCK: RWF_NOWAIT makes an empty
 * counter EAGAIN (Linux >= 5.12). Older kernels refuse the flag: then read only what poll
 * says is there. That leaves a race with a peer that reads our doorbell between the two,
 * which QEMU never does; see the top of the file for who else could.
 */
static ssize_t ev_read(int fd, uint64_t *v)
{
	struct iovec io = { v, sizeof(*v) };
	ssize_t n = preadv2(fd, &io, 1, -1, RWF_NOWAIT);

	if (n >= 0 || errno != EOPNOTSUPP)
		return n;
	if (!ev_ready(fd, POLLIN)) {
		errno = EAGAIN;
		return -1;
	}
	return read(fd, v, sizeof(*v));
}

static void pci_raise_irq(struct emud_fn *fn, uint32_t vector)
{
	struct emud_ivshmem *s = fn->transport;
	uint64_t one = 1;

	if (s->guest < 0 || vector >= s->n_vec || s->irq[vector] < 0)
		return;
	/*
	 * Eventfd writes take no RWF_NOWAIT. POLLOUT means the counter is below
	 * 0xfffffffffffffffe, so adding 1 cannot block; without it (a counter a hostile peer
	 * saturated) the interrupt is pending already. Only a peer writing this eventfd between
	 * the two calls could still block us; QEMU only reads it.
	 */
	if (!ev_ready(s->irq[vector], POLLOUT))
		return;
	if (write(s->irq[vector], &one, sizeof(one)) < 0 && errno != EAGAIN)
		emud_warn("pci: interrupt %u: %s", vector, strerror(errno));
}

static const struct emud_fn_ops pci_ops = {
	.kind = "pci",
	.raise_irq = pci_raise_irq,
};

static void on_doorbell(struct emud_ev *ev, uint32_t events)
{
	struct emud_ivshmem *s = ev->obj;
	uint64_t v;
	int i;

	/* one read takes the whole counter; bounded against a peer ringing as fast as we read */
	for (i = 0; i < 16 && ev_read(s->db[ev->vector], &v) == sizeof(v); i++)
		;
	if (s->fn_live)
		emud_fn_kick(&s->fn);
}

static int send_msg(int sock, int64_t msg, int fd)
{
	union {
		char buf[CMSG_SPACE(sizeof(int))];
		struct cmsghdr align;
	} u;
	struct iovec iov = { &msg, sizeof(msg) };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };
	ssize_t n;

	if (fd >= 0) {
		struct cmsghdr *cm;

		memset(&u, 0, sizeof(u));
		mh.msg_control = u.buf;
		mh.msg_controllen = sizeof(u.buf);
		cm = CMSG_FIRSTHDR(&mh);
		cm->cmsg_level = SOL_SOCKET;
		cm->cmsg_type = SCM_RIGHTS;
		cm->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(cm), &fd, sizeof(int));
	}
	n = sendmsg(sock, &mh, MSG_NOSIGNAL);
	if (n != (ssize_t)sizeof(msg))
		return n < 0 ? -errno : -EIO;
	return 0;
}

/*
 * The guest's RAM, as QEMU shares it (memory-backend-file,share=on): with no vIOMMU and the
 * RAM below the PCI hole (-M pc with less than 3 GiB), a guest-physical address is an offset
 * into the file, so the PCI function's bus addresses resolve against it. The file must exist
 * at its full size before QEMU starts, and nobody may shrink it while we run (the harness
 * and QEMU are the only other users: the same trust as the ivshmem socket).
 */
static int map_guest_ram(struct emud_ivshmem *s, const char *path)
{
	int fd = open(path, O_RDWR | O_CLOEXEC | O_NONBLOCK);
	struct stat st;
	void *p;

	if (fd < 0 || fstat(fd, &st) < 0) {
		int e = errno;

		emud_err("--guest-ram %s: %s", path, strerror(e));
		if (fd >= 0)
			close(fd);
		return -e;
	}
	if (!S_ISREG(st.st_mode) || st.st_size < 4096) {
		emud_err("--guest-ram %s: not a regular file of the guest's RAM size", path);
		close(fd);
		return -EINVAL;
	}
	p = mmap(NULL, (size_t)st.st_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (p == MAP_FAILED) {
		int e = errno;

		emud_err("--guest-ram %s: mmap: %s", path, strerror(e));
		close(fd);
		return -e;
	}
	close(fd);
	s->ram = p;
	s->ram_size = (uint64_t)st.st_size;
	emud_log("pci: guest RAM %s, %llu MiB: the card's host memory", path,
		 (unsigned long long)(s->ram_size >> 20));
	return 0;
}

/* A fresh function over the card memory: register page written, status READY. */
static int fn_start(struct emud_ivshmem *s)
{
	int rc;

	memset(&s->fn, 0, sizeof(s->fn));
	s->fn.id = 0;
	memset(s->mem, 0, s->mem_size);
	s->fn.host_mem = s->ram;
	s->fn.host_size = s->ram_size;
	rc = emud_fn_init(&s->fn, s->card, s->mem, s->mem_size,
			  HC_CAP_TRANSPORT_PCI | HC_CAP_HOST_MEMORY, &pci_ops, s);
	if (rc < 0)
		return rc;
	emud_card_add_fn(s->card, &s->fn);
	s->fn_live = true;
	return 0;
}

static void fn_stop(struct emud_ivshmem *s)
{
	if (!s->fn_live)
		return;
	emud_card_remove_fn(s->card, &s->fn);
	emud_fn_destroy(&s->fn);
	s->fn_live = false;
}

static void guest_drop(struct emud_ivshmem *s, const char *why)
{
	uint32_t i;

	if (s->guest < 0)
		return;
	emud_log("pci: guest peer %u %s", s->guest_id, why);
	emud_ev_del(s->card, s->guest);
	close(s->guest);
	s->guest = -1;
	for (i = 0; i < s->n_vec; i++) {
		if (s->irq[i] >= 0)
			close(s->irq[i]);
		s->irq[i] = -1;
	}
	/* Whatever the guest left running dies with it; the next guest finds a clean card. */
	fn_stop(s);
	if (fn_start(s) < 0)
		emud_err("pci: cannot re-initialise the card function");
}

static void on_guest(struct emud_ev *ev, uint32_t events)
{
	struct emud_ivshmem *s = ev->obj;
	char junk[64];
	ssize_t n;

	if (events & EPOLLIN) {
		n = read(s->guest, junk, sizeof(junk));
		if (n > 0)
			return;	/* QEMU never sends anything; ignore */
		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			return;
	}
	guest_drop(s, "disconnected");
}

static int guest_setup(struct emud_ivshmem *s, int fd)
{
	uint32_t i;
	int rc;

	for (i = 0; i < s->n_vec; i++) {
		s->irq[i] = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
		if (s->irq[i] < 0)
			return -errno;
	}
	rc = send_msg(fd, IVSHMEM_PROTOCOL_VERSION, -1);
	if (!rc)
		rc = send_msg(fd, s->guest_id, -1);
	if (!rc)
		rc = send_msg(fd, -1, s->memfd);
	for (i = 0; !rc && i < s->n_vec; i++)
		rc = send_msg(fd, EMUD_IVSHMEM_CARD_PEER, s->db[i]);
	for (i = 0; !rc && i < s->n_vec; i++)
		rc = send_msg(fd, s->guest_id, s->irq[i]);
	return rc;
}

static void on_listen(struct emud_ev *ev, uint32_t events)
{
	struct emud_ivshmem *s = ev->obj;
	uint32_t i;
	int fd, rc;

	for (;;) {
		fd = accept4(s->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0) {
			if (errno != EAGAIN && errno != EINTR && errno != ECONNABORTED)
				emud_warn("pci: accept: %s", strerror(errno));
			return;
		}
		if (s->guest >= 0) {
			emud_warn("pci: refusing a second guest (the card has one PCI function)");
			close(fd);
			continue;
		}
		s->guest = fd;
		s->guest_id = s->next_id++;
		if (s->next_id == 0 || s->next_id > 0x7fff)
			s->next_id = 1;
		rc = guest_setup(s, fd);
		s->guest_ev = (struct emud_ev){ on_guest, s, 0 };
		if (!rc)
			rc = emud_ev_add(s->card, fd, &s->guest_ev);
		if (rc < 0) {
			emud_warn("pci: guest setup failed: %s", strerror(-rc));
			close(fd);
			s->guest = -1;
			for (i = 0; i < s->n_vec; i++) {
				if (s->irq[i] >= 0)
					close(s->irq[i]);
				s->irq[i] = -1;
			}
			continue;
		}
		emud_log("pci: guest connected as peer %u: %llu MiB card memory, %u vectors",
			 s->guest_id, (unsigned long long)(s->mem_size >> 20), s->n_vec);
	}
}

int emud_ivshmem_open(struct emud_card *card, const char *path, uint64_t mem_size,
		      struct emud_ivshmem **out)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct emud_ivshmem *s;
	uint32_t i;
	mode_t old;
	int rc;

	if (strlen(path) >= sizeof(sa.sun_path)) {
		emud_err("%s: socket path too long", path);
		return -ENAMETOOLONG;
	}
	/* QEMU maps the whole BAR: a power of two, at least a few pages. */
	if (mem_size < EMUD_MIN_CLIENT_MEM || (mem_size & (mem_size - 1))) {
		emud_err("pci: card memory %llu bytes: must be a power of two >= %u",
			 (unsigned long long)mem_size, EMUD_MIN_CLIENT_MEM);
		return -EINVAL;
	}
	if (1 + card->opt.n_qp > EMUD_IVSHMEM_MAX_VECTORS)
		return -EINVAL;
	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->card = card;
	s->fd = s->memfd = s->guest = -1;
	s->next_id = 1;
	s->n_vec = 1 + card->opt.n_qp;
	for (i = 0; i < EMUD_IVSHMEM_MAX_VECTORS; i++)
		s->db[i] = s->irq[i] = -1;
	s->mem_size = mem_size;
	snprintf(s->path, sizeof(s->path), "%s", path);

	if (card->opt.guest_ram) {
		rc = map_guest_ram(s, card->opt.guest_ram);
		if (rc < 0)
			goto fail;
	}
	s->memfd = memfd_create("hc-card-pci", MFD_CLOEXEC);
	if (s->memfd < 0 || ftruncate(s->memfd, (off_t)mem_size) < 0)
		goto fail_errno;
	s->mem = mmap(NULL, mem_size, PROT_READ | PROT_WRITE, MAP_SHARED, s->memfd, 0);
	if (s->mem == MAP_FAILED) {
		s->mem = NULL;
		goto fail_errno;
	}
	for (i = 0; i < s->n_vec; i++) {
		s->db[i] = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
		if (s->db[i] < 0)
			goto fail_errno;
		s->db_ev[i] = (struct emud_ev){ on_doorbell, s, i };
		rc = emud_ev_add(card, s->db[i], &s->db_ev[i]);
		if (rc < 0)
			goto fail;
	}
	rc = fn_start(s);
	if (rc < 0)
		goto fail;

	unlink(path);	/* a stale socket from a previous run; QEMU connects afresh */
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	s->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (s->fd < 0)
		goto fail_errno;
	/* born 0600: the peer shares our eventfds, so it must be one of our own processes */
	old = umask(0177);
	rc = bind(s->fd, (struct sockaddr *)&sa, sizeof(sa));
	umask(old);
	if (rc < 0 || listen(s->fd, 4) < 0)
		goto fail_errno;
	s->ev = (struct emud_ev){ on_listen, s, 0 };
	rc = emud_ev_add(card, s->fd, &s->ev);
	if (rc < 0)
		goto fail;
	*out = s;
	return 0;

fail_errno:
	rc = -errno;
fail:
	emud_err("pci: %s: %s", path, strerror(-rc));
	emud_ivshmem_close(s);
	return rc;
}

void emud_ivshmem_close(struct emud_ivshmem *s)
{
	uint32_t i;

	if (!s)
		return;
	if (s->guest >= 0) {
		emud_ev_del(s->card, s->guest);
		close(s->guest);
	}
	fn_stop(s);
	for (i = 0; i < EMUD_IVSHMEM_MAX_VECTORS; i++) {
		if (s->irq[i] >= 0)
			close(s->irq[i]);
		if (s->db[i] >= 0) {
			emud_ev_del(s->card, s->db[i]);
			close(s->db[i]);
		}
	}
	if (s->fd >= 0) {
		emud_ev_del(s->card, s->fd);
		close(s->fd);
		unlink(s->path);
	}
	if (s->mem)
		munmap(s->mem, s->mem_size);
	if (s->ram)
		munmap(s->ram, s->ram_size);
	if (s->memfd >= 0)
		close(s->memfd);
	free(s);
}
