// SPDX-License-Identifier: MIT
/*
 * Socket transport: every client connection is its own virtual function with a private
 * memfd card memory, doorbell pipes and interrupt pipes, handed over once with SCM_RIGHTS
 * after a hello. The socket then only tells us when the client goes away, and then
 * everything it owned is freed.
 *
 * Pipes, not eventfds: the client gets one end and we keep the other, and the two ends are
 * separate open file descriptions, so nothing the client does to its descriptors (clearing
 * O_NONBLOCK, saturating a counter) changes how our reads and writes behave. Ours are
 * O_NONBLOCK for good: the daemon never blocks on a descriptor a client can reach
 * (docs/hc-emud.md, "Descriptors a client can reach").
 */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>
#include "emud.h"

#define EMUD_MAX_CLIENTS 1024

struct emud_client {
	struct emud_fn fn;
	struct emud_socket *srv;
	struct emud_client *next;	/* srv->clients */
	bool dead, welcomed, in_card;
	int sock, memfd;
	unsigned char *mem;
	uint64_t mem_size;
	int host_fd;			/* the hello's host memory memfd, until mapped */
	int bad_fds;			/* descriptors passed that the protocol does not allow */
	unsigned char *host_mem;	/* the client's host memory (HC_EMU_HELLO_HOST_MEMORY) */
	uint64_t host_size;
	uint32_t n_db, n_irq;
	int db[1 + HC_CARD_MAX_QP];	/* our read ends */
	int irq[1 + HC_CARD_MAX_QP];	/* our write ends */
	int db_peer[1 + HC_CARD_MAX_QP];	/* the client's ends, until the welcome is sent */
	int irq_peer[1 + HC_CARD_MAX_QP];
	struct emud_ev sock_ev;
	struct emud_ev db_ev[1 + HC_CARD_MAX_QP];
	union {
		struct hc_emu_hello hello;
		unsigned char bytes[sizeof(struct hc_emu_hello)];
	} in;
	size_t in_len;
	pid_t pid;
	uid_t uid;
	uint32_t junk_logged;
};

struct emud_socket {
	struct emud_card *card;
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	int fd;
	struct emud_ev ev;
	struct emud_client *clients;
	uint32_t n_clients;
	uint32_t next_id;
	int spare_fd;			/* given up to accept-and-close when out of fds */
	uint32_t n_refused;
	bool adopted;			/* systemd's socket: not ours to unlink */
};

const char *emud_default_socket_path(char *buf, size_t len)
{
	const char *xdg = getenv("XDG_RUNTIME_DIR"), *dev = getenv("HC_DEVICE");

	/* the variable clients use to find the card places the card too */
	if (dev && !strncmp(dev, "emu:", 4) && dev[4])
		snprintf(buf, len, "%s", dev + 4);
	else if (getuid() != 0 && xdg && xdg[0])
		snprintf(buf, len, "%s/%s", xdg, HC_EMU_SOCKET_NAME);
	else
		snprintf(buf, len, "%s", HC_EMU_SOCKET_ROOT);
	return buf;
}

static void client_raise_irq(struct emud_fn *fn, uint32_t vector)
{
	struct emud_client *cl = fn->transport;
	uint64_t one = 1;

	/*
	 * A full pipe (EAGAIN) means interrupts are pending that the client has not read: one
	 * more adds nothing. EPIPE: it closed its end (SIGPIPE is ignored); its socket will
	 * tell us when it is gone.
	 */
	if (vector < cl->n_irq && cl->irq[vector] >= 0 && !cl->dead)
		if (write(cl->irq[vector], &one, sizeof(one)) < 0 && errno != EAGAIN &&
		    errno != EPIPE)
			emud_warn("client %u: interrupt %u: %s", fn->id, vector, strerror(errno));
}

static const struct emud_fn_ops client_ops = {
	.kind = "client",
	.raise_irq = client_raise_irq,
};

