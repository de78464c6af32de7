// SPDX-License-Identifier: MIT
/*
 * hc_tok_encode: split the text on special-token text first (user-defined tokens always,
 * control tokens with HC_ENC_PARSE_SPECIAL; leftmost, then longest), then encode each
 * plain fragment with the SPM or BPE encoder.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include "tok_internal.h"

/*
 * Id of the longest special token whose text starts at @s, or -1. special_ids is sorted
 * bytewise with prefixes first, so the candidates sharing the first k bytes form a range
 * that narrows by binary search: a few steps per position whatever the text.
 */
static int32_t match_special(const struct hc_tokenizer *t, const char *s, size_t n, unsigned flags)
{
	const uint32_t *ids = t->special_ids;
	uint32_t lo = t->special_start[(uint8_t)s[0]], hi = t->special_start[(uint8_t)s[0] + 1];
	int32_t best = -1;

	for (size_t k = 1; lo < hi; k++) {
		uint32_t a, b;
		uint8_t c;

		/* Candidates exactly k bytes long match completely (ties: lowest id first). */
		for (; lo < hi && t->piece_len[ids[lo]] == k; lo++)
			if ((best < 0 || t->piece_len[best] < k) &&
			    (t->type[ids[lo]] != HC_TT_CONTROL || (flags & HC_ENC_PARSE_SPECIAL)))
				best = (int32_t)ids[lo];
		if (k == n)
			break;
		c = (uint8_t)s[k];
		for (a = lo, b = hi; a < b;) {	/* first with byte k >= c */
			uint32_t m = a + (b - a) / 2;

			if ((uint8_t)t->piece[ids[m]][k] < c)
				a = m + 1;
			else
				b = m;
		}
		lo = a;
		for (b = hi; a < b;) {		/* first with byte k > c */
			uint32_t m = a + (b - a) / 2;

			if ((uint8_t)t->piece[ids[m]][k] <= c)
				a = m + 1;
			else
				b = m;
		}
		hi = a;
	}
	return best;
}

static int encode_fragment(const struct hc_tokenizer *t, const char *s, size_t n, bool after_special,
			   struct hc_idvec *out)
{
	if (t->kind == HC_TOK_SPM)
		return hc_spm_encode(t, s, n, after_special && (t->flags & HC_TOKF_SPACE_PREFIX), out);
	return hc_bpe_encode(t, s, n, out);
}

int hc_tok_encode_vec(const struct hc_tokenizer *t, const char *text, size_t len, unsigned flags,
		      struct hc_idvec *out)
{
	bool after_special = true;	/* the SPM dummy prefix goes on the first fragment */
	size_t start = 0;
	int ret;

	if (len && !text)
		return -EINVAL;
	if (!hc_utf8_valid(text, len))
		return -EILSEQ;
	if ((flags & HC_ENC_BOS) && t->bos >= 0) {
		ret = hc_idvec_push(out, t->bos);
		if (ret)
			return ret;
	}
	for (size_t i = 0; i < len; i++) {
		int32_t id = match_special(t, text + i, len - i, flags);

		if (id < 0)
			continue;
		ret = encode_fragment(t, text + start, i - start, after_special, out);
		if (!ret)
			ret = hc_idvec_push(out, id);
		if (ret)
			return ret;
		after_special = true;
		i += t->piece_len[id] - 1;
		start = i + 1;
	}
	return encode_fragment(t, text + start, len - start, after_special, out);
}

int hc_tok_encode(const struct hc_tokenizer *tok, const char *text, size_t len, unsigned flags,
		  int32_t *ids, size_t cap, size_t *n_out)
{
	struct hc_idvec v = { 0 };
	int ret = hc_tok_encode_vec(tok, text, len, flags, &v);

	if (n_out)
		*n_out = ret ? 0 : v.n;
	if (!ret) {
		if (ids && cap && v.n)
			memcpy(ids, v.v, (v.n < cap ? v.n : cap) * sizeof(*ids));
		if (v.n > cap)
			ret = -ENOSPC;
	}
	free(v.v);
	return ret;
}
