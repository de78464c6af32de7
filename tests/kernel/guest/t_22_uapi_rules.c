// SPDX-License-Identifier: MIT
/*
 * The UAPI rules of driver v2 (docs/driver.md), each a defect of 27ebc51:
 *  - every byte of a submission entry is defined: a non-zero byte in the last word of a
 *    DECODE entry (beyond the old 104-byte struct) is refused;
 *  - buffers cannot leave the file through PRIME (no export of streams or rings);
 *  - MAP_PRIVATE mappings of rings and streams are refused;
 *  - a WAIT sleeping on a context returns -ENOENT when another thread destroys it (it slept
 *    to its deadline before).
 */
#include <pthread.h>
#include "ktest.h"

static struct kt_ctx wc;
static int wait_errno = -1;
static int64_t wait_ns;

static void *waiter(void *arg)
{
	struct drm_hc_wait w = { .ctx_handle = wc.handle };
	int64_t t0 = kt_now_ns();

	(void)arg;
	w.cq_tail = hc_ring_load(&wc.cq.hdr->tail);
	w.timeout_ns = t0 + (int64_t)KT_EVENT_MS * 1000000;
	wait_errno = ioctl(wc.fd, DRM_IOCTL_HC_WAIT, &w) ? errno : 0;
	wait_ns = kt_now_ns() - t0;
	return NULL;
}

static void t_decode_last_word(int fd)
{
	struct kt_stream s;
	struct kt_ctx c;
	struct drm_hc_job j;
	uint32_t head;
	int rc;

	KT_CHECK(kt_ctx_create(fd, &c, 4) == 0 && kt_stream_create(fd, &s, 16) == 0,
		 "context and stream");
	memset(&j, 0, sizeof(j));
	j.opcode = DRM_HC_OP_DECODE;
	j.decode.stream_handle = s.handle;
	j.decode.max_tokens = 1;
	j.args[13] = 1;
	head = hc_ring_load(&c.sq.hdr->head);
	rc = kt_submit(&c, &j);
	KT_CHECK(rc == -EINVAL && hc_ring_load(&c.sq.hdr->head) == head,
		 "DECODE with a non-zero last argument word -> %s (want EINVAL, entry not taken)",
		 rc < 0 ? strerror(-rc) : "submitted");
	KT_CHECK(sizeof(j.decode) == sizeof(j.args) && sizeof(j.prefill) == sizeof(j.args),
		 "every job argument struct is %zu bytes, as the union", sizeof(j.args));
	kt_stream_destroy(&s);
	kt_ctx_destroy(&c);
}

static void t_no_prime(int fd)
{
	struct drm_hc_ctx_create cc = { .sq_entries = 4 };
	struct drm_prime_handle p;
	struct kt_stream s;
	int rc;

	KT_CHECK(kt_stream_create(fd, &s, 16) == 0, "stream");
	p = (struct drm_prime_handle){ .handle = s.handle, .flags = DRM_CLOEXEC | DRM_RDWR };
	rc = ioctl(fd, DRM_IOCTL_PRIME_HANDLE_TO_FD, &p);
	KT_CHECK(rc < 0, "PRIME export of a stream refused (%s)", rc < 0 ? strerror(errno) :
		 "exported");
	if (rc == 0)
		close(p.fd);
	kt_stream_destroy(&s);
	/* The context rings are GEM objects too, though they have no handle: nothing to name. */
	KT_CHECK(ioctl(fd, DRM_IOCTL_HC_CTX_CREATE, &cc) == 0, "context");
	p = (struct drm_prime_handle){ .handle = cc.handle, .flags = DRM_CLOEXEC };
	rc = ioctl(fd, DRM_IOCTL_PRIME_HANDLE_TO_FD, &p);
	KT_CHECK(rc < 0, "PRIME export of a context handle refused (%s)",
		 rc < 0 ? strerror(errno) : "exported");
	if (rc == 0)
		close(p.fd);
	{
		struct drm_hc_ctx_destroy d = { .handle = cc.handle };

		ioctl(fd, DRM_IOCTL_HC_CTX_DESTROY, &d);
	}
}

static void t_no_map_private(int fd)
{
	struct drm_hc_ctx_create cc = { .sq_entries = 4 };
	struct drm_hc_stream_create sc = { .entries = 16 };
	struct drm_hc_ctx_destroy d;
	struct drm_gem_close gc;
	void *m;

	KT_CHECK(ioctl(fd, DRM_IOCTL_HC_CTX_CREATE, &cc) == 0 &&
		 ioctl(fd, DRM_IOCTL_HC_STREAM_CREATE, &sc) == 0, "context and stream");
	m = mmap(NULL, cc.ring_size, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd,
		 (off_t)cc.ring_mmap_offset);
	KT_CHECK(m == MAP_FAILED && errno == EINVAL, "MAP_PRIVATE of the context rings -> %s",
		 m == MAP_FAILED ? strerror(errno) : "mapped");
	if (m != MAP_FAILED)
		munmap(m, cc.ring_size);
	m = mmap(NULL, sc.size, PROT_READ, MAP_PRIVATE, fd, (off_t)sc.mmap_offset);
	KT_CHECK(m == MAP_FAILED && errno == EINVAL, "MAP_PRIVATE of a stream -> %s",
		 m == MAP_FAILED ? strerror(errno) : "mapped");
	if (m != MAP_FAILED)
		munmap(m, sc.size);
	m = mmap(NULL, sc.size, PROT_READ, MAP_SHARED, fd, (off_t)sc.mmap_offset);
	KT_CHECK(m != MAP_FAILED, "MAP_SHARED of the same stream works");
	if (m != MAP_FAILED)
		munmap(m, sc.size);
	d = (struct drm_hc_ctx_destroy){ .handle = cc.handle };
	ioctl(fd, DRM_IOCTL_HC_CTX_DESTROY, &d);
	gc = (struct drm_gem_close){ .handle = sc.handle };
	ioctl(fd, DRM_IOCTL_GEM_CLOSE, &gc);
}

static void t_wait_on_destroyed(int fd)
{
	struct drm_hc_ctx_destroy d;
	pthread_t th;

	KT_CHECK(kt_ctx_create(fd, &wc, 4) == 0, "context to wait on");
	pthread_create(&th, NULL, waiter, NULL);
	/* Not a bound: the destroy may come before or after the WAIT starts sleeping; both must
	 * end the WAIT at once (lookup fails, or the sleeper is woken). */
	usleep(300000);
	d = (struct drm_hc_ctx_destroy){ .handle = wc.handle };
	KT_CHECK(ioctl(fd, DRM_IOCTL_HC_CTX_DESTROY, &d) == 0, "context destroyed by another thread");
	pthread_join(th, NULL);
	KT_CHECK(wait_errno == ENOENT, "the WAIT returned %s after %.1f s (want ENOENT, not its "
		 "deadline %d s)", wait_errno ? strerror(wait_errno) : "0", wait_ns / 1e9,
		 KT_EVENT_MS / 1000);
	munmap(wc.map, wc.map_size);
}

int main(void)
{
	char sysdir[512];
	int fd = kt_open(sysdir, sizeof(sysdir));

	if (fd < 0)
		return 1;
	t_decode_last_word(fd);
	t_no_prime(fd);
	t_no_map_private(fd);
	t_wait_on_destroyed(fd);
	close(fd);
	return kt_exit();
}
