/* SPDX-License-Identifier: MIT */
/*
 * Helpers for the guest-side driver tests: static binaries run by /init inside QEMU.
 * Each test prints "ok"/"FAIL" lines and exits 0 (pass), 1 (fail) or 77 (skip).
 */
#ifndef HC_KTEST_H
#define HC_KTEST_H

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <glob.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>
#include <xf86drm.h>
#include "uapi/hc_card.h"
#include "uapi/hc_ring.h"
#include "uapi/drm/hc_accel.h"
#include "decode_case.h"

static int kt_failures;

#define KT_CHECK(cond, ...) do {						\
	if (cond) {								\
		printf("  ok   ");						\
	} else {								\
		printf("  FAIL %s:%d: ", __FILE__, __LINE__);			\
		kt_failures++;							\
	}									\
	printf(__VA_ARGS__);							\
	printf("\n");								\
	fflush(stdout);								\
} while (0)

/* An ioctl that must fail with @err. */
#define KT_ERRNO(fd, req, arg, err, what) do {					\
	int __r = ioctl(fd, req, arg);						\
	int __e = __r < 0 ? errno : 0;						\
	KT_CHECK(__r < 0 && __e == (err), "%s -> %s (want %s)", what,		\
		 __r < 0 ? strerror(__e) : "success", strerror(err));		\
} while (0)

static inline int kt_exit(void)
{
	printf("%s\n", kt_failures ? "RESULT: FAIL" : "RESULT: ok");
	return kt_failures ? 1 : 0;
}

/* Read a small file (sysfs, procfs, debugfs) into @buf, trailing newlines dropped; -1 if
 * missing. */
static inline int kt_read_file(const char *path, char *buf, size_t len)
{
	int fd = open(path, O_RDONLY);
	ssize_t n;

	if (fd < 0)
		return -1;
	n = read(fd, buf, len - 1);
	close(fd);
	if (n < 0)
		return -1;
	buf[n] = 0;
	while (n > 0 && (buf[n - 1] == '\n'))
		buf[--n] = 0;
	return 0;
}

static inline int kt_write_file(const char *path, const char *s)
{
	int fd = open(path, O_WRONLY);
	ssize_t n;

	if (fd < 0)
		return -errno;
	n = write(fd, s, strlen(s));
	close(fd);
	return n < 0 ? -errno : 0;
}

/*
 * The hc_accel node: /dev/accel/accelN (accel kernels) or the render node /dev/dri/renderD*
 * (6.1). @sysdir receives the node's /sys/class directory.
 */
static inline int kt_find_node(char *dev, size_t devlen, char *sysdir, size_t syslen)
{
	static const char *const pats[] = { "/sys/class/accel/accel*", "/sys/class/drm/renderD*" };
	char link[512], path[512];
	unsigned i;
	size_t j;

	for (i = 0; i < 2; i++) {
		glob_t g;

		if (glob(pats[i], 0, NULL, &g))
			continue;
		for (j = 0; j < g.gl_pathc; j++) {
			ssize_t n;

			snprintf(path, sizeof(path), "%s/device/driver", g.gl_pathv[j]);
			n = readlink(path, link, sizeof(link) - 1);
			if (n < 0)
				continue;
			link[n] = 0;
			if (!strstr(link, "/hc_accel"))
				continue;
			snprintf(dev, devlen, "/dev/%s%s", i == 0 ? "accel/" : "dri/",
				 strrchr(g.gl_pathv[j], '/') + 1);
			if (sysdir)
				snprintf(sysdir, syslen, "%s", g.gl_pathv[j]);
			globfree(&g);
			return 0;
		}
		globfree(&g);
	}
	return -ENOENT;
}

static inline int kt_open(char *sysdir, size_t syslen)
{
	char dev[256];
	int fd;

	if (kt_find_node(dev, sizeof(dev), sysdir, syslen)) {
		printf("  FAIL no hc_accel device node\n");
		return -1;
	}
	fd = open(dev, O_RDWR | O_CLOEXEC);
	if (fd < 0)
		printf("  FAIL open %s: %s\n", dev, strerror(errno));
	return fd;
}