/* @prio: LOG_DEBUG for the ordinary end of a client, which the default log leaves out */
static void client_kill(struct emud_client *cl, int prio, const char *why)
{
	if (cl->dead)
		return;
	cl->dead = true;
	emud_logp(prio, "client %u: %s", cl->fn.id, why);
}

static void on_doorbell(struct emud_ev *ev, uint32_t events)
{
	struct emud_client *cl = ev->obj;
	char buf[4096];
	ssize_t n = -1;
	int i;

	if (cl->dead)
		return;
	/*
	 * Any number of rings is one kick. Bounded: a client writing as fast as we read must
	 * not keep us here; epoll is level-triggered and brings us back for the rest.
	 */
	for (i = 0; i < 16; i++) {
		n = read(cl->db[ev->vector], buf, sizeof(buf));
		if (n <= 0)
			break;
	}
	if (n == 0) {
		/* no writer left: it cannot ring any more, and epoll would report EOF forever */
		client_kill(cl, LOG_DEBUG, "closed its doorbell");
		return;
	}
	if (n < 0 && errno != EAGAIN && errno != EINTR) {
		client_kill(cl, LOG_WARNING, "doorbell error");
		return;
	}
	emud_fn_kick(&cl->fn);
}

/* Send the welcome, with @fds attached when @status is 0. */
static int send_welcome(struct emud_client *cl, int32_t status, const int *fds, uint32_t n_fds)
{
	struct hc_emu_welcome w;
	union {
		char buf[CMSG_SPACE(sizeof(int) * HC_EMU_MAX_FDS)];
		struct cmsghdr align;
	} u;
	struct iovec iov = { &w, sizeof(w) };
	struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1 };
	ssize_t n;

	memset(&w, 0, sizeof(w));
	w.hdr.magic = HC_CARD_MAGIC;
	w.hdr.type = HC_EMU_MSG_WELCOME;
	w.hdr.size = sizeof(w);
	w.status = status;
	w.version = HC_EMU_PROTO_VERSION;
	w.client_id = cl->fn.id;
	if (!status) {
		struct cmsghdr *cm;

		w.n_fds = n_fds;
		w.n_doorbells = cl->n_db;
		w.n_irq_vectors = cl->n_irq;
		w.mem_size = cl->mem_size;
		memset(&u, 0, sizeof(u));
		msg.msg_control = u.buf;
		msg.msg_controllen = CMSG_SPACE(sizeof(int) * n_fds);
		cm = CMSG_FIRSTHDR(&msg);
		cm->cmsg_level = SOL_SOCKET;
		cm->cmsg_type = SCM_RIGHTS;
		cm->cmsg_len = CMSG_LEN(sizeof(int) * n_fds);
		memcpy(CMSG_DATA(cm), fds, sizeof(int) * n_fds);
	}
	n = sendmsg(cl->sock, &msg, MSG_NOSIGNAL);
	if (n != (ssize_t)sizeof(w))
		return n < 0 ? -errno : -EIO;
	return 0;
}

static const char *check_hello(const struct hc_emu_hello *h)
{
	size_t i;

	if (h->hdr.magic != HC_CARD_MAGIC)
		return "bad magic in hello";
	if (h->hdr.type != HC_EMU_MSG_HELLO || h->hdr.size != sizeof(*h))
		return "not a hello message (type/size)";
	if (h->version < 1)
		return "unsupported protocol version";
	if (h->flags & ~HC_EMU_HELLO_HOST_MEMORY)
		return "unknown hello flags";
	for (i = 0; i < sizeof(h->reserved) / sizeof(h->reserved[0]); i++)
		if (h->reserved[i])
			return "hello reserved field not zero";
	if (!(h->flags & HC_EMU_HELLO_HOST_MEMORY))
		return h->host_mem_size ? "host_mem_size without HC_EMU_HELLO_HOST_MEMORY" : NULL;
	if (!h->host_mem_size || (h->host_mem_size & 4095) ||
	    h->host_mem_size > HC_EMU_MAX_HOST_MEM)
		return "host_mem_size 0, not a multiple of 4096 or above HC_EMU_MAX_HOST_MEM";
	return NULL;
}

