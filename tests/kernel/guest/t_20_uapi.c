// SPDX-License-Identifier: MIT
/*
 * Hostile use of the UAPI is rejected with the right errno and leaves no trace: non-zero
 * reserved/flag fields, bad handles, another process's handles and mappings, out-of-range
 * sizes and counts, bad pointers, mmap beyond a buffer, a runaway ring tail, a full
 * completion ring, a poll fd of foreign or closed handles. (The console is checked for
 * oopses and warnings by the host.)
 */
#include <poll.h>
#include <sys/wait.h>
#include "ktest.h"

static struct drm_hc_info info;

static void t_info_ctx_stream(int fd)
{
	struct drm_hc_info i = { .flags = 1 };
	struct drm_hc_ctx_create c;
	struct drm_hc_ctx_destroy d = { .handle = 4242 };
	struct drm_hc_stream_create s;
	struct drm_hc_cancel cn = { .ctx_handle = 4242 };
	struct drm_hc_wait w = { .ctx_handle = 4242 };
	struct drm_gem_close gc = { .handle = 4242 };

	KT_ERRNO(fd, DRM_IOCTL_HC_GET_INFO, &i, EINVAL, "GET_INFO flags=1");

#define CC(field, val, what) do {						\
	memset(&c, 0, sizeof(c)); c.sq_entries = 4; c.field = val;		\
	KT_ERRNO(fd, DRM_IOCTL_HC_CTX_CREATE, &c, EINVAL, what);		\
} while (0)
	CC(flags, 1, "CTX_CREATE flags=1");
	CC(pad, 1, "CTX_CREATE pad=1");
	CC(reserved[1], 1, "CTX_CREATE reserved[1]=1");
	CC(sq_entries, 0, "CTX_CREATE sq_entries=0");
	CC(sq_entries, 3, "CTX_CREATE sq_entries=3 (not a power of two)");
	CC(sq_entries, DRM_HC_MAX_RING_ENTRIES * 2, "CTX_CREATE sq_entries too large");
	CC(cq_entries, 2, "CTX_CREATE cq_entries < sq_entries");
	CC(max_ctx, info.max_ctx_len + 1, "CTX_CREATE max_ctx > max_ctx_len");
#undef CC
	KT_ERRNO(fd, DRM_IOCTL_HC_CTX_DESTROY, &d, ENOENT, "CTX_DESTROY unknown handle");
	d.handle = 0;
	KT_ERRNO(fd, DRM_IOCTL_HC_CTX_DESTROY, &d, ENOENT, "CTX_DESTROY handle 0");
	d.flags = 1;
	KT_ERRNO(fd, DRM_IOCTL_HC_CTX_DESTROY, &d, EINVAL, "CTX_DESTROY flags=1");

#define SC(field, val, what) do {						\
	memset(&s, 0, sizeof(s)); s.entries = 64; s.field = val;		\
	KT_ERRNO(fd, DRM_IOCTL_HC_STREAM_CREATE, &s, EINVAL, what);		\
} while (0)
	SC(flags, 1, "STREAM_CREATE flags=1");
	SC(pad, 1, "STREAM_CREATE pad=1");
	SC(reserved[0], 1, "STREAM_CREATE reserved[0]=1");
	SC(entries, 0, "STREAM_CREATE entries=0");
	SC(entries, 100, "STREAM_CREATE entries=100 (not a power of two)");
	SC(entries, info.max_stream_entries * 2, "STREAM_CREATE entries > max");
#undef SC
	KT_ERRNO(fd, DRM_IOCTL_HC_CANCEL, &cn, ENOENT, "CANCEL unknown context");
	cn.flags = 2;
	KT_ERRNO(fd, DRM_IOCTL_HC_CANCEL, &cn, EINVAL, "CANCEL flags=2");
	KT_ERRNO(fd, DRM_IOCTL_HC_WAIT, &w, ENOENT, "WAIT unknown context");
	w.flags = 0x80;
	KT_ERRNO(fd, DRM_IOCTL_HC_WAIT, &w, EINVAL, "WAIT unknown flag");
	KT_ERRNO(fd, DRM_IOCTL_GEM_CLOSE, &gc, EINVAL, "GEM_CLOSE unknown handle");
}