/* A sysfs counter of the card: /sys/class/.../device/hc/NAME. */
static inline long long kt_counter(const char *sysdir, const char *name)
{
	char path[1024], buf[64];

	snprintf(path, sizeof(path), "%s/device/hc/%s", sysdir, name);
	if (kt_read_file(path, buf, sizeof(buf)))
		return -1;
	return strtoll(buf, NULL, 0);
}

/*
 * The bound on waiting for an event that comes within milliseconds when the driver works (a
 * completion, a token, a counter settling). Under TCG on a 2-core host with the other core
 * busy, a guest can stall for seconds; a bound is a liveness check, never a speed test.
 */
#define KT_EVENT_MS 60000

static inline int64_t kt_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* A context with its rings mapped. */
struct kt_ctx {
	int fd;
	uint32_t handle;
	void *map;
	size_t map_size;
	struct hc_ring sq;	/* we produce drm_hc_job */
	struct hc_ring cq;	/* we consume hc_cqe */
};

/* A context with @sq_entries and @cq_entries (0: twice as many) ring entries, mapped. */
static inline int kt_ctx_create_cq(int fd, struct kt_ctx *c, uint32_t sq_entries,
				   uint32_t cq_entries)
{
	struct drm_hc_ctx_create a = { .sq_entries = sq_entries, .cq_entries = cq_entries };

	memset(c, 0, sizeof(*c));
	c->fd = fd;
	if (ioctl(fd, DRM_IOCTL_HC_CTX_CREATE, &a))
		return -errno;
	c->handle = a.handle;
	c->map_size = a.ring_size;
	c->map = mmap(NULL, a.ring_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd,
		      (off_t)a.ring_mmap_offset);
	if (c->map == MAP_FAILED)
		return -errno;
	hc_ring_init(&c->sq, (char *)c->map + a.sq_offset, sq_entries, sizeof(struct drm_hc_job));
	hc_ring_init(&c->cq, (char *)c->map + a.cq_offset, a.cq_entries ? a.cq_entries :
		     2 * sq_entries, sizeof(struct drm_hc_cqe));
	return 0;
}

static inline int kt_ctx_create(int fd, struct kt_ctx *c, uint32_t sq_entries)
{
	return kt_ctx_create_cq(fd, c, sq_entries, 0);
}

static inline int kt_ctx_destroy(struct kt_ctx *c)
{
	struct drm_hc_ctx_destroy d = { .handle = c->handle };

	if (c->map && c->map != MAP_FAILED)
		munmap(c->map, c->map_size);
	return ioctl(c->fd, DRM_IOCTL_HC_CTX_DESTROY, &d) ? -errno : 0;
}

/* Put @j on the submission ring and submit it. */
static inline int kt_submit(struct kt_ctx *c, const struct drm_hc_job *j)
{
	struct drm_hc_submit s = { .ctx_handle = c->handle };

	memcpy(hc_ring_prod_entry(&c->sq, 0), j, sizeof(*j));
	hc_ring_prod_publish(&c->sq, 1);
	if (ioctl(c->fd, DRM_IOCTL_HC_SUBMIT, &s))
		return -errno;
	return (int)s.submitted;
}

/* Wait for the next completion (up to @ms). */
static inline int kt_wait_cqe(struct kt_ctx *c, struct drm_hc_cqe *out, int ms)
{
	int64_t deadline = kt_now_ns() + (int64_t)ms * 1000000;

	for (;;) {
		struct drm_hc_wait w = { .ctx_handle = c->handle };

		if (hc_ring_cons_avail(&c->cq) > 0) {
			*out = *(struct drm_hc_cqe *)hc_ring_cons_entry(&c->cq, 0);
			hc_ring_cons_release(&c->cq, 1);
			return 0;
		}
		w.cq_tail = c->cq.local;
		w.timeout_ns = deadline;
		if (ioctl(c->fd, DRM_IOCTL_HC_WAIT, &w) && errno != EINTR)
			return -errno;
	}
}

