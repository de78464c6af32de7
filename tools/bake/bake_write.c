// SPDX-License-Identifier: MIT
/*
 * bake_write_rom: stream a bake_source into a ROM file. Tensors are read a bounded chunk
 * of rows at a time, converted, and written with pwrite at their final offsets, so memory
 * stays around CHUNK_BYTES whatever the model size. The file is built under a temporary
 * name and renamed only once complete and hashed: a failed bake leaves no ROM behind.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <openssl/evp.h>
#include "bake.h"
#include "bake_io.h"
#include "quant.h"
#include "hc_err.h"
#include "hc_file.h"
#include "rom.h"

#define CHUNK_BYTES (64u << 20)		/* float rows per conversion step */
#define HASH_CHUNK  (16u << 20)

static uint64_t align_up(uint64_t x)
{
	return (x + HC_ROM_ALIGN - 1) & ~(uint64_t)(HC_ROM_ALIGN - 1);
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

struct progress {
	int enabled, shown;
	double start, last;
	uint64_t total, done;
};

/* Shown only once a bake has run for a second: small bakes stay silent. */
static void progress_update(struct progress *p, uint64_t add, const char *what)
{
	double t;

	p->done += add;
	if (!p->enabled)
		return;
	t = now_s();
	if (t - p->start < 1.0 || (t - p->last < 0.1 && p->done < p->total))
		return;
	p->last = t;
	p->shown = 1;
	fprintf(stderr, "\rbaking %3d%%  %7.1f / %.1f MiB  %-32.32s",
		p->total ? (int)(100.0 * p->done / p->total) : 100, p->done / 1048576.0,
		p->total / 1048576.0, what);
	fflush(stderr);
}

static void progress_end(struct progress *p)
{
	if (p->shown)
		fprintf(stderr, "\n");
}

static int pwrite_all(int fd, const void *buf, size_t len, uint64_t off)
{
	const uint8_t *p = buf;

	while (len) {
		ssize_t n = pwrite(fd, p, len, (off_t)off);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		p += n;
		len -= (size_t)n;
		off += (uint64_t)n;
	}
	return 0;
}

/*
 * Start writeback of what was just written and drop the previous range from the page
 * cache once it is on disk: dirty memory stays bounded on any model size.
 */
static void flush_range(int fd, uint64_t off, uint64_t len, uint64_t *prev_off,
			uint64_t *prev_len)
{
	sync_file_range(fd, (off_t)off, (off_t)len, SYNC_FILE_RANGE_WRITE);
	if (*prev_len) {
		sync_file_range(fd, (off_t)*prev_off, (off_t)*prev_len,
				SYNC_FILE_RANGE_WAIT_BEFORE | SYNC_FILE_RANGE_WRITE |
				SYNC_FILE_RANGE_WAIT_AFTER);
		posix_fadvise(fd, (off_t)*prev_off, (off_t)*prev_len, POSIX_FADV_DONTNEED);
	}
	*prev_off = off;
	*prev_len = len;
}

/* Canonical tensor table for @src; fails on anything the loader would reject. */
static int build_table(struct bake_source *src, uint32_t wtype, struct hc_rom_header *h,
		       struct hc_rom_tensor *tab, uint32_t *src_index, const char *out,
		       char *err, size_t errlen)
{
	uint32_t n = hc_rom_n_expected(&h->arch);
	char why[256];
	int ret;

	if (src->n_tensors != n) {
		/* name the first missing or extra tensor for a useful message */
		for (uint32_t i = 0; i < src->n_tensors; i++) {
			uint64_t shape[2];
			uint32_t nd;

			if (hc_rom_tensor_slot(&h->arch, src->tensors[i].name, &nd, shape) < 0) {
				hc_errmsg(err, errlen, "%s: unexpected tensor '%s' for a %u-layer model",
				       src->name, src->tensors[i].name, h->arch.n_layers);
				return -EINVAL;
			}
		}
		hc_errmsg(err, errlen, "%s: has %u tensors, a %u-layer model%s needs %u (some are missing)",
		       src->name, src->n_tensors, h->arch.n_layers,
		       h->arch.flags & HC_ARCH_TIED_CLASSIFIER ? " with tied classifier" : "",
		       n);
		return -EINVAL;
	}
	for (uint32_t i = 0; i < n; i++)
		src_index[i] = UINT32_MAX;
	for (uint32_t i = 0; i < n; i++) {
		const struct bake_tensor *st = &src->tensors[i];
		struct hc_rom_tensor *t;
		uint64_t shape[2];
		uint32_t nd;
		int slot;

		if (!memchr(st->name, 0, sizeof(st->name))) {
			hc_errmsg(err, errlen, "%s: tensor %u has an unterminated name", src->name, i);
			return -EINVAL;
		}
		slot = hc_rom_tensor_slot(&h->arch, st->name, &nd, shape);
		if (slot < 0) {
			hc_errmsg(err, errlen, "%s: unexpected tensor '%s' for a %u-layer model",
			       src->name, st->name, h->arch.n_layers);
			return -EINVAL;
		}
		if (src_index[slot] != UINT32_MAX) {
			hc_errmsg(err, errlen, "%s: tensor '%s' appears twice", src->name, st->name);
			return -EINVAL;
		}
		if (st->n_dims != nd || st->shape[0] != shape[0] ||
		    (nd == 2 && st->shape[1] != shape[1])) {
			hc_errmsg(err, errlen,
			       "%s: tensor '%s' shape mismatch: [%llu, %llu], the model's arch needs [%llu, %llu]",
			       src->name, st->name, (unsigned long long)st->shape[0],
			       (unsigned long long)(st->n_dims == 2 ? st->shape[1] : 1),
			       (unsigned long long)shape[0], (unsigned long long)shape[1]);
			return -EINVAL;
		}
		switch (st->type) {
		case HC_WTYPE_F32: case HC_WTYPE_F16: case HC_WTYPE_BF16:
		case HC_WTYPE_Q8_0: case HC_WTYPE_Q4_0:
			break;
		default:
			hc_errmsg(err, errlen, "%s: tensor '%s' has unsupported type %u", src->name,
			       st->name, st->type);
			return -ENOTSUP;
		}
		src_index[slot] = i;
		t = &tab[slot];
		memset(t, 0, sizeof(*t));
		snprintf(t->name, sizeof(t->name), "%s", st->name);
		t->n_dims = nd;
		t->shape[0] = shape[0];
		t->shape[1] = shape[1];
		t->type = nd == 1 ? HC_WTYPE_F32 : wtype;
		if (hc_row_size(t->type, shape[0]) == 0) {
			hc_errmsg(err, errlen,
			       "%s: tensor '%s' row length %llu is not a multiple of %d, cannot store it as %s",
			       src->name, st->name, (unsigned long long)shape[0], HC_QK,
			       hc_wtype_name(t->type));
			return -EINVAL;
		}
		t->size = hc_row_size(t->type, shape[0]) * shape[1];
	}
	uint64_t off = h->data_offset;

	for (uint32_t i = 0; i < n; i++) {
		tab[i].offset = off;
		off = align_up(off + tab[i].size);
	}
	/* the file ends with the last tensor's last byte */
	h->file_size = tab[n - 1].offset + tab[n - 1].size;
	h->data_size = h->file_size - h->data_offset;
	ret = hc_rom_check_layout(h, tab, h->file_size, why, sizeof(why));
	if (ret)
		hc_errmsg(err, errlen, "%s: internal error, layout rejected: %s", out, why);
	return ret;
}

/* Rows of one tensor, converted to the ROM type and written in place. */
static int write_tensor(struct bake_source *src, uint32_t si, const struct hc_rom_tensor *t,
			int fd, float *fbuf, void *obuf, struct progress *pg,
			uint64_t *prev_off, uint64_t *prev_len, const char *out,
			char *err, size_t errlen)
{
	const struct bake_tensor *st = &src->tensors[si];
	const uint64_t n = t->shape[0], rows = t->shape[1];
	const size_t rs = hc_row_size(t->type, n);
	const int raw = st->type == t->type && src->read_rows_raw;
	uint64_t chunk = CHUNK_BYTES / (n * sizeof(float));
	int ret;

	if (chunk == 0)
		chunk = 1;
	for (uint64_t r0 = 0; r0 < rows; r0 += chunk) {
		uint64_t nr = rows - r0 < chunk ? rows - r0 : chunk;
		const void *data = obuf;

		err[0] = 0;
		if (raw) {
			ret = src->read_rows_raw(src, si, r0, nr, obuf, err, errlen);
		} else {
			ret = src->read_rows_f32(src, si, r0, nr, fbuf, err, errlen);
			if (!ret) {
				for (uint64_t r = 0; r < nr; r++) {
					const float *x = fbuf + r * n;
					uint8_t *y = (uint8_t *)obuf + r * rs;

					if (t->type == HC_WTYPE_Q8_0)
						hc_quantize_row_q8_0(x, (void *)y, n);
					else if (t->type == HC_WTYPE_Q4_0)
						hc_quantize_row_q4_0(x, (void *)y, n);
				}
				if (t->type == HC_WTYPE_F32)
					data = fbuf;
			}
		}
		if (ret) {
			if (!err[0])
				hc_errmsg(err, errlen, "%s: cannot read tensor '%s': %s", src->name,
				       t->name, strerror(-ret));
			return ret;
		}
		ret = pwrite_all(fd, data, nr * rs, t->offset + r0 * rs);
		if (ret) {
			hc_errmsg(err, errlen, "%s: write failed: %s", out, strerror(-ret));
			return ret;
		}
		flush_range(fd, t->offset + r0 * rs, nr * rs, prev_off, prev_len);
		progress_update(pg, nr * rs, t->name);
	}
	return 0;
}

/* SHA-256 of the written file (identity still zero), read back in chunks. */
static int hash_back(int fd, uint64_t size, uint8_t digest[32], struct progress *pg)
{
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	uint8_t *buf = malloc(HASH_CHUNK);
	unsigned int len = 0;
	int ret = 0;

	if (!ctx || !buf) {
		ret = -ENOMEM;
		goto out;
	}
	if (!EVP_DigestInit_ex(ctx, EVP_sha256(), NULL)) {
		ret = -EIO;
		goto out;
	}
	posix_fadvise(fd, 0, (off_t)size, POSIX_FADV_SEQUENTIAL);
	for (uint64_t off = 0; off < size; off += HASH_CHUNK) {
		size_t n = size - off < HASH_CHUNK ? (size_t)(size - off) : HASH_CHUNK;

		ret = bake_pread(fd, buf, n, off);
		if (ret)
			goto out;
		if (!EVP_DigestUpdate(ctx, buf, n)) {
			ret = -EIO;
			goto out;
		}
		posix_fadvise(fd, (off_t)off, (off_t)n, POSIX_FADV_DONTNEED);
		progress_update(pg, n, "SHA-256");
	}
	if (!EVP_DigestFinal_ex(ctx, digest, &len) || len != 32)
		ret = -EIO;
out:
	EVP_MD_CTX_free(ctx);
	free(buf);
	return ret;
}

/*
 * An interrupted bake removes its temporary file (it can be gigabytes). Only signals the
 * program left at their default action are taken over, and only while writing.
 */
static char cleanup_path[4096];
static const int cleanup_sigs[] = { SIGINT, SIGTERM, SIGHUP };

static void cleanup_on_signal(int sig)
{
	unlink(cleanup_path);
	signal(sig, SIG_DFL);
	raise(sig);
}

static void cleanup_arm(const char *tmp, struct sigaction *old)
{
	struct sigaction sa = { .sa_handler = cleanup_on_signal };

	if (strlen(tmp) >= sizeof(cleanup_path)) {
		for (size_t i = 0; i < 3; i++)
			old[i].sa_handler = SIG_ERR;
		return;
	}
	strcpy(cleanup_path, tmp);
	for (size_t i = 0; i < 3; i++) {
		old[i].sa_handler = SIG_ERR;
		if (sigaction(cleanup_sigs[i], NULL, &old[i]) == 0 && old[i].sa_handler == SIG_DFL)
			sigaction(cleanup_sigs[i], &sa, NULL);
		else
			old[i].sa_handler = SIG_ERR;	/* not ours to restore */
	}
}

static void cleanup_disarm(struct sigaction *old)
{
	for (size_t i = 0; i < 3; i++)
		if (old[i].sa_handler != SIG_ERR)
			sigaction(cleanup_sigs[i], &old[i], NULL);
}

static int file_mode(void)
{
	mode_t m = umask(0);

	umask(m);
	return 0666 & ~m;
}

int bake_write_rom(struct bake_source *src, uint32_t wtype, const char *out_path, int progress,
		   char *err, size_t errlen)
{
	struct hc_rom_header *h = NULL;
	struct hc_rom_tensor *tab = NULL;
	uint32_t *src_index = NULL;
	struct progress pg = { .enabled = progress, .start = now_s() };
	uint64_t prev_off = 0, prev_len = 0, max_row = 0;
	float *fbuf = NULL;
	void *obuf = NULL, *blob = NULL;
	char *tmp = NULL, why[256];
	size_t blob_len = 0;
	struct sigaction old_sig[3];
	struct hc_tokenizer *tok = NULL;
	uint8_t digest[32];
	uint32_t n;
	struct stat out_st;
	int fd = -1, armed = 0, ret;

	if (wtype != HC_WTYPE_F32 && wtype != HC_WTYPE_Q8_0 && wtype != HC_WTYPE_Q4_0) {
		hc_errmsg(err, errlen, "%s: ROM matrix type %s is not supported (F32, Q8_0, Q4_0)",
		       out_path, hc_wtype_name(wtype));
		return -EINVAL;
	}
	/*
	 * A regular file or a new path only: the temporary file is renamed over the target,
	 * which would replace a device node or a FIFO (-o /dev/null) with a regular file.
	 */
	if (!out_path[0])
		return hc_err(-EINVAL, err, errlen, "the output path is empty");
	/* any stat failure (ENOENT: a new path) is left for mkstemp to report */
	if (stat(out_path, &out_st) == 0 && !S_ISREG(out_st.st_mode))
		return hc_err(-EINVAL, err, errlen, "%s: is not a regular file (%s): the output "
			      "must be a regular file or a new path", out_path,
			      hc_file_kind(out_st.st_mode));
	if (!src->tok) {
		hc_errmsg(err, errlen, "%s: no tokenizer: the source carries none and none was given",
		       src->name);
		return -EINVAL;
	}
	h = calloc(1, sizeof(*h));
	if (!h)
		goto nomem;
	memcpy(h->magic, HC_ROM_MAGIC, sizeof(h->magic));
	h->version = HC_ROM_VERSION;
	h->header_size = sizeof(*h);
	snprintf(h->name, sizeof(h->name), "%s", src->name);
	h->arch = src->arch;
	memset(h->arch.reserved, 0, sizeof(h->arch.reserved));
	if (h->arch.rope_scaling == HC_ROPE_NONE) {
		h->arch.rope_factor = 0.0f;
		h->arch.rope_low_freq_factor = 0.0f;
		h->arch.rope_high_freq_factor = 0.0f;
		h->arch.rope_orig_ctx = 0;
	}
	/* tied exactly when the source has no output.weight */
	h->arch.flags |= HC_ARCH_TIED_CLASSIFIER;
	for (uint32_t i = 0; i < src->n_tensors; i++)
		if (strcmp(src->tensors[i].name, "output.weight") == 0)
			h->arch.flags &= ~HC_ARCH_TIED_CLASSIFIER;
	ret = hc_rom_check_arch(&h->arch, why, sizeof(why));
	if (ret) {
		hc_errmsg(err, errlen, "%s: %s", src->name, why);
		goto out;
	}
	h->wtype = wtype;
	n = hc_rom_n_expected(&h->arch);
	h->n_tensors = n;

	ret = hc_tok_spec_serialize(src->tok, &blob, &blob_len);
	if (ret || !blob_len) {
		hc_errmsg(err, errlen, "%s: cannot serialise the tokenizer: %s", src->name,
		       strerror(ret ? -ret : EINVAL));
		ret = ret ? ret : -EINVAL;
		goto out;
	}
	/* a tokenizer that would not load is caught now, not when the card starts */
	ret = hc_tok_load(blob, blob_len, &tok, why, sizeof(why));
	if (ret) {
		hc_errmsg(err, errlen, "%s: tokenizer does not load: %s", src->name, why);
		goto out;
	}
	if (hc_tok_vocab_size(tok) > h->arch.vocab_size) {
		hc_errmsg(err, errlen, "%s: tokenizer has %u tokens, more than the model's vocabulary %u",
		       src->name, hc_tok_vocab_size(tok), h->arch.vocab_size);
		ret = -EINVAL;
		goto out;
	}
	h->tensors_offset = align_up(sizeof(*h));
	h->tokenizer_offset = align_up(h->tensors_offset + (uint64_t)n * sizeof(*tab));
	h->tokenizer_size = blob_len;
	h->data_offset = align_up(h->tokenizer_offset + blob_len);

	tab = calloc(n, sizeof(*tab));
	src_index = calloc(n, sizeof(*src_index));
	if (!tab || !src_index)
		goto nomem;
	ret = build_table(src, wtype, h, tab, src_index, out_path, err, errlen);
	if (ret)
		goto out;

	for (uint32_t i = 0; i < n; i++)
		if (tab[i].shape[0] > max_row)
			max_row = tab[i].shape[0];
	/* one row always fits, even if a row alone exceeds CHUNK_BYTES */
	{
		size_t fb = max_row * sizeof(float) > CHUNK_BYTES ? max_row * sizeof(float)
								   : CHUNK_BYTES;
		fbuf = malloc(fb);
		obuf = malloc(fb);
		if (!fbuf || !obuf)
			goto nomem;
	}

	if (asprintf(&tmp, "%s.tmp.XXXXXX", out_path) < 0) {
		tmp = NULL;
		goto nomem;
	}
	fd = mkstemp(tmp);
	if (fd >= 0) {
		cleanup_arm(tmp, old_sig);
		armed = 1;
	}
	if (fd < 0) {
		ret = -errno;
		hc_errmsg(err, errlen, "%s: cannot create output: %s", out_path, strerror(errno));
		free(tmp);
		tmp = NULL;
		goto out;
	}
	if (fchmod(fd, (mode_t)file_mode()) < 0 || ftruncate(fd, (off_t)h->file_size) < 0) {
		ret = -errno;
		hc_errmsg(err, errlen, "%s: cannot size output to %llu bytes: %s", out_path,
		       (unsigned long long)h->file_size, strerror(errno));
		goto out;
	}
	pg.total = h->data_size + h->file_size;	/* writing, then hashing */

	ret = pwrite_all(fd, h, sizeof(*h), 0);
	if (!ret)
		ret = pwrite_all(fd, tab, (size_t)n * sizeof(*tab), h->tensors_offset);
	if (!ret)
		ret = pwrite_all(fd, blob, blob_len, h->tokenizer_offset);
	if (ret) {
		hc_errmsg(err, errlen, "%s: write failed: %s", out_path, strerror(-ret));
		goto out;
	}
	for (uint32_t i = 0; i < n; i++) {
		ret = write_tensor(src, src_index[i], &tab[i], fd, fbuf, obuf, &pg, &prev_off,
				   &prev_len, out_path, err, errlen);
		if (ret)
			goto out;
	}
	free(fbuf);
	free(obuf);
	fbuf = obuf = NULL;

	ret = fdatasync(fd) < 0 ? -errno : 0;
	if (!ret)
		ret = hash_back(fd, h->file_size, digest, &pg);
	if (!ret)
		ret = pwrite_all(fd, digest, sizeof(digest),
				 offsetof(struct hc_rom_header, identity));
	if (!ret && fsync(fd) < 0)
		ret = -errno;
	if (ret) {
		hc_errmsg(err, errlen, "%s: cannot finish output: %s", out_path, strerror(-ret));
		goto out;
	}
	if (close(fd) < 0) {
		fd = -1;
		ret = -errno;
		hc_errmsg(err, errlen, "%s: cannot finish output: %s", out_path, strerror(errno));
		goto out;
	}
	fd = -1;
	if (rename(tmp, out_path) < 0) {
		ret = -errno;
		hc_errmsg(err, errlen, "%s: cannot rename %s into place: %s", out_path, tmp,
		       strerror(errno));
		goto out;
	}
	free(tmp);
	tmp = NULL;
	ret = 0;
	goto out;
nomem:
	ret = -ENOMEM;
	hc_errmsg(err, errlen, "%s: out of memory", out_path);
out:
	progress_end(&pg);
	if (fd >= 0)
		close(fd);
	if (tmp)
		unlink(tmp);
	if (armed)
		cleanup_disarm(old_sig);
	free(tmp);
	hc_tok_free(tok);
	free(fbuf);
	free(obuf);
	free(blob);
	free(tab);
	free(src_index);
	free(h);
	return ret;
}