/* A job that must be refused; the ring head must not move past it. */
static void bad_job(struct kt_ctx *c, const struct drm_hc_job *j, int err, const char *what)
{
	struct drm_hc_submit s = { .ctx_handle = c->handle };
	uint32_t tail = c->sq.local;
	int r;

	memcpy(hc_ring_prod_entry(&c->sq, 0), j, sizeof(*j));
	hc_ring_prod_publish(&c->sq, 1);
	r = ioctl(c->fd, DRM_IOCTL_HC_SUBMIT, &s);
	KT_CHECK(r < 0 && errno == err && s.submitted == 0 &&
		 hc_ring_load_acquire(&c->sq.hdr->head) == tail,
		 "%s -> %s, submitted %u (want %s, 0)", what, r < 0 ? strerror(errno) : "success",
		 s.submitted, strerror(err));
	/* Take the entry back: reset our tail to the driver's head. */
	c->sq.local = tail;
	hc_ring_store_release(&c->sq.hdr->tail, tail);
}

static void t_jobs(int fd)
{
	struct kt_ctx c;
	struct kt_stream st;
	struct drm_hc_job j;
	struct drm_hc_submit s;
	struct drm_hc_cqe cqe;
	uint32_t toks[4] = { 1, 2, 3, 4 };
	float nan = __builtin_nanf("");
	int rc;

	rc = kt_ctx_create(fd, &c, 4);
	KT_CHECK(rc == 0, "context created");
	rc = kt_stream_create(fd, &st, 16);
	KT_CHECK(rc == 0, "stream created");
	if (rc)
		return;

	s = (struct drm_hc_submit){ .ctx_handle = 4242 };
	KT_ERRNO(fd, DRM_IOCTL_HC_SUBMIT, &s, ENOENT, "SUBMIT unknown context");
	s = (struct drm_hc_submit){ .ctx_handle = c.handle, .flags = 1 };
	KT_ERRNO(fd, DRM_IOCTL_HC_SUBMIT, &s, EINVAL, "SUBMIT flags=1");
	s = (struct drm_hc_submit){ .ctx_handle = c.handle, .reserved = 1 };
	KT_ERRNO(fd, DRM_IOCTL_HC_SUBMIT, &s, EINVAL, "SUBMIT reserved=1");

#define PF() do { memset(&j, 0, sizeof(j)); j.opcode = DRM_HC_OP_PREFILL;	\
	j.prefill.tokens_ptr = (uintptr_t)toks; j.prefill.n_tokens = 4; } while (0)
