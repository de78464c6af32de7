// SPDX-License-Identifier: MIT
/*
 * Streaming decode: token ids in, complete UTF-8 out. Bytes of a character split across
 * tokens wait in d->pending; a byte that cannot continue (or start) a valid sequence
 * becomes U+FFFD (one per maximal invalid subpart, as the Unicode standard recommends).
 *
 * SPM: control tokens decode to nothing, <unk> to " ⁇ " (sentencepiece), and the piece
 * after BOS loses its leading space (the dummy prefix), as llama2.c does.
 * BPE: every token decodes to its bytes, special tokens to their text (as Hugging Face
 * decode does by default).
 */
#include <string.h>
#include "tok_internal.h"

static const char fffd[3] = { (char)0xef, (char)0xbf, (char)0xbd };

struct sink {
	char *out;
	size_t n, cap;
};

/* Whole characters only: what does not fit is dropped, never cut. */
static void put(struct sink *s, const void *p, size_t n)
{
	if (s->n + n > s->cap)
		return;
	memcpy(s->out + s->n, p, n);
	s->n += n;
}

static uint32_t seq_len(uint8_t lead)
{
	return lead < 0xe0 ? 2 : lead < 0xf0 ? 3 : 4;
}

/* May @c be byte @pos (>= 1) of a sequence starting with @lead? */
static bool cont_ok(uint8_t lead, uint32_t pos, uint8_t c)
{
	uint8_t lo = 0x80, hi = 0xbf;

	if (pos == 1) {
		if (lead == 0xe0)
			lo = 0xa0;
		else if (lead == 0xed)
			hi = 0x9f;
		else if (lead == 0xf0)
			lo = 0x90;
		else if (lead == 0xf4)
			hi = 0x8f;
	}
	return c >= lo && c <= hi;
}

static void feed(struct hc_detok *d, struct sink *s, uint8_t c)
{
	if (d->n_pending) {
		if (cont_ok(d->pending[0], d->n_pending, c)) {
			d->pending[d->n_pending++] = c;
			if (d->n_pending == seq_len(d->pending[0])) {
				put(s, d->pending, d->n_pending);
				d->n_pending = 0;
			}
			return;
		}
		put(s, fffd, 3);
		d->n_pending = 0;
	}
	if (c < 0x80)
		put(s, &c, 1);
	else if (c >= 0xc2 && c <= 0xf4)
		d->pending[d->n_pending++] = c;
	else
		put(s, fffd, 3);
}

void hc_detok_init(struct hc_detok *d)
{
	memset(d, 0, sizeof(*d));
	d->prev_id = -1;
}

size_t hc_detok_push(const struct hc_tokenizer *tok, struct hc_detok *d, int32_t id, char *out,
		     size_t cap)
{
	struct sink s = { out, 0, cap };
	const char *p;
	size_t n;
	bool after_bos = d->prev_id_valid && d->prev_id == tok->bos && tok->bos >= 0;

	d->prev_id = id;
	d->prev_id_valid = 1;
	if (id < 0 || (uint32_t)id >= tok->n_vocab)
		return 0;
	p = tok->raw[id];
	n = tok->raw_len[id];
	if (tok->kind == HC_TOK_SPM) {
		if (tok->type[id] == HC_TT_CONTROL)
			n = 0;
		else if (tok->type[id] == HC_TT_UNKNOWN)
			p = " \xe2\x81\x87 ", n = 5;
		if (after_bos && n && p[0] == ' ')
			p++, n--;
	}
	for (size_t i = 0; i < n; i++)
		feed(d, &s, (uint8_t)p[i]);
	return s.n;
}

size_t hc_detok_flush(struct hc_detok *d, char *out, size_t cap)
{
	struct sink s = { out, 0, cap };

	if (d->n_pending)
		put(&s, fffd, 3);
	d->n_pending = 0;
	return s.n;
}
