// SPDX-License-Identifier: MIT
/*
 * Kernel backend: the hc_accel driver's ioctls (include/uapi/drm/hc_accel.h).
 *
 * Each context has its own rings, owned by the driver and mapped here: a submission ring of
 * struct drm_hc_job (we produce, the driver copies and validates each entry on SUBMIT) and a
 * completion ring of struct drm_hc_cqe (the driver produces). The library's queue pair of a
 * context is that pair of rings, so the generic reaping code works unchanged (it reads
 * struct hc_cqe, the card's entry, which the driver's entry matches field for field: checked
 * below; a card interface that changes hc_cqe would need a translation here); there is no
 * pollable interrupt fd (irq_fd -1): waits go through DRM_IOCTL_HC_WAIT, and hc_stream_fd()
 * is a per-stream fd from DRM_IOCTL_HC_STREAM_POLLFD. Stream rings live
 * in card memory, mapped from the driver: tokens are read in place, as with hc-emud.
 * libdrm does what it does on any DRM fd (version query, restartable ioctls).
 */
#include <errno.h>
#include <fcntl.h>
#include <glob.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <time.h>
#include <unistd.h>
#include <xf86drm.h>
#include "hc_internal.h"
#include "tokenizer.h"
#include "uapi/drm/hc_accel.h"

