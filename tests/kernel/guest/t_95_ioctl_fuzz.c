// SPDX-License-Identifier: MIT
/*
 * In-guest UAPI fuzzer: four threads issue random sequences of valid and invalid calls for
 * hc.fuzz=SECONDS (kernel command line; run-suite.sh gives the MSI-X boot 60 s, and
 * HC_KT_FUZZ_SECONDS changes it; without it the test skips): context and stream creation
 * with sane and insane arguments, destroys of live, dead and guessed handles, submissions of
 * good jobs and garbage entries through the mapped rings, waits, cancels, poll fds, mmaps of
 * random offsets and sizes, GET_INFO/GET_TOKENIZER with bad pointers, raw driver ioctls with
 * random bytes, opens and closes of the node, forks whose children act on inherited fds and
 * exit, and now and then a forced card reset. The host fails the boot on any oops, WARN,
 * hung task or (slub_debug, init_on_free) memory error; the test then checks that once the
 * fuzzing process has exited, nothing is left: no context, no job in flight, no card memory
 * in use, no context on the card.
 * The seed is printed; hc.fuzz_seed=N repeats a run's random choices (not its timing).
 */
#include <poll.h>
#include <pthread.h>
#include <sys/wait.h>
#include "ktest.h"
#include "decode_case.h"

#define THREADS 4
#define MAX_FDS 3
#define MAX_OBJS 8

struct fz_ctx {
	uint32_t handle;
	void *map;
	size_t map_size;
	struct hc_ring sq, cq;
	uint32_t sq_entries;
};

struct fz_fd {
	int fd;
	struct fz_ctx ctx[MAX_OBJS];
	int n_ctx;
	uint32_t stream[MAX_OBJS];
	uint64_t stream_off[MAX_OBJS];
	uint64_t stream_size[MAX_OBJS];
	int n_stream;
};

struct fz_thread {
	uint64_t rng;
	struct fz_fd fds[MAX_FDS];
	int n_fds;
	long ops, errors;
};

static int64_t stop_at;
static char dbg[512];
static struct drm_hc_info info;

static uint64_t rnd(struct fz_thread *t)
{
	t->rng ^= t->rng << 13;
	t->rng ^= t->rng >> 7;
	t->rng ^= t->rng << 17;
	return t->rng;
}

static uint32_t pick(struct fz_thread *t, uint32_t n)
{
	return n ? (uint32_t)(rnd(t) % n) : 0;
}

/* Mostly plausible, sometimes anything. */
static uint32_t some_u32(struct fz_thread *t, uint32_t sane)
{
	switch (pick(t, 8)) {
	case 0: return (uint32_t)rnd(t);
	case 1: return 0;
	case 2: return sane + 1;
	default: return sane;
	}
}

static uint64_t bad_ptr(struct fz_thread *t)
{
	static const uint64_t ptrs[] = { 0, 16, 0xfffffffffffff000ull, 0x7fffffffe000ull,
					 0xdead000000000000ull };

	return ptrs[pick(t, sizeof(ptrs) / sizeof(ptrs[0]))];
}

static void do_ioctl(struct fz_thread *t, int fd, unsigned long req, void *arg)
{
	t->ops++;
	if (ioctl(fd, req, arg))
		t->errors++;
}

static struct fz_fd *some_fd(struct fz_thread *t)
{
	return t->n_fds ? &t->fds[pick(t, (uint32_t)t->n_fds)] : NULL;
}

static void ctx_forget(struct fz_fd *f, int i)
{
	if (f->ctx[i].map && f->ctx[i].map != MAP_FAILED)
		munmap(f->ctx[i].map, f->ctx[i].map_size);
	f->ctx[i] = f->ctx[--f->n_ctx];
}

static void op_open_close(struct fz_thread *t)
{
	if (t->n_fds < MAX_FDS && (t->n_fds == 0 || pick(t, 2))) {
		struct fz_fd *f = &t->fds[t->n_fds];

		memset(f, 0, sizeof(*f));
		f->fd = kt_open(NULL, 0);
		if (f->fd >= 0)
			t->n_fds++;
	} else if (t->n_fds) {
		int i = (int)pick(t, (uint32_t)t->n_fds), j;
		struct fz_fd *f = &t->fds[i];

		for (j = f->n_ctx - 1; j >= 0; j--)
			ctx_forget(f, j);
		close(f->fd);	/* with whatever it still has in flight */
		t->fds[i] = t->fds[--t->n_fds];
	}
}

