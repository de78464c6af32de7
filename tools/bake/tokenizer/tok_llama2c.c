// SPDX-License-Identifier: MIT
/*
 * llama2.c tokenizer.bin: int32 max_token_length, then per token float score, int32 len,
 * len bytes. The exporter wrote pieces with ' ' for U+2581 and "\n<s>\n" / "\n</s>\n" for
 * BOS/EOS; we convert back to sentencepiece form. <unk>=0, <s>=1, </s>=2.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "hc_err.h"
#include "hc_file.h"
#include "tok_blob.h"
#include "tok_spec.h"
#include "tok_util.h"

static int read_file(const char *path, uint8_t **data, size_t *len)
{
	FILE *f = hc_fopen_regular(path, NULL, NULL, 0);	/* EINVAL: not a regular file */
	uint8_t *d = NULL;
	size_t n = 0, cap = 0;

	if (!f)
		return -errno;
	for (;;) {
		size_t got;

		if (n == cap) {
			uint8_t *nd;

			cap = cap ? 2 * cap : 1 << 16;
			if (cap > (size_t)1 << 30 || !(nd = realloc(d, cap))) {
				free(d);
				fclose(f);
				return cap > (size_t)1 << 30 ? -EFBIG : -ENOMEM;
			}
			d = nd;
		}
		got = fread(d + n, 1, cap - n, f);
		n += got;
		if (got == 0)
			break;
	}
	if (ferror(f)) {
		free(d);
		fclose(f);
		return -EIO;
	}
	fclose(f);
	*data = d;
	*len = n;
	return 0;
}

static uint32_t rd32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* sentencepiece form of an exported piece: ' ' -> U+2581; BOS/EOS lose their newlines. */
static char *convert_piece(const uint8_t *p, uint32_t len, uint32_t id)
{
	char *s, *o;

	if ((id == 1 && len == 5 && !memcmp(p, "\n<s>\n", 5)) ||
	    (id == 2 && len == 6 && !memcmp(p, "\n</s>\n", 6))) {
		p++;
		len -= 2;
	}
	s = o = malloc(3ull * len + 1);
	if (!s)
		return NULL;
	for (uint32_t i = 0; i < len; i++) {
		if (p[i] == ' ') {
			memcpy(o, "\xe2\x96\x81", 3);
			o += 3;
		} else {
			*o++ = (char)p[i];
		}
	}
	*o = 0;
	return s;
}

int hc_tok_spec_from_llama2c(const char *path, uint32_t vocab_size, struct hc_tok_spec **out,
			     char *err, size_t errlen)
{
	struct hc_tok_spec *s = NULL;
	uint8_t *d = NULL;
	size_t len = 0, off;
	uint32_t n = 0, maxlen;
	int ret;

	*out = NULL;
	ret = read_file(path, &d, &len);
	if (ret) {
		hc_errmsg(err, errlen, "%s: cannot read: %s", path, strerror(-ret));
		return ret;
	}
	ret = -EINVAL;
	if (len < 4) {
		hc_errmsg(err, errlen, "%s: truncated (no max_token_length)", path);
		goto out;
	}
	maxlen = rd32(d);
	if (maxlen == 0 || maxlen > HC_TOK_MAX_PIECE) {
		hc_errmsg(err, errlen, "%s: max_token_length %d is not plausible", path,
			   (int32_t)maxlen);
		goto out;
	}
	/* Count the entries first; every one must be whole. */
	for (off = 4; off < len; n++) {
		uint32_t l;

		if (len - off < 8) {
			hc_errmsg(err, errlen, "%s: truncated at token %u (offset %zu)", path, n, off);
			goto out;
		}
		l = rd32(d + off + 4);
		if (l > maxlen) {
			hc_errmsg(err, errlen, "%s: token %u has length %d > max_token_length %u",
				   path, n, (int32_t)l, maxlen);
			goto out;
		}
		if (len - off - 8 < l) {
			hc_errmsg(err, errlen, "%s: truncated in token %u (offset %zu)", path, n, off);
			goto out;
		}
		if (n >= HC_TOK_MAX_VOCAB) {
			hc_errmsg(err, errlen, "%s: more than %u tokens", path, HC_TOK_MAX_VOCAB);
			goto out;
		}
		off += 8 + l;
	}
	if (n < 3) {
		hc_errmsg(err, errlen, "%s: only %u tokens (need <unk>, <s>, </s>)", path, n);
		goto out;
	}
	if (vocab_size && n != vocab_size) {
		hc_errmsg(err, errlen, "%s: has %u tokens but the model's vocab_size is %u", path, n,
			   vocab_size);
		goto out;
	}
	s = hc_tok_spec_alloc(HC_TOK_SPM, n, true);
	if (!s) {
		ret = -ENOMEM;
		goto out;
	}
	for (uint32_t i = 0, o = 4; i < n; i++) {
		uint32_t u = rd32(d + o), l = rd32(d + o + 4);
		int byte;

		memcpy(&s->scores[i], &u, 4);
		if (!isfinite(s->scores[i])) {
			hc_errmsg(err, errlen, "%s: token %u has a non-finite score", path, i);
			goto out;
		}
		if (memchr(d + o + 8, 0, l)) {
			hc_errmsg(err, errlen, "%s: token %u contains a NUL byte", path, i);
			goto out;
		}
		s->pieces[i] = convert_piece(d + o + 8, l, i);
		if (!s->pieces[i]) {
			ret = -ENOMEM;
			goto out;
		}
		if (strlen(s->pieces[i]) > HC_TOK_MAX_PIECE) {
			hc_errmsg(err, errlen, "%s: token %u is too long", path, i);
			goto out;
		}
		byte = hc_tok_parse_byte_piece(s->pieces[i], strlen(s->pieces[i]));
		s->types[i] = i == 0 ? HC_TT_UNKNOWN : i <= 2 ? HC_TT_CONTROL :
			      byte >= 0 ? HC_TT_BYTE : HC_TT_NORMAL;
		o += 8 + l;
	}
	s->unk_id = 0;
	s->bos_id = 1;
	s->eos_id = 2;
	s->add_bos = 1;
	s->add_space_prefix = 1;
	s->chat_format = HC_CHAT_LLAMA2;
	*out = s;
	s = NULL;
	ret = 0;
out:
	hc_tok_spec_free(s);
	free(d);
	return ret;
}