#define HK_SAME_FIELD(f)							\
	_Static_assert(offsetof(struct drm_hc_cqe, f) == offsetof(struct hc_cqe, f) &&	\
		       sizeof(((struct drm_hc_cqe *)0)->f) == sizeof(((struct hc_cqe *)0)->f), \
		       "drm_hc_cqe." #f " differs from hc_cqe." #f)
HK_SAME_FIELD(user_data);
HK_SAME_FIELD(ctx_id);
HK_SAME_FIELD(status);
HK_SAME_FIELD(reason);
HK_SAME_FIELD(count);
HK_SAME_FIELD(pos);
HK_SAME_FIELD(aux);
HK_SAME_FIELD(flags);
_Static_assert(sizeof(struct drm_hc_cqe) == sizeof(struct hc_cqe), "completion entry size");
_Static_assert(DRM_HC_STATUS_ERROR == HC_STATUS_ERROR &&
	       DRM_HC_STATUS_CANCELLED == HC_STATUS_CANCELLED &&
	       DRM_HC_STATUS_DONE_STOP_TOKEN == HC_STATUS_DONE_STOP_TOKEN, "statuses");

struct hk_card {
	int fd;
	char sysdir[256];	/* /sys/dev/char/MAJ:MIN/device */
	char hwmon[300];	/* its hwmon directory, or "" */
};

/* A context's queue pair: the library's view plus what the driver gave us. */
struct hk_qp {
	struct hc_qp qp;
	uint32_t handle;
	void *map;
	size_t map_size;
};

static struct hk_card *hk(struct hc_card *card)
{
	return card->backend;
}

static struct hk_qp *hk_qp(struct hc_qp *qp)
{
	return (struct hk_qp *)((char *)qp - offsetof(struct hk_qp, qp));
}

static int hk_ioctl(struct hc_card *card, unsigned long req, void *arg)
{
	return drmIoctl(hk(card)->fd, req, arg) ? -errno : 0;
}

static size_t page_align(uint64_t n)
{
	uint64_t pg = (uint64_t)sysconf(_SC_PAGESIZE);

	return (size_t)((n + pg - 1) & ~(pg - 1));
}

static void hk_release(struct hc_card *card)
{
	struct hk_card *k = hk(card);

	if (!k)
		return;
	if (k->fd >= 0)
		close(k->fd);
	free(k);
	card->backend = NULL;
}

static int hk_ctx_open(struct hc_card *card, struct hc_ctx *ctx)
{
	struct drm_hc_ctx_create a = { .sq_entries = HC_SQ_ENTRIES, .cq_entries = HC_CQ_ENTRIES };
	struct drm_hc_ctx_destroy d = { 0 };
	struct hk_qp *q;
	int ret;

	ret = hk_ioctl(card, DRM_IOCTL_HC_CTX_CREATE, &a);
	if (ret)
		return ret == -ENOSPC || ret == -EMFILE ? -EBUSY : ret;
	d.handle = a.handle;
	q = calloc(1, sizeof(*q));
	if (!q) {
		ret = -ENOMEM;
		goto err;
	}
	q->handle = a.handle;
	q->map_size = a.ring_size;
	q->map = mmap(NULL, a.ring_size, PROT_READ | PROT_WRITE, MAP_SHARED, hk(card)->fd,
		      (off_t)a.ring_mmap_offset);
	if (q->map == MAP_FAILED) {
		ret = -errno;
		free(q);
		goto err;
	}
	q->qp.card = card;
	q->qp.index = a.handle;
	q->qp.enabled = 1;
	q->qp.users = 1;
	q->qp.irq_fd = -1;
	pthread_mutex_init(&q->qp.lock, NULL);
	hc_ring_init(&q->qp.sq, (char *)q->map + a.sq_offset, HC_SQ_ENTRIES,
		     sizeof(struct drm_hc_job));
	hc_ring_init(&q->qp.cq, (char *)q->map + a.cq_offset, HC_CQ_ENTRIES,
		     sizeof(struct drm_hc_cqe));
	ctx->qp = &q->qp;
	ctx->id = a.handle;
	return 0;
err:
	hk_ioctl(card, DRM_IOCTL_HC_CTX_DESTROY, &d);
	return ret;
}

static void hk_ctx_close(struct hc_card *card, struct hc_ctx *ctx)
{
	struct hk_qp *q = hk_qp(ctx->qp);
	struct drm_hc_ctx_destroy d = { .handle = q->handle };

	/* The driver cancels the context's jobs; their completions are in our ring on return. */
	hk_ioctl(card, DRM_IOCTL_HC_CTX_DESTROY, &d);
	hc__reap(card, &q->qp);
	hc__qp_drop_ops(&q->qp);
	munmap(q->map, q->map_size);
	pthread_mutex_destroy(&q->qp.lock);
	free(q);
	ctx->qp = NULL;
}

/* Translate a card SQE (cookies for buffers) into the driver's job and submit it. */
static int hk_push(struct hc_card *card, struct hc_qp *qp, const struct hc_sqe *sqe)
{
	struct hk_qp *q = hk_qp(qp);
	struct drm_hc_submit s = { .ctx_handle = q->handle };
	struct drm_hc_job j;
	int space = hc_ring_prod_space(&qp->sq), ret;

	if (space <= 0)
		return space < 0 ? -EIO : -EAGAIN;
	memset(&j, 0, sizeof(j));
	j.user_data = sqe->user_data;
	/* The driver's opcodes are its own UAPI, not the card's (they happen to share values). */
	switch (sqe->opcode) {
	case HC_OP_NOP:
		j.opcode = DRM_HC_OP_NOP;
		break;
	case HC_OP_RESET_CONTEXT:
		j.opcode = DRM_HC_OP_RESET_CONTEXT;
		break;
	case HC_OP_PREFILL:
		j.opcode = DRM_HC_OP_PREFILL;
		j.prefill.tokens_ptr = sqe->prefill.tokens_offset;	/* a PROMPT cookie */
		j.prefill.n_tokens = sqe->prefill.n_tokens;
		break;
	case HC_OP_DECODE:
		j.opcode = DRM_HC_OP_DECODE;
		j.decode.stream_handle = (uint32_t)sqe->decode.stream_offset;	/* STREAM cookie */
		j.decode.max_tokens = sqe->decode.max_tokens;
		j.decode.temperature = sqe->decode.temperature;
		j.decode.top_p = sqe->decode.top_p;
		j.decode.top_k = sqe->decode.top_k;
		j.decode.n_stop = sqe->decode.n_stop;
		j.decode.seed = sqe->decode.seed;
		j.decode.step_base = sqe->decode.step_base;
		memcpy(j.decode.stop, sqe->decode.stop, sizeof(j.decode.stop));
		/* set only when GET_INFO's caps have HC_CAP_WAKEUP_DELAY (the driver passes it) */
		j.decode.wakeup_usec = sqe->decode.wakeup_usec;
		j.decode.wakeup_tokens = sqe->decode.wakeup_tokens;
		break;
	default:
		return -EINVAL;	/* contexts and cancels have their own ioctls */
	}
	memcpy(hc_ring_prod_entry(&qp->sq, 0), &j, sizeof(j));
	hc_ring_prod_publish(&qp->sq, 1);
	ret = hk_ioctl(card, DRM_IOCTL_HC_SUBMIT, &s);
	if (ret) {
		/* Refused entries stay at the ring's head: take ours back. */
		qp->sq.local -= 1;
		hc_ring_store_release(&qp->sq.hdr->tail, qp->sq.local);
		return ret == -EBUSY ? -EAGAIN : ret;
	}
	return 0;
}

static int hk_cancel(struct hc_card *card, struct hc_ctx *ctx)
{
	struct drm_hc_cancel c = { .ctx_handle = hk_qp(ctx->qp)->handle };

	return hk_ioctl(card, DRM_IOCTL_HC_CANCEL, &c);
}

/* PROMPT: our own memory (the driver copies it at submit). STREAM: card memory, mapped. */
static int hk_buf_alloc(struct hc_card *card, enum hc_buf_kind kind, uint64_t size,
			uint64_t *cookie, void **ptr)
{
	struct drm_hc_stream_create a = { 0 };
	struct drm_gem_close gc = { 0 };
	void *p;
	int ret;

	if (kind == HC_BUF_PROMPT) {
		p = malloc(size ? size : 1);
		if (!p)
			return -ENOMEM;
		*cookie = (uintptr_t)p;
		*ptr = p;
		return 0;
	}
	if (size < HC_RING_HDR_SIZE + sizeof(uint32_t))
		return -EINVAL;
	a.entries = (uint32_t)((size - HC_RING_HDR_SIZE) / sizeof(uint32_t));
	ret = hk_ioctl(card, DRM_IOCTL_HC_STREAM_CREATE, &a);
	if (ret)
		return ret;
	p = mmap(NULL, page_align(size), PROT_READ | PROT_WRITE, MAP_SHARED, hk(card)->fd,
		 (off_t)a.mmap_offset);
	if (p == MAP_FAILED) {
		ret = -errno;
		gc.handle = a.handle;
		hk_ioctl(card, DRM_IOCTL_GEM_CLOSE, &gc);
		return ret;
	}
	*cookie = a.handle;
	*ptr = p;
	return 0;
}

static void hk_buf_free(struct hc_card *card, enum hc_buf_kind kind, uint64_t cookie, void *ptr,
			uint64_t size)
{
	struct drm_gem_close gc = { .handle = (uint32_t)cookie };

	if (kind == HC_BUF_PROMPT) {
		free(ptr);
		return;
	}
	munmap(ptr, page_align(size));
	hk_ioctl(card, DRM_IOCTL_GEM_CLOSE, &gc);
}

static int64_t deadline_ns(int timeout_ms)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec + (int64_t)timeout_ms * 1000000;
}