#define DC() do { memset(&j, 0, sizeof(j)); j.opcode = DRM_HC_OP_DECODE;	\
	j.decode.stream_handle = st.handle; j.decode.max_tokens = 4; } while (0)
	PF(); j.flags = 1; bad_job(&c, &j, EINVAL, "job flags=1");
	PF(); j.reserved0 = 1; bad_job(&c, &j, EINVAL, "job reserved0=1");
	PF(); j.reserved1 = 1; bad_job(&c, &j, EINVAL, "job reserved1=1");
	PF(); j.opcode = HC_OP_CONTEXT_OPEN; bad_job(&c, &j, EINVAL, "job opcode CONTEXT_OPEN");
	PF(); j.opcode = HC_OP_CONTEXT_CLOSE; bad_job(&c, &j, EINVAL, "job opcode CONTEXT_CLOSE");
	PF(); j.opcode = 200; bad_job(&c, &j, EINVAL, "job opcode 200");
	PF(); j.prefill.n_tokens = 0; bad_job(&c, &j, EINVAL, "prefill of 0 tokens");
	PF(); j.prefill.n_tokens = info.max_prefill_tokens + 1;
	bad_job(&c, &j, EINVAL, "prefill above max_prefill_tokens");
	PF(); j.prefill.pad = 1; bad_job(&c, &j, EINVAL, "prefill pad=1");
	PF(); j.prefill.reserved[11] = 1; bad_job(&c, &j, EINVAL, "prefill reserved[11]=1");
	PF(); j.prefill.tokens_ptr = 16; bad_job(&c, &j, EFAULT, "prefill from a bad pointer");
	PF(); toks[2] = info.vocab_size; bad_job(&c, &j, EINVAL, "prefill token == vocab_size");
	toks[2] = 3;
	DC(); j.decode.stream_handle = 4242; bad_job(&c, &j, ENOENT, "decode into unknown stream");
	DC(); j.decode.max_tokens = 0; bad_job(&c, &j, EINVAL, "decode max_tokens=0");
	DC(); j.decode.n_stop = DRM_HC_MAX_STOP + 1; bad_job(&c, &j, EINVAL, "decode n_stop=9");
	DC(); j.decode.stop[3] = 5; bad_job(&c, &j, EINVAL, "decode unused stop id non-zero");
	DC(); j.decode.n_stop = 1; j.decode.stop[0] = info.vocab_size;
	bad_job(&c, &j, EINVAL, "decode stop id == vocab_size");
	DC(); memcpy(&j.decode.temperature, &nan, 4); bad_job(&c, &j, EINVAL, "temperature NaN");
	DC(); j.decode.temperature = 0xbf800000; bad_job(&c, &j, EINVAL, "temperature -1.0");
	DC(); j.decode.reserved[3] = 1; bad_job(&c, &j, EINVAL, "decode reserved[3]=1");
	memset(&j, 0, sizeof(j)); j.opcode = DRM_HC_OP_NOP; j.args[5] = 1;
	bad_job(&c, &j, EINVAL, "NOP with arguments");

	/* A tail more than a ring ahead of the head. */
	hc_ring_store_release(&c.sq.hdr->tail, c.sq.local + 1000);
	s = (struct drm_hc_submit){ .ctx_handle = c.handle };
	KT_ERRNO(fd, DRM_IOCTL_HC_SUBMIT, &s, EINVAL, "SUBMIT with a runaway tail");
	hc_ring_store_release(&c.sq.hdr->tail, c.sq.local);

	/* The entry stays at the head until fixed; then it goes through. */
	PF(); j.reserved0 = 7;
	memcpy(hc_ring_prod_entry(&c.sq, 0), &j, sizeof(j));
	hc_ring_prod_publish(&c.sq, 1);
	s = (struct drm_hc_submit){ .ctx_handle = c.handle };
	KT_ERRNO(fd, DRM_IOCTL_HC_SUBMIT, &s, EINVAL, "bad entry at the head");
	((struct drm_hc_job *)hc_ring_entry(&c.sq, c.sq.local - 1))->reserved0 = 0;
	s = (struct drm_hc_submit){ .ctx_handle = c.handle };
	rc = ioctl(fd, DRM_IOCTL_HC_SUBMIT, &s);
	KT_CHECK(rc == 0 && s.submitted == 1, "fixed entry accepted (submitted %u)", s.submitted);
	rc = kt_wait_cqe(&c, &cqe, KT_EVENT_MS);
	KT_CHECK(rc == 0 && cqe.status == HC_STATUS_OK && cqe.count == 4, "its prefill completed");

	/* A full completion ring: jobs in flight + unconsumed completions <= cq entries. */
	{
		int n = 0, r = 0, i;

		memset(&j, 0, sizeof(j));
		j.opcode = DRM_HC_OP_NOP;
		for (i = 0; i < 64 && r >= 0; i++) {
			r = kt_submit(&c, &j);
			if (r == 1)
				n++;
			while (r == 1 && hc_ring_load_acquire(&c.cq.hdr->tail) - c.cq.local <
			       (uint32_t)n)
				usleep(1000);	/* let it complete, but do not consume */
		}
		KT_CHECK(r < 0 && errno == EBUSY && n == 8,
			 "full completion ring -> EBUSY after %d NOPs (want 8)", n);
		for (i = 0; i < n; i++)
			kt_wait_cqe(&c, &cqe, KT_EVENT_MS);
		/* The refused entry is still at the head: submit it now. */
		s = (struct drm_hc_submit){ .ctx_handle = c.handle };
		rc = ioctl(fd, DRM_IOCTL_HC_SUBMIT, &s);
		KT_CHECK(rc == 0 && s.submitted == 1, "accepted once completions were consumed");
		kt_wait_cqe(&c, &cqe, KT_EVENT_MS);
	}
	kt_stream_destroy(&st);
	KT_CHECK(kt_ctx_destroy(&c) == 0, "context destroyed");
}

