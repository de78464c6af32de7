// SPDX-License-Identifier: MIT
/*
 * Byte-level BPE (Llama 3, GPT-2) as Hugging Face tokenizers does it: split the text with
 * the pre-tokenizer regex (PCRE2, UTF + UCP, JIT when available), map each piece's bytes
 * to GPT-2 symbols, then merge adjacent symbol pairs by lowest merge rank (ties:
 * leftmost) using a priority queue. With ignore_merges a piece that is already a vocab
 * entry is emitted whole.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>
#include "tok_heap.h"
#include "tok_internal.h"

int hc_bpe_compile(struct hc_tokenizer *t, char *err, size_t errlen)
{
	const char *pat = t->regex && t->regex[0] ? t->regex : hc_tok_llama3_regex;
	PCRE2_SIZE eoff;
	int ec;

	t->re = pcre2_compile((PCRE2_SPTR)pat, PCRE2_ZERO_TERMINATED, PCRE2_UTF | PCRE2_UCP,
			      &ec, &eoff, NULL);
	if (!t->re) {
		PCRE2_UCHAR msg[120];

		pcre2_get_error_message(ec, msg, sizeof(msg));
		hc_errmsg(err, errlen, "tokenizer blob: pre-tokenizer regex at offset %zu: %s",
			   (size_t)eoff, (char *)msg);
		return -EINVAL;
	}
	pcre2_jit_compile(t->re, PCRE2_JIT_COMPLETE);	/* optional: falls back to the interpreter */
	return 0;
}

void hc_bpe_release(struct hc_tokenizer *t)
{
	pcre2_code_free(t->re);
	t->re = NULL;
}

struct bpe_sym {
	int32_t id, prev, next;
	uint32_t len;		/* 0: merged away */
};

struct bpe_merge {
	uint32_t rank, pos;
	int32_t new_id;
};

/* Lowest merge rank first, then the leftmost. */
static inline bool bpe_before(const struct bpe_merge *a, const struct bpe_merge *b)
{
	return a->rank < b->rank || (a->rank == b->rank && a->pos < b->pos);
}

HC_TOK_HEAP(bpe_heap, struct bpe_merge, bpe_before)

struct bpe_scratch {
	struct bpe_sym *sym;
	struct bpe_heap heap;
	char *mapped;
};

static int try_pair(const struct hc_tokenizer *t, struct bpe_scratch *s, int32_t pos)
{
	struct bpe_sym *a = &s->sym[pos];
	uint32_t rank;
	int32_t res;

	if (a->next < 0)
		return 0;
	if (!hc_pairmap_get(&t->merges, (uint32_t)a->id, (uint32_t)s->sym[a->next].id, &rank, &res))
		return 0;
	return bpe_heap_push(&s->heap, (struct bpe_merge){ rank, (uint32_t)pos, res });
}

/* One pre-token (raw bytes). */
static int bpe_word(const struct hc_tokenizer *t, struct bpe_scratch *s, const uint8_t *w,
		    size_t n, struct hc_idvec *out)
{
	int ret = 0;

	if (t->flags & HC_TOKF_IGNORE_MERGES) {
		size_t m = 0;
		int32_t id;

		for (size_t i = 0; i < n; i++)
			m += hc_utf8_put(hc_gpt2_byte_cp(w[i]), s->mapped + m);
		id = hc_strmap_get(&t->vocab, s->mapped, m);
		if (id >= 0 && t->type[id] == HC_TT_NORMAL)
			return hc_idvec_push(out, id);
	}
	for (size_t i = 0; i < n; i++) {
		s->sym[i].id = t->byte_tok[w[i]];
		s->sym[i].prev = (int32_t)i - 1;
		s->sym[i].next = i + 1 < n ? (int32_t)i + 1 : -1;
		s->sym[i].len = 1;
	}
	s->heap.n = 0;
	for (size_t i = 0; i + 1 < n && !ret; i++)
		ret = try_pair(t, s, (int32_t)i);
	while (s->heap.n && !ret) {
		struct bpe_merge m = bpe_heap_pop(&s->heap);
		struct bpe_sym *a = &s->sym[m.pos], *b;
		uint32_t rank;
		int32_t res;

		if (!a->len || a->next < 0)
			continue;
		b = &s->sym[a->next];
		/* Expired entry: the pair at this position changed since it was queued. */
		if (!hc_pairmap_get(&t->merges, (uint32_t)a->id, (uint32_t)b->id, &rank, &res) ||
		    res != m.new_id)
			continue;
		a->id = m.new_id;
		a->len += b->len;
		b->len = 0;
		a->next = b->next;
		if (b->next >= 0)
			s->sym[b->next].prev = (int32_t)m.pos;
		if (a->prev >= 0)
			ret = try_pair(t, s, a->prev);
		if (!ret)
			ret = try_pair(t, s, (int32_t)m.pos);
	}
	for (int32_t i = 0; n && i >= 0 && !ret; i = s->sym[i].next)
		ret = hc_idvec_push(out, s->sym[i].id);
	return ret;
}

int hc_bpe_encode(const struct hc_tokenizer *t, const char *text, size_t len,
		  struct hc_idvec *out)
{
	struct bpe_scratch s = { 0 };
	pcre2_match_data *md;
	size_t off = 0, last = 0;
	uint32_t opts = PCRE2_NO_UTF_CHECK;
	int ret = 0;

	if (!len)
		return 0;
	md = pcre2_match_data_create_from_pattern(t->re, NULL);
	s.sym = malloc(len * sizeof(*s.sym));
	s.mapped = malloc(2 * len);
	if (!md || !s.sym || !s.mapped) {
		ret = -ENOMEM;
		goto out;
	}
	while (off < len && !ret) {
		int rc = pcre2_match(t->re, (PCRE2_SPTR)text, len, off, opts, md, NULL);
		PCRE2_SIZE *ov;

		if (rc == PCRE2_ERROR_NOMATCH)
			break;
		if (rc == PCRE2_ERROR_JIT_STACKLIMIT && !(opts & PCRE2_NO_JIT)) {
			opts |= PCRE2_NO_JIT;	/* very long runs: the interpreter has no such limit */
			continue;
		}
		if (rc < 0) {
			ret = rc == PCRE2_ERROR_NOMEMORY ? -ENOMEM : -EINVAL;
			break;
		}
		ov = pcre2_get_ovector_pointer(md);
		if (ov[0] > last)
			ret = bpe_word(t, &s, (const uint8_t *)text + last, ov[0] - last, out);
		if (ov[1] > ov[0]) {
			if (!ret)
				ret = bpe_word(t, &s, (const uint8_t *)text + ov[0], ov[1] - ov[0], out);
			last = off = ov[1];
		} else {
			/* Empty match (only with a custom pattern): step over one character. */
			size_t l = hc_utf8_valid_len((const uint8_t *)text + ov[0], len - ov[0]);

			off = ov[0] + (l ? l : 1);
			last = ov[0];
		}
	}
	if (!ret && last < len)
		ret = bpe_word(t, &s, (const uint8_t *)text + last, len - last, out);
out:
	pcre2_match_data_free(md);
	free(s.sym);
	free(s.mapped);
	free(s.heap.v);
	return ret;
}