/* The card waits for stream space: WAIT with the stream and a past deadline only notifies. */
static void hk_stream_kick(struct hc_card *card, struct hc_stream_impl *si)
{
	struct drm_hc_wait w = {
		.ctx_handle = hk_qp(si->ctx->qp)->handle,
		.flags = DRM_HC_WAIT_STREAM,
		.stream_handle = (uint32_t)si->ring_cookie,
		.stream_tail = hc_ring_load(&si->hdr->head),
		.cq_tail = hc_ring_load(&si->ctx->qp->cq.hdr->head),
		.timeout_ns = 0,
	};

	hk_ioctl(card, DRM_IOCTL_HC_WAIT, &w);
}

/*
 * Sleep until the completion ring holds something we have not consumed, or (with @si) the
 * stream holds unread tokens, or @timeout_ms. Comparing against the consumer heads makes the
 * driver return at once when there is already something to read.
 */
static int hk_wait(struct hc_card *card, struct hc_qp *qp, struct hc_stream_impl *si,
		   int timeout_ms)
{
	struct drm_hc_wait w = {
		.ctx_handle = hk_qp(qp)->handle,
		.cq_tail = hc_ring_load(&qp->cq.hdr->head),
		.timeout_ns = deadline_ns(timeout_ms),
	};
	int ret;

	if (si) {
		w.flags = DRM_HC_WAIT_STREAM;
		w.stream_handle = (uint32_t)si->ring_cookie;
		w.stream_tail = hc_ring_load(&si->hdr->head);
	}
	ret = hk_ioctl(card, DRM_IOCTL_HC_WAIT, &w);
	return ret == -ETIME ? -ETIMEDOUT : ret;
}