static void t_mmap(int fd)
{
	struct drm_hc_stream_create a = { .entries = 64 };
	void *p;

	KT_CHECK(ioctl(fd, DRM_IOCTL_HC_STREAM_CREATE, &a) == 0, "stream for mmap checks");
	p = mmap(NULL, a.size + 4096, PROT_READ, MAP_SHARED, fd, (off_t)a.mmap_offset);
	KT_CHECK(p == MAP_FAILED && errno == EINVAL, "mmap one page beyond a stream -> %s",
		 p == MAP_FAILED ? strerror(errno) : "mapped");
	p = mmap(NULL, 4096, PROT_READ, MAP_SHARED, fd, (off_t)(a.mmap_offset + a.size));
	KT_CHECK(p == MAP_FAILED, "mmap at the end of a stream refused (%s)",
		 p == MAP_FAILED ? strerror(errno) : "mapped");
	p = mmap(NULL, 4096, PROT_READ, MAP_SHARED, fd, (off_t)(1ull << 40));
	KT_CHECK(p == MAP_FAILED, "mmap at an unknown offset refused (%s)",
		 p == MAP_FAILED ? strerror(errno) : "mapped");
	p = mmap(NULL, a.size, PROT_READ, MAP_SHARED, fd, (off_t)a.mmap_offset);
	KT_CHECK(p != MAP_FAILED, "mmap of the whole stream works");
	if (p != MAP_FAILED)
		munmap(p, a.size);
	{
		struct drm_gem_close gc = { .handle = a.handle };

		ioctl(fd, DRM_IOCTL_GEM_CLOSE, &gc);
	}
}

/* Another process (another open file) cannot use our handles or map our memory. */
static void t_other_process(int fd)
{
	struct kt_ctx c;
	struct kt_stream st;
	char sysdir[512];
	int status;
	pid_t pid;
	struct drm_hc_ctx_create cc = { .sq_entries = 4 };

	KT_CHECK(kt_ctx_create(fd, &c, 4) == 0 && kt_stream_create(fd, &st, 16) == 0,
		 "context and stream for the other process to attack");
	KT_CHECK(ioctl(fd, DRM_IOCTL_HC_CTX_CREATE, &cc) == 0, "second context (ring offset)");
	pid = fork();
	if (pid == 0) {
		int fd2 = kt_open(sysdir, sizeof(sysdir));
		struct drm_hc_submit s = { .ctx_handle = c.handle };
		struct drm_hc_ctx_destroy d = { .handle = c.handle };
		struct drm_hc_wait w = { .ctx_handle = c.handle };
		struct drm_hc_cancel cn = { .ctx_handle = c.handle };
		struct drm_gem_close gc = { .handle = st.handle };
		struct drm_hc_stream_pollfd pf = { .ctx_handle = c.handle,
						   .stream_handle = st.handle };
		void *p;

		kt_failures = 0;
		KT_ERRNO(fd2, DRM_IOCTL_HC_SUBMIT, &s, ENOENT, "other file: SUBMIT to our context");
		KT_ERRNO(fd2, DRM_IOCTL_HC_WAIT, &w, ENOENT, "other file: WAIT on our context");
		KT_ERRNO(fd2, DRM_IOCTL_HC_CANCEL, &cn, ENOENT, "other file: CANCEL our context");
		KT_ERRNO(fd2, DRM_IOCTL_HC_CTX_DESTROY, &d, ENOENT, "other file: destroy our context");
		KT_ERRNO(fd2, DRM_IOCTL_GEM_CLOSE, &gc, EINVAL, "other file: close our stream");
		KT_ERRNO(fd2, DRM_IOCTL_HC_STREAM_POLLFD, &pf, ENOENT,
			 "other file: poll fd of our context and stream");
		p = mmap(NULL, 4096, PROT_READ, MAP_SHARED, fd2, (off_t)cc.ring_mmap_offset);
		KT_CHECK(p == MAP_FAILED && errno == EACCES, "other file: map our context ring -> %s",
			 p == MAP_FAILED ? strerror(errno) : "mapped");
		_exit(kt_failures ? 1 : 0);
	}
	waitpid(pid, &status, 0);
	KT_CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0, "other process checks passed");
	{
		struct drm_hc_ctx_destroy d = { .handle = cc.handle };

		ioctl(fd, DRM_IOCTL_HC_CTX_DESTROY, &d);
	}
	kt_stream_destroy(&st);
	KT_CHECK(kt_ctx_destroy(&c) == 0, "our context still works and is destroyed");
}

/*
 * STREAM_POLLFD: reserved fields and foreign handles refused; the fd polls readable exactly
 * while a completion is unconsumed, cannot be read, and outlives the handles it watches.
 */