/*
 * Map the client's host memory (HC_CAP_HOST_MEMORY). It is the client's memfd, shared with
 * it: only seals keep it from truncating the file under our mapping (SIGBUS in the daemon)
 * or sealing it against our writes later, so it must carry F_SEAL_SHRINK and F_SEAL_SEAL.
 * Anything that is not such a memfd (a file, a pipe, a socket) fails F_GET_SEALS or lacks
 * them. NULL with the reason in *@why.
 */
static const char *client_map_host(struct emud_client *cl)
{
	uint64_t size = cl->in.hello.host_mem_size;
	int seals = fcntl(cl->host_fd, F_GET_SEALS);
	struct stat st;
	void *p;

	if (seals < 0 || (seals & (F_SEAL_SHRINK | F_SEAL_SEAL)) != (F_SEAL_SHRINK | F_SEAL_SEAL))
		return "host memory is not a memfd sealed with F_SEAL_SHRINK and F_SEAL_SEAL";
	if (fstat(cl->host_fd, &st) < 0 || !S_ISREG(st.st_mode) || (uint64_t)st.st_size < size)
		return "host memory memfd shorter than host_mem_size";
	p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, cl->host_fd, 0);
	if (p == MAP_FAILED)
		return "cannot map the host memory memfd (sealed against writes?)";
	close(cl->host_fd);
	cl->host_fd = -1;
	cl->host_mem = p;
	cl->host_size = size;
	return NULL;
}

/* A pipe of which we keep end @ours (O_NONBLOCK, like the client's); the other in *@peer. */
static int make_pipe(int *ours, int *peer, int our_end)
{
	int p[2];

	if (pipe2(p, O_NONBLOCK | O_CLOEXEC) < 0)
		return -errno;
	*ours = p[our_end];
	*peer = p[!our_end];
	return 0;
}

/* Create the function: memfd card memory, doorbell and interrupt pipes, register page. */
static int client_setup(struct emud_client *cl)
{
	struct emud_card *card = cl->srv->card;
	uint64_t want = cl->in.hello.mem_size, cap = card->opt.client_mem;
	char name[48];
	uint32_t i;
	int rc;

	if (!want || want > cap)
		want = cap;
	if (want < EMUD_MIN_CLIENT_MEM)
		want = EMUD_MIN_CLIENT_MEM;
	want = (want + 4095) & ~4095ull;
	cl->mem_size = want;

	snprintf(name, sizeof(name), "hc-card-client-%u", cl->fn.id);
	cl->memfd = memfd_create(name, MFD_CLOEXEC | MFD_ALLOW_SEALING);
	if (cl->memfd < 0)
		return -errno;
	if (ftruncate(cl->memfd, (off_t)want) < 0)
		return -errno;
	/* the client must not be able to shrink it under us (SIGBUS in the daemon) */
	if (fcntl(cl->memfd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL) < 0)
		return -errno;
	cl->mem = mmap(NULL, want, PROT_READ | PROT_WRITE, MAP_SHARED, cl->memfd, 0);
	if (cl->mem == MAP_FAILED) {
		cl->mem = NULL;
		return -errno;
	}
	cl->n_db = 1 + card->opt.n_qp;
	cl->n_irq = 1 + card->opt.n_qp;
	for (i = 0; i < cl->n_db; i++) {
		rc = make_pipe(&cl->db[i], &cl->db_peer[i], 0);
		if (rc < 0)
			return rc;
		cl->db_ev[i] = (struct emud_ev){ on_doorbell, cl, i };
		rc = emud_ev_add(card, cl->db[i], &cl->db_ev[i]);
		if (rc < 0) {
			close(cl->db[i]);
			cl->db[i] = -1;
			return rc;
		}
	}
	for (i = 0; i < cl->n_irq; i++) {
		rc = make_pipe(&cl->irq[i], &cl->irq_peer[i], 1);
		if (rc < 0)
			return rc;
	}
	cl->fn.host_mem = cl->host_mem;
	cl->fn.host_size = cl->host_size;
	rc = emud_fn_init(&cl->fn, card, cl->mem, want, HC_CAP_TRANSPORT_SOCKET | HC_CAP_HOST_MEMORY,
			  &client_ops, cl);
	if (rc < 0)
		return rc;
	return 0;
}