/* A per-stream fd of the driver that polls readable while hk_wait would return at once. */
static int hk_stream_fd(struct hc_card *card, struct hc_stream_impl *si)
{
	struct drm_hc_stream_pollfd p = {
		.ctx_handle = hk_qp(si->ctx->qp)->handle,
		.stream_handle = (uint32_t)si->ring_cookie,
	};
	int ret = hk_ioctl(card, DRM_IOCTL_HC_STREAM_POLLFD, &p);

	return ret ? ret : p.fd;
}

static uint64_t read_u64(const char *dir, const char *name)
{
	char path[512], buf[64];
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return 0;
	buf[n] = 0;
	return strtoull(buf, NULL, 0);
}

/* No register page here: the driver's sysfs and hwmon files (docs/ABI). */
static int hk_telemetry(struct hc_card *card, struct hc_telemetry *t)
{
	struct hk_card *k = hk(card);
	char dir[300];

	snprintf(dir, sizeof(dir), "%s/hc", k->sysdir);
	memset(t, 0, sizeof(*t));
	t->heartbeat = read_u64(dir, "heartbeat");
	t->tokens_generated = read_u64(dir, "tokens_generated");
	t->prompt_tokens = read_u64(dir, "prompt_tokens");
	t->jobs_completed = read_u64(dir, "jobs_completed");
	t->jobs_failed = read_u64(dir, "jobs_failed");
	t->busy_ns = read_u64(dir, "busy_time_ns");
	t->contexts_in_use = read_u64(dir, "contexts_in_use");
	t->my_contexts = read_u64(dir, "contexts_open");
	t->clients = 1;
	if (k->hwmon[0]) {
		t->temperature_mc = read_u64(k->hwmon, "temp1_input");
		t->power_uw = read_u64(k->hwmon, "power1_average");
		t->energy_uj = read_u64(k->hwmon, "energy1_input");
	}
	return 0;
}

static const struct hc_card_ops kernel_ops = {
	.name = "kernel",
	.release = hk_release,
	.ctx_open = hk_ctx_open,
	.ctx_close = hk_ctx_close,
	.push = hk_push,
	.cancel = hk_cancel,
	.buf_alloc = hk_buf_alloc,
	.buf_free = hk_buf_free,
	.stream_kick = hk_stream_kick,
	.wait = hk_wait,
	.stream_fd = hk_stream_fd,
	.telemetry = hk_telemetry,
};

static int hk_load_tokenizer(struct hc_card *card)
{
	struct drm_hc_get_tokenizer g = { 0 };
	char err[256];
	void *blob;
	int ret;

	ret = hk_ioctl(card, DRM_IOCTL_HC_GET_TOKENIZER, &g);
	if (ret == -EOPNOTSUPP)
		return 0;	/* text functions then answer -EOPNOTSUPP */
	if (ret)
		return ret;
	blob = malloc(g.size ? g.size : 1);
	if (!blob)
		return -ENOMEM;
	g.ptr = (uintptr_t)blob;
	ret = hk_ioctl(card, DRM_IOCTL_HC_GET_TOKENIZER, &g);
	if (!ret && hc_tok_load(blob, g.size, &card->tok, err, sizeof(err)) < 0)
		ret = -EPROTO;
	free(blob);
	return ret;
}