static void op_ctx_create(struct fz_thread *t, struct fz_fd *f)
{
	struct drm_hc_ctx_create a = { 0 };
	struct fz_ctx *c;

	a.sq_entries = pick(t, 4) ? 1u << pick(t, 7) : some_u32(t, 8);
	a.cq_entries = pick(t, 2) ? 0 : some_u32(t, 2 * a.sq_entries);
	a.max_ctx = pick(t, 4) ? 0 : some_u32(t, info.max_ctx_len);
	if (!pick(t, 16))
		a.flags = (uint32_t)rnd(t);
	if (!pick(t, 16))
		a.reserved[pick(t, 2)] = rnd(t);
	t->ops++;
	if (ioctl(f->fd, DRM_IOCTL_HC_CTX_CREATE, &a)) {
		t->errors++;
		return;
	}
	if (f->n_ctx == MAX_OBJS) {
		struct drm_hc_ctx_destroy d = { .handle = a.handle };

		do_ioctl(t, f->fd, DRM_IOCTL_HC_CTX_DESTROY, &d);
		return;
	}
	c = &f->ctx[f->n_ctx++];
	memset(c, 0, sizeof(*c));
	c->handle = a.handle;
	c->sq_entries = a.sq_entries;
	c->map_size = a.ring_size;
	c->map = mmap(NULL, a.ring_size, PROT_READ | PROT_WRITE, MAP_SHARED, f->fd,
		      (off_t)a.ring_mmap_offset);
	if (c->map == MAP_FAILED) {
		c->map = NULL;
		return;
	}
	hc_ring_init(&c->sq, (char *)c->map + a.sq_offset, a.sq_entries, sizeof(struct drm_hc_job));
	hc_ring_init(&c->cq, (char *)c->map + a.cq_offset, a.cq_entries ? a.cq_entries :
		     2 * a.sq_entries, sizeof(struct drm_hc_cqe));
}

static void op_ctx_destroy(struct fz_thread *t, struct fz_fd *f)
{
	struct drm_hc_ctx_destroy d = { 0 };

	if (f->n_ctx && pick(t, 4)) {
		int i = (int)pick(t, (uint32_t)f->n_ctx);

		d.handle = f->ctx[i].handle;
		if (pick(t, 2))		/* sometimes keep the mapping of the dead context */
			ctx_forget(f, i);
		else
			f->ctx[i] = f->ctx[--f->n_ctx];
	} else {
		d.handle = pick(t, 12);
	}
	if (!pick(t, 32))
		d.flags = 1;
	do_ioctl(t, f->fd, DRM_IOCTL_HC_CTX_DESTROY, &d);
}

static void op_stream(struct fz_thread *t, struct fz_fd *f)
{
	if (f->n_stream < MAX_OBJS && pick(t, 2)) {
		struct drm_hc_stream_create a = { 0 };

		a.entries = pick(t, 4) ? 1u << pick(t, 10) : some_u32(t, 64);
		if (!pick(t, 16))
			a.pad = 1;
		t->ops++;
		if (ioctl(f->fd, DRM_IOCTL_HC_STREAM_CREATE, &a)) {
			t->errors++;
			return;
		}
		f->stream[f->n_stream] = a.handle;
		f->stream_off[f->n_stream] = a.mmap_offset;
		f->stream_size[f->n_stream] = a.size;
		f->n_stream++;
	} else {
		struct drm_gem_close c = { .handle = pick(t, 12) };

		if (f->n_stream && pick(t, 4)) {
			int i = (int)pick(t, (uint32_t)f->n_stream);

			c.handle = f->stream[i];
			f->n_stream--;
			f->stream[i] = f->stream[f->n_stream];
			f->stream_off[i] = f->stream_off[f->n_stream];
			f->stream_size[i] = f->stream_size[f->n_stream];
		}
		do_ioctl(t, f->fd, DRM_IOCTL_GEM_CLOSE, &c);
	}
}

