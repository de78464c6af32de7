// SPDX-License-Identifier: MIT
/* Helpers of the fuzz targets: a private folder for readers that take paths, input splitting. */
#define _XOPEN_SOURCE 700
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "bake.h"
#include "fuzz.h"
#include "quant.h"
#include "tok_spec.h"
#include "tokenizer.h"

static char dir[256];

static void fz_cleanup(void)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	char p[512];

	if (!d)
		return;
	while ((e = readdir(d)))
		if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) {
			snprintf(p, sizeof(p), "%s/%s", dir, e->d_name);
			unlink(p);
		}
	closedir(d);
	rmdir(dir);
}

const char *fz_dir(void)
{
	const char *tmp;

	if (dir[0])
		return dir;
	tmp = getenv("TMPDIR");
	snprintf(dir, sizeof(dir), "%s/hc-fuzz-XXXXXX", tmp && tmp[0] ? tmp : "/tmp");
	if (!mkdtemp(dir)) {
		perror("fuzz: mkdtemp");
		abort();
	}
	atexit(fz_cleanup);
	return dir;
}

void fz_write(const char *name, const void *data, size_t len, char *path, size_t pathlen)
{
	const char *p = data;
	int fd;

	snprintf(path, pathlen, "%s/%s", fz_dir(), name);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0) {
		perror(path);
		abort();
	}
	while (len) {
		ssize_t n = write(fd, p, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			perror(path);
			abort();
		}
		p += n;
		len -= (size_t)n;
	}
	close(fd);
}

void fz_remove(const char *name)
{
	char p[512];

	snprintf(p, sizeof(p), "%s/%s", fz_dir(), name);
	unlink(p);
}

size_t fz_split(const uint8_t *data, size_t size, const uint8_t **parts, size_t *lens,
		size_t max)
{
	const size_t sl = sizeof(FZ_SPLIT) - 1;
	size_t n = 0;

	while (n + 1 < max) {
		const uint8_t *s = memmem(data, size, FZ_SPLIT, sl);

		if (!s)
			break;
		parts[n] = data;
		lens[n++] = (size_t)(s - data);
		size -= (size_t)(s - data) + sl;
		data = s + sl;
	}
	parts[n] = data;
	lens[n++] = size;
	return n;
}

void fz_use_spec(const struct hc_tok_spec *spec)
{
	struct hc_tokenizer *tok;
	void *blob = NULL;
	size_t len = 0;
	char err[256];

	if (hc_tok_spec_serialize(spec, &blob, &len))
		return;
	if (hc_tok_load(blob, len, &tok, err, sizeof(err)) == 0) {
		int32_t ids[64];
		size_t n;

		/* a loaded tokenizer must survive plain use */
		hc_tok_encode(tok, "Hello, world! 123", 17, HC_ENC_BOS, ids, 64, &n);
		hc_tok_free(tok);
		if (getenv("HC_FUZZ_DEBUG"))	/* does a seed get this far? */
			fprintf(stderr, "fuzz: tokenizer of %u pieces loads\n", spec->n_vocab);
	}
	free(blob);
}

static char *utf8(uint32_t cp)
{
	char *s = malloc(5);

	if (!s)
		abort();
	if (cp < 0x80) {
		s[0] = (char)cp, s[1] = 0;
	} else {	/* the byte-to-unicode map stays below U+0800 */
		s[0] = (char)(0xc0 | cp >> 6), s[1] = (char)(0x80 | (cp & 0x3f)), s[2] = 0;
	}
	return s;
}

struct hc_tok_spec *fz_bpe_spec(void)
{
	static const char *const merged[] = { "\xc4\xa0t", "he", "in", "\xc4\xa0the", "er" };
	static const char *const merges[] = { "\xc4\xa0 t", "h e", "i n", "\xc4\xa0t he", "e r" };
	static const char *const specials[] = {
		"<|begin_of_text|>", "<|end_of_text|>", "<|start_header_id|>", "<|end_header_id|>",
		"<|eot_id|>",
	};
	const uint32_t nm = 5, ns = 5, n = 256 + nm + ns;
	struct hc_tok_spec *s = hc_tok_spec_alloc(HC_TOK_BPE, n, false);
	uint32_t b, extra = 0, i;

	if (!s || !(s->merges = calloc(nm, sizeof(char *))))
		abort();
	for (b = 0; b < 256; b++) {
		int self = (b >= 33 && b <= 126) || (b >= 161 && b <= 172) || b >= 174;

		s->pieces[b] = utf8(self ? b : 256 + extra++);
		s->types[b] = HC_TT_NORMAL;
	}
	for (i = 0; i < nm; i++) {
		s->pieces[256 + i] = strdup(merged[i]);
		s->merges[i] = strdup(merges[i]);
		s->types[256 + i] = HC_TT_NORMAL;
	}
	s->n_merges = nm;
	for (i = 0; i < ns; i++) {
		s->pieces[256 + nm + i] = strdup(specials[i]);
		s->types[256 + nm + i] = HC_TT_CONTROL;
	}
	s->bos_id = 256 + nm;
	s->eos_id = 256 + nm + 1;
	s->eot_id = 256 + nm + 4;
	s->unk_id = s->pad_id = -1;
	s->add_bos = 1;
	s->chat_format = HC_CHAT_LLAMA3;
	return s;
}

/* Bounded: a row of a valid source is at most what the file holds, but keep memory small. */
#define MAX_ROW (1u << 20)

void fz_use_source(struct bake_source *src)
{
	char err[256];

	for (uint32_t i = 0; i < src->n_tensors; i++) {
		const struct bake_tensor *t = &src->tensors[i];
		uint64_t rows = t->n_dims == 2 ? t->shape[1] : 1;
		size_t raw = hc_row_size(t->type, t->shape[0]);
		void *buf;

		if (!t->shape[0] || !rows || t->shape[0] > MAX_ROW / sizeof(float))
			continue;
		buf = malloc(t->shape[0] * sizeof(float) > raw ? t->shape[0] * sizeof(float) : raw);
		if (!buf)
			continue;
		src->read_rows_f32(src, i, 0, 1, buf, err, sizeof(err));
		src->read_rows_f32(src, i, rows - 1, 1, buf, err, sizeof(err));
		if (src->read_rows_raw && raw)
			src->read_rows_raw(src, i, rows - 1, 1, buf, err, sizeof(err));
		free(buf);
	}
	if (getenv("HC_FUZZ_DEBUG"))
		fprintf(stderr, "fuzz: source '%s' opens: %u tensors\n", src->name, src->n_tensors);
	if (src->tok)
		fz_use_spec(src->tok);
}