static void close_peer_ends(struct emud_client *cl)
{
	uint32_t i;

	for (i = 0; i <= HC_CARD_MAX_QP; i++) {
		if (cl->db_peer[i] >= 0)
			close(cl->db_peer[i]);
		if (cl->irq_peer[i] >= 0)
			close(cl->irq_peer[i]);
		cl->db_peer[i] = cl->irq_peer[i] = -1;
	}
}

static void client_hello(struct emud_client *cl)
{
	int fds[HC_EMU_MAX_FDS];
	const char *bad = check_hello(&cl->in.hello);
	uint32_t i, n = 0;
	int rc;

	if (!bad && cl->bad_fds)
		bad = "unexpected file descriptors with the hello";
	else if (!bad && (cl->in.hello.flags & HC_EMU_HELLO_HOST_MEMORY) != 0 && cl->host_fd < 0)
		bad = "HC_EMU_HELLO_HOST_MEMORY without a memfd";
	else if (!bad && !(cl->in.hello.flags & HC_EMU_HELLO_HOST_MEMORY) && cl->host_fd >= 0)
		bad = "a file descriptor with the hello but no HC_EMU_HELLO_HOST_MEMORY";
	else if (!bad && cl->host_fd >= 0)
		bad = client_map_host(cl);
	if (bad) {
		emud_warn("client %u: %s", cl->fn.id, bad);
		send_welcome(cl, -EPROTO, NULL, 0);
		client_kill(cl, LOG_DEBUG, "rejected");
		return;
	}
	rc = client_setup(cl);
	if (rc < 0) {
		close_peer_ends(cl);
		emud_warn("client %u: cannot set up its card memory: %s", cl->fn.id, strerror(-rc));
		send_welcome(cl, rc, NULL, 0);
		client_kill(cl, LOG_DEBUG, "rejected");
		return;
	}
	fds[n++] = cl->memfd;
	for (i = 0; i < cl->n_db; i++)
		fds[n++] = cl->db_peer[i];
	for (i = 0; i < cl->n_irq; i++)
		fds[n++] = cl->irq_peer[i];
	rc = send_welcome(cl, 0, fds, n);
	/* the client has its own copies now: a doorbell reads EOF once it has closed them */
	close_peer_ends(cl);
	if (rc < 0) {
		emud_warn("client %u: cannot send welcome: %s", cl->fn.id, strerror(-rc));
		client_kill(cl, LOG_DEBUG, "gone");
		return;
	}
	cl->welcomed = true;
	emud_card_add_fn(cl->srv->card, &cl->fn);
	cl->in_card = true;
	emud_dbg("client %u: ready: %llu KiB card memory, %u queue pairs, up to %u contexts",
		 cl->fn.id, (unsigned long long)(cl->mem_size >> 10), cl->fn.n_qp,
		 cl->fn.max_contexts);
}

/*
 * Read more of the hello. Its bytes may come in pieces; the host memory memfd comes with one
 * of them (SCM_RIGHTS). Keep one descriptor; any other is closed and fails the hello.
 */