static void fill_job(struct fz_thread *t, struct fz_fd *f, struct drm_hc_job *j)
{
	memset(j, 0, sizeof(*j));
	j->user_data = rnd(t);
	switch (pick(t, 6)) {
	case 0:
		j->opcode = DRM_HC_OP_PREFILL;
		j->prefill.tokens_ptr = pick(t, 8) ? (uintptr_t)decode_case_prompt : bad_ptr(t);
		j->prefill.n_tokens = pick(t, 8) ? 1 + pick(t, DECODE_CASE_PROMPT_LEN) :
				      some_u32(t, info.max_prefill_tokens);
		break;
	case 1:
	case 2:
		j->opcode = DRM_HC_OP_DECODE;
		j->decode.stream_handle = f->n_stream && pick(t, 8) ?
					  f->stream[pick(t, (uint32_t)f->n_stream)] : pick(t, 12);
		j->decode.max_tokens = 1 + pick(t, pick(t, 8) ? 16 : 100000);
		j->decode.temperature = pick(t, 2) ? 0 : 0x3f800000;	/* 0 or 1.0 */
		j->decode.seed = rnd(t);
		break;
	case 3:
		j->opcode = pick(t, 2) ? DRM_HC_OP_NOP : DRM_HC_OP_RESET_CONTEXT;
		break;
	default: {	/* garbage */
		uint64_t *w = (uint64_t *)j;
		unsigned i;

		for (i = 0; i < sizeof(*j) / 8; i++)
			w[i] = pick(t, 2) ? rnd(t) : 0;
		j->opcode = (uint8_t)pick(t, 8);
	}
	}
}

static void op_submit(struct fz_thread *t, struct fz_fd *f)
{
	struct drm_hc_submit s = { 0 };
	struct fz_ctx *c;
	int n, i;

	if (!f->n_ctx)
		return;
	c = &f->ctx[pick(t, (uint32_t)f->n_ctx)];
	if (!c->map)
		return;
	/* Take back what the driver did not consume, then queue 1..4 entries. */
	c->sq.local = hc_ring_load_acquire(&c->sq.hdr->head);
	n = 1 + (int)pick(t, 4);
	for (i = 0; i < n && hc_ring_prod_space(&c->sq) > 0; i++) {
		fill_job(t, f, hc_ring_prod_entry(&c->sq, 0));
		hc_ring_prod_publish(&c->sq, 1);
	}
	if (!pick(t, 32))	/* a runaway tail */
		hc_ring_store_release(&c->sq.hdr->tail, (uint32_t)rnd(t));
	s.ctx_handle = pick(t, 16) ? c->handle : pick(t, 12);
	s.count = pick(t, 4) ? 0 : pick(t, 8);
	do_ioctl(t, f->fd, DRM_IOCTL_HC_SUBMIT, &s);
	/* Consume completions (the head is ours), sometimes write nonsense into it. */
	if (pick(t, 16))
		hc_ring_store_release(&c->cq.hdr->head, hc_ring_load_acquire(&c->cq.hdr->tail));
	else
		hc_ring_store_release(&c->cq.hdr->head, (uint32_t)rnd(t));
}

static void op_wait_cancel_poll(struct fz_thread *t, struct fz_fd *f)
{
	uint32_t ctx = f->n_ctx && pick(t, 8) ? f->ctx[pick(t, (uint32_t)f->n_ctx)].handle :
		       pick(t, 12);
	uint32_t st = f->n_stream && pick(t, 8) ? f->stream[pick(t, (uint32_t)f->n_stream)] :
		      pick(t, 12);

	switch (pick(t, 3)) {
	case 0: {
		struct drm_hc_wait w = { .ctx_handle = ctx, .cq_tail = (uint32_t)rnd(t) };

		if (pick(t, 2)) {
			w.flags = DRM_HC_WAIT_STREAM;
			w.stream_handle = st;
			w.stream_tail = (uint32_t)rnd(t);
		}
		if (!pick(t, 16))
			w.flags |= 1u << pick(t, 32);
		w.timeout_ns = pick(t, 2) ? 0 : kt_now_ns() + (int64_t)pick(t, 5) * 1000000;
		do_ioctl(t, f->fd, DRM_IOCTL_HC_WAIT, &w);
		break;
	}
	case 1: {
		struct drm_hc_cancel c = { .ctx_handle = ctx, .flags = pick(t, 16) ? 0 : 1 };

		do_ioctl(t, f->fd, DRM_IOCTL_HC_CANCEL, &c);
		break;
	}
	default: {
		struct drm_hc_stream_pollfd p = { .ctx_handle = ctx, .stream_handle = st };

		t->ops++;
		if (ioctl(f->fd, DRM_IOCTL_HC_STREAM_POLLFD, &p) == 0) {
			struct pollfd pf = { .fd = p.fd, .events = POLLIN };

			poll(&pf, 1, 0);
			close(p.fd);
		} else {
			t->errors++;
		}
	}
	}
}