static void t_pollfd(int fd)
{
	struct drm_hc_stream_pollfd p;
	struct drm_hc_job nop = { .opcode = DRM_HC_OP_NOP };
	struct kt_ctx c;
	struct kt_stream st;
	struct drm_hc_cqe cqe;
	struct pollfd pfd = { .events = POLLIN };
	char b;

	KT_CHECK(kt_ctx_create(fd, &c, 4) == 0 && kt_stream_create(fd, &st, 16) == 0,
		 "context and stream to poll");
#undef PF	/* the SUBMIT checks' helper above */
#define PF(field, val, err, what) do {						\
	memset(&p, 0, sizeof(p)); p.ctx_handle = c.handle; p.stream_handle = st.handle;	\
	p.field = val;								\
	KT_ERRNO(fd, DRM_IOCTL_HC_STREAM_POLLFD, &p, err, what);		\
} while (0)
	PF(flags, 1, EINVAL, "STREAM_POLLFD flags=1");
	PF(reserved[0], 1, EINVAL, "STREAM_POLLFD reserved[0]=1");
	PF(reserved[1], 1u << 31, EINVAL, "STREAM_POLLFD reserved[1]!=0");
	PF(ctx_handle, 4242, ENOENT, "STREAM_POLLFD unknown context");
	PF(ctx_handle, 0, ENOENT, "STREAM_POLLFD context 0");
	PF(stream_handle, 4242, ENOENT, "STREAM_POLLFD unknown stream");
	PF(stream_handle, 0, ENOENT, "STREAM_POLLFD stream 0");
#undef PF
	memset(&p, 0, sizeof(p));
	p.ctx_handle = c.handle;
	p.stream_handle = st.handle;
	KT_CHECK(ioctl(fd, DRM_IOCTL_HC_STREAM_POLLFD, &p) == 0 && p.fd >= 0,
		 "STREAM_POLLFD -> fd %d", p.fd);
	pfd.fd = p.fd;
	KT_CHECK((fcntl(p.fd, F_GETFD) & FD_CLOEXEC) != 0, "poll fd is close-on-exec");
	KT_CHECK(poll(&pfd, 1, 0) == 0, "idle stream and context: not readable");
	KT_CHECK(read(p.fd, &b, 1) < 0, "poll fd cannot be read (%s)", strerror(errno));
	KT_CHECK(kt_submit(&c, &nop) == 1, "NOP submitted");
	KT_CHECK(poll(&pfd, 1, KT_EVENT_MS) == 1 && (pfd.revents & POLLIN) &&
		 !(pfd.revents & (POLLERR | POLLHUP)), "its completion wakes the poll (revents %#x)",
		 pfd.revents);
	KT_CHECK(kt_wait_cqe(&c, &cqe, KT_EVENT_MS) == 0, "completion consumed");
	KT_CHECK(poll(&pfd, 1, 0) == 0, "consumed: not readable any more");
	/* The fd keeps the context and stream alive after their handles are gone. */
	kt_stream_destroy(&st);
	KT_CHECK(kt_ctx_destroy(&c) == 0, "context destroyed while its poll fd is open");
	KT_CHECK(poll(&pfd, 1, 0) == 1 && (pfd.revents & POLLHUP),
		 "destroyed context: poll fd hangs up (revents %#x)", pfd.revents);
	close(p.fd);
}

/* Contexts are bounded per file (EMFILE) and by the card's KV slots (ENOSPC). */
static void t_too_many_contexts(void)
{
	char sysdir[512];
	int fd = kt_open(sysdir, sizeof(sysdir)), n = 0, err = 0;

	if (fd < 0)
		return;
	for (n = 0; n < 1000; n++) {
		struct drm_hc_ctx_create a = { .sq_entries = 1 };

		if (ioctl(fd, DRM_IOCTL_HC_CTX_CREATE, &a)) {
			err = errno;
			break;
		}
	}
	KT_CHECK((err == EMFILE && n == (int)info.max_contexts) ||
		 (err == ENOSPC && n > 0 && n <= (int)info.max_contexts),
		 "context %d refused with %s (limit %u per file)", n, strerror(err),
		 info.max_contexts);
	close(fd);
	KT_CHECK(kt_counter_wait(sysdir, "contexts_open", 0, KT_EVENT_MS) == 0,
		 "closing the file closed all %d", n);
}

int main(void)
{
	char sysdir[512];
	int fd = kt_open(sysdir, sizeof(sysdir));

	if (fd < 0)
		return 1;
	KT_CHECK(ioctl(fd, DRM_IOCTL_HC_GET_INFO, &info) == 0, "GET_INFO");
	t_info_ctx_stream(fd);
	t_jobs(fd);
	t_mmap(fd);
	t_other_process(fd);
	t_pollfd(fd);
	t_too_many_contexts();
	KT_CHECK(kt_counter(sysdir, "contexts_open") == 0, "no contexts left open");
	KT_CHECK(kt_counter(sysdir, "jobs_inflight") == 0, "no jobs left in flight");
	close(fd);
	return kt_exit();
}
