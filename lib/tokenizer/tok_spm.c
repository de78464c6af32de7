// SPDX-License-Identifier: MIT
/*
 * SentencePiece BPE encoding (as sentencepiece's bpe_model.cc and llama.cpp's
 * llm_tokenizer_spm): characters are merged pairwise, always the adjacent pair whose join
 * has the highest score (ties: leftmost), while the join is a vocab piece. Characters
 * left without a piece fall back to <0xNN> byte tokens (or <unk>).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include "tok_heap.h"
#include "tok_internal.h"

struct spm_sym {
	const char *text;
	uint32_t n;
	int32_t prev, next;
};

struct spm_bigram {
	float score;
	int32_t left, right;
	uint32_t size;
};

/* a comes out before b: higher score, then the leftmost. */
static inline bool spm_before(const struct spm_bigram *a, const struct spm_bigram *b)
{
	return a->score > b->score || (a->score == b->score && a->left < b->left);
}

HC_TOK_HEAP(spm_heap, struct spm_bigram, spm_before)

static bool mergeable(const struct hc_tokenizer *t, int32_t id)
{
	return id >= 0 && (t->type[id] == HC_TT_NORMAL || t->type[id] == HC_TT_USER_DEFINED);
}

static int try_bigram(const struct hc_tokenizer *t, const struct spm_sym *sym,
		      struct spm_heap *h, int32_t left, int32_t right)
{
	uint32_t size;
	int32_t id;

	if (left < 0 || right < 0)
		return 0;
	size = sym[left].n + sym[right].n;
	id = hc_strmap_get(&t->vocab, sym[left].text, size);
	if (!mergeable(t, id))
		return 0;
	return spm_heap_push(h, (struct spm_bigram){ t->score[id], left, right, size });
}

static size_t lead_len(uint8_t c)
{
	if (c < 0x80)
		return 1;
	if ((c & 0xe0) == 0xc0)
		return 2;
	if ((c & 0xf0) == 0xe0)
		return 3;
	if ((c & 0xf8) == 0xf0)
		return 4;
	return 1;
}

static int emit_symbol(const struct hc_tokenizer *t, const struct spm_sym *s, struct hc_idvec *out)
{
	int32_t id = hc_strmap_get(&t->vocab, s->text, s->n);

	if (mergeable(t, id))
		return hc_idvec_push(out, id);
	for (uint32_t j = 0; j < s->n; j++)
		if (t->byte_tok[(uint8_t)s->text[j]] < 0)
			return t->unk >= 0 ? hc_idvec_push(out, t->unk) : -EILSEQ;
	for (uint32_t j = 0; j < s->n; j++) {
		int ret = hc_idvec_push(out, t->byte_tok[(uint8_t)s->text[j]]);

		if (ret)
			return ret;
	}
	return 0;
}

int hc_spm_encode(const struct hc_tokenizer *t, const char *text, size_t len, bool prefix,
		  struct hc_idvec *out)
{
	static const char sp[] = "\xe2\x96\x81";	/* U+2581, sentencepiece's space */
	struct spm_heap heap = { 0 };
	struct spm_sym *sym = NULL;
	char *norm;
	size_t n = 0, nsym = 0;
	int ret = 0;

	if (!len)
		return 0;
	norm = malloc(3 * len + 3);
	if (!norm)
		return -ENOMEM;
	if (prefix) {
		memcpy(norm, sp, 3);
		n = 3;
	}
	for (size_t i = 0; i < len; i++) {
		if (text[i] == ' ') {
			memcpy(norm + n, sp, 3);
			n += 3;
		} else {
			norm[n++] = text[i];
		}
	}
	sym = malloc(n * sizeof(*sym));
	if (!sym) {
		ret = -ENOMEM;
		goto out;
	}
	for (size_t off = 0; off < n; nsym++) {
		size_t l = lead_len((uint8_t)norm[off]);

		if (l > n - off)
			l = n - off;
		sym[nsym].text = norm + off;
		sym[nsym].n = (uint32_t)l;
		sym[nsym].prev = (int32_t)nsym - 1;
		off += l;
		sym[nsym].next = off == n ? -1 : (int32_t)nsym + 1;
	}
	for (size_t i = 1; i < nsym && !ret; i++)
		ret = try_bigram(t, sym, &heap, (int32_t)i - 1, (int32_t)i);
	while (heap.n && !ret) {
		struct spm_bigram b = spm_heap_pop(&heap);
		struct spm_sym *l = &sym[b.left], *r = &sym[b.right];

		/* Stale: one side was merged away or grew since this pair was queued. */
		if (!l->n || !r->n || l->n + r->n != b.size)
			continue;
		l->n += r->n;
		r->n = 0;
		l->next = r->next;
		if (r->next >= 0)
			sym[r->next].prev = b.left;
		ret = try_bigram(t, sym, &heap, l->prev, b.left);
		if (!ret)
			ret = try_bigram(t, sym, &heap, b.left, l->next);
	}
	for (int32_t i = 0; nsym && i != -1 && !ret; i = sym[i].next)
		ret = emit_symbol(t, &sym[i], out);
out:
	free(heap.v);
	free(sym);
	free(norm);
	return ret;
}