static void op_mmap(struct fz_thread *t, struct fz_fd *f)
{
	uint64_t off = 0, size = 4096;
	void *m;

	if (f->n_stream && pick(t, 2)) {
		int i = (int)pick(t, (uint32_t)f->n_stream);

		off = f->stream_off[i] + (pick(t, 4) ? 0 : 4096 * pick(t, 4));
		size = pick(t, 4) ? f->stream_size[i] : 4096 * (1 + pick(t, 64));
	} else {
		off = (uint64_t)pick(t, 1 << 20) << 12;
	}
	t->ops++;
	m = mmap(NULL, size, PROT_READ | (pick(t, 2) ? PROT_WRITE : 0),
		 pick(t, 8) ? MAP_SHARED : MAP_PRIVATE, f->fd, (off_t)off);
	if (m == MAP_FAILED) {
		t->errors++;
		return;
	}
	(void)*(volatile uint32_t *)m;	/* the first page exists if the map succeeded */
	munmap(m, size);
}

static void op_info(struct fz_thread *t, struct fz_fd *f)
{
	static __thread uint8_t buf[1 << 16];

	if (pick(t, 2)) {
		struct drm_hc_info i = { .flags = pick(t, 8) ? 0 : 1 };

		do_ioctl(t, f->fd, DRM_IOCTL_HC_GET_INFO, &i);
	} else {
		struct drm_hc_get_tokenizer g = { 0 };

		g.ptr = pick(t, 4) ? (uintptr_t)buf : bad_ptr(t);
		g.size = pick(t, 2) ? sizeof(buf) : pick(t, 4096);
		do_ioctl(t, f->fd, DRM_IOCTL_HC_GET_TOKENIZER, &g);
	}
}

/* A driver ioctl number with random bytes, in both directions. */
static void op_raw(struct fz_thread *t, struct fz_fd *f)
{
	static const unsigned sizes[] = { 8, 16, 24, 32, 48, 160, 256 };
	uint64_t buf[32];
	unsigned size = sizes[pick(t, 7)], i;
	unsigned long req = DRM_IOWR(DRM_COMMAND_BASE + pick(t, 12), char[8]);

	req = (req & ~((unsigned long)_IOC_SIZEMASK << _IOC_SIZESHIFT)) |
	      ((unsigned long)size << _IOC_SIZESHIFT);
	for (i = 0; i < 32; i++)
		buf[i] = pick(t, 2) ? rnd(t) : pick(t, 8);
	do_ioctl(t, f->fd, req, buf);
}

static void op_fork(struct fz_thread *t);

static void one_op(struct fz_thread *t, int allow_fork)
{
	struct fz_fd *f = some_fd(t);
	uint32_t op = pick(t, 100);

	if (!f || op < 3) {
		op_open_close(t);
		return;
	}
	if (op < 15)
		op_ctx_create(t, f);
	else if (op < 22)
		op_ctx_destroy(t, f);
	else if (op < 34)
		op_stream(t, f);
	else if (op < 60)
		op_submit(t, f);
	else if (op < 75)
		op_wait_cancel_poll(t, f);
	else if (op < 83)
		op_mmap(t, f);
	else if (op < 90)
		op_info(t, f);
	else if (op < 97)
		op_raw(t, f);
	else if (op < 99 && allow_fork)
		op_fork(t);
	else if (!pick(t, 20)) {
		char path[600];

		snprintf(path, sizeof(path), "%s/force_recovery", dbg);
		kt_write_file(path, "1");
	}
}