static ssize_t recv_hello(struct emud_client *cl)
{
	union {
		struct cmsghdr h;
		char buf[CMSG_SPACE(sizeof(int) * 4)];
	} cbuf;
	struct iovec iov = { cl->in.bytes + cl->in_len, sizeof(cl->in) - cl->in_len };
	struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf.buf,
			      .msg_controllen = sizeof(cbuf.buf) };
	struct cmsghdr *c;
	ssize_t n = recvmsg(cl->sock, &msg, MSG_CMSG_CLOEXEC | MSG_DONTWAIT);

	if (n < 0)
		return n;
	if (msg.msg_flags & MSG_CTRUNC)
		cl->bad_fds++;	/* more than we take: the kernel closed the rest */
	for (c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c)) {
		int k, j, fd;

		if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
			continue;
		k = (int)((c->cmsg_len - CMSG_LEN(0)) / sizeof(int));
		for (j = 0; j < k; j++) {
			memcpy(&fd, CMSG_DATA(c) + j * sizeof(int), sizeof(int));
			if (cl->host_fd < 0 && !cl->bad_fds) {
				cl->host_fd = fd;
			} else {
				close(fd);
				cl->bad_fds++;
			}
		}
	}
	return n;
}

static void on_client(struct emud_ev *ev, uint32_t events)
{
	struct emud_client *cl = ev->obj;
	unsigned char junk[256];
	ssize_t n;

	if (cl->dead)
		return;
	if (events & EPOLLIN) {
		if (!cl->welcomed) {
			n = recv_hello(cl);
			if (n > 0) {
				cl->in_len += (size_t)n;
				if (cl->in_len == sizeof(cl->in))
					client_hello(cl);
				return;
			}
		} else {
			n = read(cl->sock, junk, sizeof(junk));
			if (n > 0) {
				if (!cl->junk_logged++)
					emud_warn("client %u: ignoring unexpected bytes on the socket",
						  cl->fn.id);
				return;
			}
		}
		if (n == 0) {
			client_kill(cl, LOG_DEBUG, "disconnected");
			return;
		}
		if (errno != EAGAIN && errno != EINTR) {
			client_kill(cl, LOG_WARNING, "socket error");
			return;
		}
	}
	if (events & (EPOLLHUP | EPOLLRDHUP | EPOLLERR))
		client_kill(cl, LOG_DEBUG, "disconnected");
}

static void client_free(struct emud_client *cl)
{
	struct emud_card *card = cl->srv->card;
	uint32_t i;

	if (cl->in_card)
		emud_card_remove_fn(card, &cl->fn);
	if (cl->fn.ctx)
		emud_fn_destroy(&cl->fn);
	close_peer_ends(cl);
	/* explicit EPOLL_CTL_DEL, as for any fd we close while others may share it */
	for (i = 0; i < cl->n_db; i++) {
		if (cl->db[i] >= 0) {
			emud_ev_del(card, cl->db[i]);
			close(cl->db[i]);
		}
	}
	for (i = 0; i < cl->n_irq; i++)
		if (cl->irq[i] >= 0)
			close(cl->irq[i]);
	if (cl->sock >= 0) {
		emud_ev_del(card, cl->sock);
		close(cl->sock);
	}
	if (cl->mem)
		munmap(cl->mem, cl->mem_size);
	if (cl->memfd >= 0)
		close(cl->memfd);
	if (cl->host_mem)
		munmap(cl->host_mem, cl->host_size);
	if (cl->host_fd >= 0)
		close(cl->host_fd);
	free(cl);
}