/* A stream ring in card memory, mapped. */
struct kt_stream {
	int fd;
	uint32_t handle;
	void *map;
	size_t size;
	struct hc_ring r;	/* we consume */
};

static inline int kt_stream_create(int fd, struct kt_stream *s, uint32_t entries)
{
	struct drm_hc_stream_create a = { .entries = entries };

	memset(s, 0, sizeof(*s));
	s->fd = fd;
	if (ioctl(fd, DRM_IOCTL_HC_STREAM_CREATE, &a))
		return -errno;
	s->handle = a.handle;
	s->size = a.size;
	s->map = mmap(NULL, a.size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, (off_t)a.mmap_offset);
	if (s->map == MAP_FAILED)
		return -errno;
	hc_ring_init(&s->r, s->map, entries, sizeof(uint32_t));
	return 0;
}

static inline void kt_stream_destroy(struct kt_stream *s)
{
	struct drm_gem_close c = { .handle = s->handle };

	if (s->map && s->map != MAP_FAILED)
		munmap(s->map, s->size);
	ioctl(s->fd, DRM_IOCTL_GEM_CLOSE, &c);
}

/* Read up to @n tokens of @s (context @c) within @ms; returns how many were read. */
static inline int kt_stream_read(struct kt_ctx *c, struct kt_stream *s, uint32_t *ids, int n,
				 int ms)
{
	int64_t deadline = kt_now_ns() + (int64_t)ms * 1000000;
	int got = 0;

	while (got < n && kt_now_ns() < deadline) {
		struct drm_hc_wait w = { .ctx_handle = c->handle, .flags = DRM_HC_WAIT_STREAM,
					 .stream_handle = s->handle };
		int avail = hc_ring_cons_avail(&s->r), i;

		if (avail < 0)
			return -EPROTO;
		if (avail > 0) {
			for (i = 0; i < avail && got < n; i++)
				ids[got++] = *hc_stream_entry(&s->r, s->r.local + i);
			hc_ring_cons_release(&s->r, (uint32_t)i);
			if (hc_ring_cons_producer_waiting(&s->r)) {
				w.timeout_ns = 0;	/* only notify the card */
				w.stream_tail = s->r.local;
				w.cq_tail = hc_ring_load(&c->cq.hdr->tail);
				ioctl(c->fd, DRM_IOCTL_HC_WAIT, &w);
			}
			continue;
		}
		if (hc_ring_cons_sleep_prepare(&s->r) == 0) {
			w.cq_tail = hc_ring_load(&c->cq.hdr->tail);
			w.stream_tail = s->r.local;
			w.timeout_ns = deadline;
			if (ioctl(c->fd, DRM_IOCTL_HC_WAIT, &w) && errno != EINTR && errno != ETIME) {
				hc_ring_cons_sleep_done(&s->r);
				return -errno;
			}
		}
		hc_ring_cons_sleep_done(&s->r);
	}
	return got;
}

/* Submit a prefill of the decode case's kind. */
static inline int kt_prefill(struct kt_ctx *c, const int32_t *ids, uint32_t n, uint64_t ud)
{
	struct drm_hc_job j;

	memset(&j, 0, sizeof(j));
	j.opcode = DRM_HC_OP_PREFILL;
	j.user_data = ud;
	j.prefill.tokens_ptr = (uintptr_t)ids;
	j.prefill.n_tokens = n;
	return kt_submit(c, &j);
}

static inline int kt_decode(struct kt_ctx *c, struct kt_stream *s, uint32_t max, uint64_t ud)
{
	struct drm_hc_job j;

	memset(&j, 0, sizeof(j));
	j.opcode = DRM_HC_OP_DECODE;
	j.user_data = ud;
	j.decode.stream_handle = s->handle;
	j.decode.max_tokens = max;
	return kt_submit(c, &j);
}