/* The child acts on the inherited fds (same files) a little, then exits without cleanup. */
static void op_fork(struct fz_thread *t)
{
	pid_t pid = fork();

	if (pid == 0) {
		int i;

		for (i = 0; i < 20; i++)
			one_op(t, 0);
		_exit(0);
	}
	if (pid > 0)
		waitpid(pid, NULL, 0);
}

static void *fuzzer(void *arg)
{
	struct fz_thread *t = arg;

	while (kt_now_ns() < stop_at)
		one_op(t, 1);
	while (t->n_fds)		/* close every file, with whatever is in flight */
		op_open_close(t);
	return NULL;
}

static long cmdline_value(const char *key, long def)
{
	char buf[4096], *p;

	if (kt_read_file("/proc/cmdline", buf, sizeof(buf)))
		return def;
	p = strstr(buf, key);
	return p ? strtol(p + strlen(key), NULL, 0) : def;
}

int main(void)
{
	static struct fz_thread th[THREADS];
	long secs = cmdline_value("hc.fuzz=", 0), ops = 0, errs = 0;
	uint64_t seed = (uint64_t)cmdline_value("hc.fuzz_seed=", 0);
	char sysdir[512];
	pthread_t tid[THREADS];
	long long mem0;
	int fd, i, status = 0;
	pid_t pid;

	if (secs <= 0) {
		printf("  skip: no hc.fuzz=SECONDS on the kernel command line\n");
		return 77;
	}
	fd = kt_open(sysdir, sizeof(sysdir));
	if (fd < 0)
		return 1;
	KT_CHECK(ioctl(fd, DRM_IOCTL_HC_GET_INFO, &info) == 0, "GET_INFO");
	KT_CHECK(kt_debugfs(dbg, sizeof(dbg)) == 0, "debugfs at %s", dbg);
	close(fd);
	mem0 = kt_counter(sysdir, "mem_used_bytes");	/* the driver's own SQ and CQ */
	if (!seed)
		seed = (uint64_t)kt_now_ns() | 1;
	printf("  fuzzing for %ld s with %d threads, seed %llu (hc.fuzz_seed=%llu repeats it)\n",
	       secs, THREADS, (unsigned long long)seed, (unsigned long long)seed);
	fflush(stdout);

	/*
	 * The fuzzing runs in a child process: it leaves mappings of destroyed contexts behind
	 * on purpose, and those keep their files open until the process exits.
	 */
	fflush(stdout);
	pid = fork();
	if (pid == 0) {
		stop_at = kt_now_ns() + (int64_t)secs * 1000000000;
		for (i = 0; i < THREADS; i++) {
			th[i].rng = seed * (2 * (uint64_t)i + 1) | 1;
			pthread_create(&tid[i], NULL, fuzzer, &th[i]);
		}
		for (i = 0; i < THREADS; i++) {
			pthread_join(tid[i], NULL);
			ops += th[i].ops;
			errs += th[i].errors;
		}
		printf("  ok   %ld calls, %ld of them refused\n", ops, errs);
		fflush(stdout);
		_exit(ops > 0 ? 0 : 1);
	}
	KT_CHECK(pid > 0 && waitpid(pid, &status, 0) == pid && WIFEXITED(status) &&
		 WEXITSTATUS(status) == 0, "the fuzzing process ran and exited (status %#x)",
		 status);
	KT_CHECK(kt_counter_wait(sysdir, "contexts_open", 0, KT_EVENT_MS) == 0,
		 "every file closed: no context left");
	KT_CHECK(kt_counter_wait(sysdir, "jobs_inflight", 0, KT_EVENT_MS) == 0,
		 "no job in flight");
	KT_CHECK(kt_counter_wait(sysdir, "mem_used_bytes", mem0, KT_EVENT_MS) == mem0,
		 "card memory in use back to the driver's own queue (%lld bytes, was %lld)",
		 kt_counter(sysdir, "mem_used_bytes"), mem0);
	KT_CHECK(kt_counter_wait(sysdir, "contexts_in_use", 0, KT_EVENT_MS) == 0,
		 "the card holds no context (%lld)", kt_counter(sysdir, "contexts_in_use"));
	return kt_exit();
}
