// SPDX-License-Identifier: MIT
/* Tokenizer files given to hc-bake with --tokenizer. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "bake_tokfile.h"
#include "hc_file.h"

#define MAX_TOK_FILE (64u << 20)

static int read_small(const char *path, uint8_t **buf, size_t *len, char *err, size_t errlen)
{
	FILE *f = hc_fopen_regular(path, "tokenizer", err, errlen);
	long sz;

	*buf = NULL;
	if (!f)
		return -errno;
	if (fseek(f, 0, SEEK_END) < 0 || (sz = ftell(f)) < 0 || fseek(f, 0, SEEK_SET) < 0) {
		fclose(f);
		snprintf(err, errlen, "%s: cannot read tokenizer (not a regular file?)", path);
		return -EINVAL;
	}
	if ((unsigned long)sz > MAX_TOK_FILE) {
		fclose(f);
		snprintf(err, errlen, "%s: %ld bytes is too large for a llama2.c tokenizer", path, sz);
		return -EFBIG;
	}
	*buf = malloc((size_t)sz + 1);
	if (!*buf || fread(*buf, 1, (size_t)sz, f) != (size_t)sz) {
		fclose(f);
		free(*buf);
		*buf = NULL;
		snprintf(err, errlen, "%s: cannot read tokenizer", path);
		return -EIO;
	}
	fclose(f);
	*len = (size_t)sz;
	return 0;
}

int bake_llama2c_tok_count(const char *path, uint32_t *count, char *err, size_t errlen)
{
	uint8_t *buf;
	size_t len = 0, off = 4;
	uint32_t n = 0;
	int32_t max_len, l;
	int ret;

	ret = read_small(path, &buf, &len, err, errlen);
	if (ret)
		return ret;
	if (len < 4) {
		snprintf(err, errlen, "%s: too short for a llama2.c tokenizer", path);
		free(buf);
		return -EINVAL;
	}
	memcpy(&max_len, buf, 4);
	while (off < len) {
		if (len - off < 8) {
			snprintf(err, errlen, "%s: truncated llama2.c tokenizer at token %u", path, n);
			free(buf);
			return -EINVAL;
		}
		memcpy(&l, buf + off + 4, 4);
		if (l < 0 || l > max_len || (size_t)l > len - off - 8) {
			snprintf(err, errlen,
				 "%s: token %u has bad length %d (max %d, %zu bytes left): not a llama2.c tokenizer or truncated",
				 path, n, l, max_len, len - off - 8);
			free(buf);
			return -EINVAL;
		}
		off += 8 + (size_t)l;
		n++;
	}
	free(buf);
	if (n == 0) {
		snprintf(err, errlen, "%s: llama2.c tokenizer has no tokens", path);
		return -EINVAL;
	}
	*count = n;
	return 0;
}

static int looks_like_json(const char *path)
{
	FILE *f = hc_fopen_regular(path, NULL, NULL, 0);
	int c;

	if (!f)
		return 0;
	do
		c = fgetc(f);
	while (c == ' ' || c == '\t' || c == '\n' || c == '\r');
	fclose(f);
	return c == '{';
}

int bake_tokfile_open(const char *path, uint32_t model_vocab, struct hc_tok_spec **out,
		      char *err, size_t errlen)
{
	char why[256];
	uint32_t n;
	int ret;

	*out = NULL;
	if (strcmp(path, "builtin") == 0) {
		ret = hc_tok_spec_builtin(model_vocab, out, why, sizeof(why));
		if (ret)
			snprintf(err, errlen, "builtin tokenizer (%u tokens): %s", model_vocab, why);
		return ret;
	}
	/* one check, one message for every reader below: missing, unreadable, a FIFO, a device */
	ret = hc_open_regular(path, "tokenizer", NULL, err, errlen);
	if (ret < 0)
		return ret;
	close(ret);
	if (looks_like_json(path)) {
		const char *slash = strrchr(path, '/');
		int dl = slash ? (int)(slash - path + 1) : 0;
		char *cfg = NULL;

		/* tokenizer_config.json next to tokenizer.json carries BOS/EOS and the template */
		if (asprintf(&cfg, "%.*stokenizer_config.json", dl, path) < 0)
			cfg = NULL;
		ret = hc_tok_spec_from_hf(path, cfg && access(cfg, R_OK) == 0 ? cfg : NULL, out,
					  why, sizeof(why));
		free(cfg);
		if (ret) {
			snprintf(err, errlen, "%s", why);
			return ret;
		}
		n = (*out)->n_vocab;
	} else {
		ret = bake_llama2c_tok_count(path, &n, err, errlen);
		if (ret)
			return ret;
		if (model_vocab && n != model_vocab) {
			snprintf(err, errlen,
				 "%s: tokenizer has %u tokens but the model's vocabulary is %u (use a matching tokenizer, or --tokenizer builtin)",
				 path, n, model_vocab);
			return -EINVAL;
		}
		ret = hc_tok_spec_from_llama2c(path, n, out, why, sizeof(why));
		if (ret) {
			snprintf(err, errlen, "%s", why);
			return ret;
		}
	}
	if (model_vocab && (*out)->n_vocab != model_vocab) {
		snprintf(err, errlen,
			 "%s: tokenizer has %u tokens but the model's vocabulary is %u (use a matching tokenizer, or --tokenizer builtin)",
			 path, (*out)->n_vocab, model_vocab);
		hc_tok_spec_free(*out);
		*out = NULL;
		return -EINVAL;
	}
	return 0;
}