/* The PCI address (e.g. 0000:01:01.0) of the device behind the node's sysfs directory. */
static inline int kt_pci_bdf(const char *sysdir, char *bdf, size_t len)
{
	char path[600], link[512];
	ssize_t n;

	snprintf(path, sizeof(path), "%s/device", sysdir);
	n = readlink(path, link, sizeof(link) - 1);
	if (n <= 0)
		return -1;
	link[n] = 0;
	snprintf(bdf, len, "%s", strrchr(link, '/') + 1);
	return 0;
}

/* The decode case's tokens as hc-emud's socket path produced them on the host (host_ref);
 * returns how many were read (DECODE_CASE_TOKENS when all are there). */
static inline int kt_expected_tokens(uint32_t *ids)
{
	FILE *f = fopen("/etc/expected-decode.txt", "r");
	int n = 0;

	while (f && n < DECODE_CASE_TOKENS && fscanf(f, "%u", &ids[n]) == 1)
		n++;
	if (f)
		fclose(f);
	return n;
}

/*
 * The decode case on a new context of @fd, through a DECODE_CASE_RING-entry stream (smaller
 * than the output: the card waits for space and is woken): 1 if the tokens are exactly the
 * host's and both jobs complete as they should.
 */
static inline int kt_decode_case_exact(int fd)
{
	uint32_t ids[DECODE_CASE_TOKENS], expect[DECODE_CASE_TOKENS];
	struct drm_hc_cqe cqe = { 0 };
	struct kt_ctx c;
	struct kt_stream s;
	int ok;

	if (kt_expected_tokens(expect) != DECODE_CASE_TOKENS)
		return 0;
	if (kt_ctx_create(fd, &c, 4))
		return 0;
	if (kt_stream_create(fd, &s, DECODE_CASE_RING)) {
		kt_ctx_destroy(&c);
		return 0;
	}
	kt_prefill(&c, decode_case_prompt, DECODE_CASE_PROMPT_LEN, 1);
	kt_decode(&c, &s, DECODE_CASE_TOKENS, 2);
	ok = kt_stream_read(&c, &s, ids, DECODE_CASE_TOKENS, KT_EVENT_MS) == DECODE_CASE_TOKENS &&
	     !memcmp(ids, expect, sizeof(ids));
	ok = ok && !kt_wait_cqe(&c, &cqe, KT_EVENT_MS) && cqe.status == DRM_HC_STATUS_OK;
	ok = ok && !kt_wait_cqe(&c, &cqe, KT_EVENT_MS) &&
	     cqe.status == DRM_HC_STATUS_DONE_MAX_TOKENS;
	kt_stream_destroy(&s);
	kt_ctx_destroy(&c);
	return ok;
}

/* The driver's debugfs directory (accel or dri). */
static inline int kt_debugfs(char *out, size_t len)
{
	static const char *const pats[] = { "/sys/kernel/debug/accel/*/ring_state",
					    "/sys/kernel/debug/dri/*/ring_state" };
	unsigned i;

	for (i = 0; i < 2; i++) {
		glob_t g;

		if (glob(pats[i], 0, NULL, &g))
			continue;
		snprintf(out, len, "%s", g.gl_pathv[0]);
		*strrchr(out, '/') = 0;
		globfree(&g);
		return 0;
	}
	return -ENOENT;
}

/* Poll a sysfs counter until it equals @want (or @ms pass); returns the last value. */
static inline long long kt_counter_wait(const char *sysdir, const char *name, long long want,
					int ms)
{
	long long v = kt_counter(sysdir, name);

	while (v != want && ms > 0) {
		usleep(20000);
		ms -= 20;
		v = kt_counter(sysdir, name);
	}
	return v;
}

#endif /* HC_KTEST_H */