static void on_listen(struct emud_ev *ev, uint32_t events)
{
	struct emud_socket *s = ev->obj;

	for (;;) {
		struct emud_client *cl;
		struct ucred cred;
		socklen_t len = sizeof(cred);
		uint32_t i;
		int fd = accept4(s->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);

		if (fd < 0 && (errno == EMFILE || errno == ENFILE) && s->spare_fd >= 0) {
			/* out of fds: turn the caller away instead of spinning on a ready socket */
			close(s->spare_fd);
			fd = accept4(s->fd, NULL, NULL, SOCK_CLOEXEC);
			s->spare_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
			if (fd < 0)
				return;	/* nothing was pending (EMFILE comes before EAGAIN) */
			close(fd);
			if (s->n_refused++ % 1000 == 0)
				emud_warn("refusing clients: out of file descriptors (%u so far)",
					  s->n_refused);
			continue;
		}
		if (fd < 0) {
			if (errno != EAGAIN && errno != EINTR && errno != ECONNABORTED)
				emud_warn("accept: %s", strerror(errno));
			return;
		}
		if (s->n_clients >= EMUD_MAX_CLIENTS) {
			emud_warn("refusing a client: %u clients already", s->n_clients);
			close(fd);
			continue;
		}
		cl = calloc(1, sizeof(*cl));
		if (!cl) {
			emud_warn("refusing a client: out of memory");
			close(fd);
			continue;
		}
		cl->srv = s;
		cl->sock = fd;
		cl->memfd = -1;
		cl->host_fd = -1;
		for (i = 0; i <= HC_CARD_MAX_QP; i++)
			cl->db[i] = cl->irq[i] = cl->db_peer[i] = cl->irq_peer[i] = -1;
		cl->fn.id = s->next_id++;
		if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) == 0) {
			cl->pid = cred.pid;
			cl->uid = cred.uid;
		}
		cl->sock_ev = (struct emud_ev){ on_client, cl, 0 };
		if (emud_ev_add(s->card, fd, &cl->sock_ev) < 0) {
			emud_warn("refusing a client: epoll: %s", strerror(errno));
			close(fd);
			free(cl);
			continue;
		}
		cl->next = s->clients;
		s->clients = cl;
		s->n_clients++;
		emud_dbg("client %u: connected (pid %d, uid %d)", cl->fn.id, (int)cl->pid,
			 (int)cl->uid);
	}
}

void emud_socket_reap(struct emud_socket *s)
{
	struct emud_client **pp = &s->clients, *cl;

	while ((cl = *pp)) {
		if (!cl->dead) {
			pp = &cl->next;
			continue;
		}
		*pp = cl->next;
		s->n_clients--;
		client_free(cl);
	}
}

/* Refuse to steal a live daemon's socket; remove a stale one. */
static int clear_stale(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct stat st;
	int fd, rc;

	if (lstat(path, &st) < 0)
		return errno == ENOENT ? 0 : -errno;
	if (!S_ISSOCK(st.st_mode)) {
		emud_err("%s: exists and is not a socket", path);
		return -EEXIST;
	}
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	rc = connect(fd, (struct sockaddr *)&sa, sizeof(sa));
	close(fd);
	if (rc == 0) {
		emud_err("%s: another hc-emud is listening there", path);
		return -EADDRINUSE;
	}
	if (unlink(path) < 0)
		return -errno;
	return 0;
}

/*
 * --socket-group: hand the socket to a group (its members are the card's users) the way
 * systemd's SocketGroup= does for an activated one. chown to ourselves plus a group we are
 * in needs no privilege; root may name any group.
 */
static int set_group(const char *path, const char *group)
{
	struct group *gr;
	char *end;
	gid_t gid;

	gr = getgrnam(group);
	if (gr) {
		gid = gr->gr_gid;
	} else {
		errno = 0;
		gid = (gid_t)strtoul(group, &end, 10);
		if (!group[0] || *end || errno) {
			emud_err("--socket-group %s: no such group", group);
			return -ENOENT;
		}
	}
	if (chown(path, (uid_t)-1, gid) < 0) {
		emud_err("%s: cannot give it to group %s: %s", path, group, strerror(errno));
		return -errno;
	}
	return 0;
}

static struct emud_socket *socket_new(struct emud_card *card)
{
	struct emud_socket *s = calloc(1, sizeof(*s));

	if (!s)
		return NULL;
	s->card = card;
	s->next_id = 1;
	s->fd = -1;
	s->spare_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	return s;
}