static void hk_find_sysfs(struct hk_card *k)
{
	struct stat st;
	glob_t g;
	char pat[300];

	if (fstat(k->fd, &st) < 0)
		return;
	snprintf(k->sysdir, sizeof(k->sysdir), "/sys/dev/char/%u:%u/device", major(st.st_rdev),
		 minor(st.st_rdev));
	snprintf(pat, sizeof(pat), "%s/hwmon/hwmon*", k->sysdir);
	if (!glob(pat, 0, NULL, &g)) {
		if (g.gl_pathc)
			snprintf(k->hwmon, sizeof(k->hwmon), "%s", g.gl_pathv[0]);
		globfree(&g);
	}
}

/*
 * The driver's version: its module's (MODULE_VERSION, the project's version, which modinfo
 * and DKMS show too), through the device's driver link; "" when sysfs does not say.
 */
static void hk_driver_version(const struct hk_card *k, char *buf, size_t len)
{
	char path[300];
	ssize_t n;
	int fd;

	buf[0] = 0;
	if (!k->sysdir[0])
		return;
	snprintf(path, sizeof(path), "%s/driver/module/version", k->sysdir);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return;
	n = read(fd, buf, len - 1);
	close(fd);
	buf[n > 0 ? n : 0] = 0;
	buf[strcspn(buf, "\n")] = 0;
}

int hc_kernel_open(struct hc_card *card, const char *devnode)
{
	struct drm_hc_info info = { 0 };
	struct hc_card_info *in = &card->info;
	struct hk_card *k;
	drmVersionPtr ver;
	int ret;

	k = calloc(1, sizeof(*k));
	if (!k)
		return -ENOMEM;
	card->backend = k;
	card->ops = &kernel_ops;
	k->fd = open(devnode, O_RDWR | O_CLOEXEC);
	if (k->fd < 0)
		return errno == ENOENT ? -ENOENT : errno == ENXIO ? -ENODEV : -errno;
	ver = drmGetVersion(k->fd);
	if (!ver)
		return -ENODEV;
	ret = strcmp(ver->name, "hc_accel") ? -ENODEV : 0;
	drmFreeVersion(ver);
	if (ret)
		return ret;
	ret = hk_ioctl(card, DRM_IOCTL_HC_GET_INFO, &info);
	if (ret)
		return ret;
	if (info.interface_version != HC_CARD_VERSION)
		return -EPROTO;
	hk_find_sysfs(k);

	memset(in, 0, sizeof(*in));
	memcpy(in->model_name, info.model_name, sizeof(in->model_name));
	in->model_name[sizeof(in->model_name) - 1] = 0;
	memcpy(in->identity, info.model_identity, sizeof(in->identity));
	in->interface_version = info.interface_version;
	in->vocab_size = info.vocab_size;
	in->dim = info.dim;
	in->n_layers = info.n_layers;
	in->n_heads = info.n_heads;
	in->n_kv_heads = info.n_kv_heads;
	in->ffn_dim = info.ffn_dim;
	in->model_max_ctx = info.max_ctx;
	in->n_contexts = info.max_contexts;
	in->max_ctx = info.max_ctx_len;
	in->n_queue_pairs = 1;
	in->max_queue_entries = HC_SQ_ENTRIES;
	in->stream_mem_bytes = info.stream_mem_bytes;
	in->capabilities = info.caps;
	in->status = info.status;
	card->versions.interface_version = info.interface_version;
	card->versions.fw_version = info.fw_version;	/* 0 from a driver without the field */
	hk_driver_version(k, card->versions.driver_version, sizeof(card->versions.driver_version));
	card->max_prefill = info.max_prefill_tokens;
	card->max_stream_entries = info.max_stream_entries;
	card->n_qps = 0;	/* one queue pair per context, owned by the driver */
	return hk_load_tokenizer(card);
}