int emud_socket_adopt(struct emud_card *card, int fd, struct emud_socket **out)
{
	struct sockaddr_un sa;
	socklen_t len = sizeof(sa);
	struct emud_socket *s;
	int fl;

	s = socket_new(card);
	if (!s)
		return -ENOMEM;
	s->adopted = true;
	memset(&sa, 0, sizeof(sa));
	if (getsockname(fd, (struct sockaddr *)&sa, &len) == 0 && sa.sun_path[0])
		snprintf(s->path, sizeof(s->path), "%.*s", (int)(len - offsetof(struct sockaddr_un,
			 sun_path)), sa.sun_path);
	else
		snprintf(s->path, sizeof(s->path), "fd %d", fd);
	/*
	 * The accept loop runs until EAGAIN. The file description is shared with systemd, which
	 * only polls it while we are not running, so O_NONBLOCK changes nothing for it.
	 */
	fl = fcntl(fd, F_GETFL);
	if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0 ||
	    fcntl(fd, F_SETFD, FD_CLOEXEC) < 0)
		goto fail;
	s->fd = fd;
	s->ev = (struct emud_ev){ on_listen, s, 0 };
	if (emud_ev_add(card, s->fd, &s->ev) < 0)
		goto fail;
	*out = s;
	return 0;
fail:
	emud_err("%s (from systemd): %s", s->path, strerror(errno));
	s->fd = -1;
	if (s->spare_fd >= 0)
		close(s->spare_fd);
	free(s);
	return -EBADF;
}

const char *emud_socket_path(const struct emud_socket *s)
{
	return s->path;
}

int emud_socket_open(struct emud_card *card, const char *path, struct emud_socket **out)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct emud_socket *s;
	mode_t old;
	int rc;

	if (strlen(path) >= sizeof(sa.sun_path)) {
		emud_err("%s: socket path too long (max %zu bytes)", path, sizeof(sa.sun_path) - 1);
		return -ENAMETOOLONG;
	}
	if (!strcmp(path, HC_EMU_SOCKET_ROOT))
		mkdir("/run/hc", 0755);
	rc = clear_stale(path);
	if (rc < 0) {
		if (rc != -EEXIST && rc != -EADDRINUSE)
			emud_err("%s: %s", path, strerror(-rc));
		return rc;
	}
	s = socket_new(card);
	if (!s)
		return -ENOMEM;
	snprintf(s->path, sizeof(s->path), "%s", path);
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	s->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (s->fd < 0)
		goto fail;
	old = umask(0117);	/* born 0660: owner and group */
	rc = bind(s->fd, (struct sockaddr *)&sa, sizeof(sa));
	umask(old);
	if (rc < 0)
		goto fail;
	if (chmod(path, 0660) < 0 || listen(s->fd, 64) < 0)
		goto fail_unlink;
	if (card->opt.socket_group) {
		rc = set_group(path, card->opt.socket_group);
		if (rc < 0) {
			unlink(path);
			close(s->fd);
			if (s->spare_fd >= 0)
				close(s->spare_fd);
			free(s);
			return rc;
		}
	}
	s->ev = (struct emud_ev){ on_listen, s, 0 };
	if (emud_ev_add(card, s->fd, &s->ev) < 0)
		goto fail_unlink;
	*out = s;
	return 0;
fail_unlink:
	rc = -errno;
	unlink(path);
	errno = -rc;
fail:
	rc = -errno;
	emud_err("%s: %s", path, strerror(errno));
	if (s->fd >= 0)
		close(s->fd);
	if (s->spare_fd >= 0)
		close(s->spare_fd);
	free(s);
	return rc;
}

void emud_socket_close(struct emud_socket *s)
{
	struct emud_client *cl;

	if (!s)
		return;
	for (cl = s->clients; cl; cl = cl->next)
		cl->dead = true;
	emud_socket_reap(s);
	emud_ev_del(s->card, s->fd);
	close(s->fd);
	if (s->spare_fd >= 0)
		close(s->spare_fd);
	/* systemd's socket outlives us: it activates the next hc-emud on the next connect */
	if (!s->adopted)
		unlink(s->path);
	free(s);
}
