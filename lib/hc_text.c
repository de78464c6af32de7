// SPDX-License-Identifier: MIT
/* The text API: the card's own tokenizer (from its ROM) wrapped for applications. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include "hc/hc.h"
#include "hc_internal.h"
#include "tokenizer.h"

int hc_tokenize(struct hc_card *card, const char *text, size_t len, unsigned flags,
		int32_t *ids, size_t cap, size_t *n_out)
{
	unsigned tf = 0;

	if (!card || (!text && len) || !n_out || (cap && !ids) ||
	    (flags & ~(HC_TEXT_BOS | HC_TEXT_SPECIAL)))
		return -EINVAL;
	if (!card->tok)
		return -EOPNOTSUPP;
	if (flags & HC_TEXT_BOS)
		tf |= HC_ENC_BOS;
	if (flags & HC_TEXT_SPECIAL)
		tf |= HC_ENC_PARSE_SPECIAL;
	return hc_tok_encode(card->tok, text ? text : "", len, tf, ids, cap, n_out);
}

const char *hc_token_piece(struct hc_card *card, int32_t id, size_t *len)
{
	if (!card || !card->tok || id < 0 || (uint32_t)id >= hc_tok_vocab_size(card->tok))
		return NULL;
	return hc_tok_piece(card->tok, id, len);
}

int32_t hc_token_bos(struct hc_card *card)
{
	return card && card->tok ? hc_tok_bos(card->tok) : -1;
}

uint32_t hc_stop_ids(struct hc_card *card, int32_t *ids, uint32_t cap)
{
	return card && card->tok ? hc_tok_stop_ids(card->tok, ids, cap) : 0;
}

int hc_chat_tokenize(struct hc_card *card, const struct hc_message *msgs, size_t n_msgs,
		     int add_generation_prompt, int32_t *ids, size_t cap, size_t *n_out)
{
	struct hc_chat_msg *m;
	size_t i;
	int ret;

	if (!card || (!msgs && n_msgs) || !n_out || (cap && !ids))
		return -EINVAL;
	if (!card->tok)
		return -EOPNOTSUPP;
	m = calloc(n_msgs ? n_msgs : 1, sizeof(*m));
	if (!m)
		return -ENOMEM;
	for (i = 0; i < n_msgs; i++) {
		if (!msgs[i].role || !msgs[i].content) {
			free(m);
			return -EINVAL;
		}
		m[i].role = msgs[i].role;
		m[i].content = msgs[i].content;
	}
	ret = hc_tok_chat(card->tok, m, n_msgs, add_generation_prompt, ids, cap, n_out);
	free(m);
	return ret;
}

struct hc_text_stream {
	const struct hc_tokenizer *tok;
	struct hc_detok d;
};

int hc_text_stream_new(struct hc_card *card, struct hc_text_stream **out)
{
	struct hc_text_stream *ts;

	if (!card || !out)
		return -EINVAL;
	if (!card->tok)
		return -EOPNOTSUPP;
	ts = calloc(1, sizeof(*ts));
	if (!ts)
		return -ENOMEM;
	ts->tok = card->tok;
	hc_detok_init(&ts->d);
	*out = ts;
	return 0;
}

/* hc_detok_push needs 64 + longest piece; below that we decode into a scratch copy. */
int hc_text_stream_push(struct hc_text_stream *ts, int32_t id, char *out, size_t cap)
{
	size_t plen = 0;
	struct hc_detok save;
	char buf[1024];
	size_t n;

	if (!ts || (!out && cap))
		return -EINVAL;
	if (id < 0 || (uint32_t)id >= hc_tok_vocab_size(ts->tok) ||
	    !hc_tok_piece(ts->tok, id, &plen))
		return -EINVAL;
	if (cap >= 64 + plen)
		return (int)hc_detok_push(ts->tok, &ts->d, id, out, cap);
	if (64 + plen > sizeof(buf))
		return -ENOSPC;
	save = ts->d;
	n = hc_detok_push(ts->tok, &ts->d, id, buf, sizeof(buf));
	if (n > cap) {
		ts->d = save;
		return -ENOSPC;
	}
	memcpy(out, buf, n);
	return (int)n;
}

int hc_text_stream_flush(struct hc_text_stream *ts, char *out, size_t cap)
{
	struct hc_detok save;
	char buf[64];
	size_t n;

	if (!ts || (!out && cap))
		return -EINVAL;
	save = ts->d;
	n = hc_detok_flush(&ts->d, buf, sizeof(buf));
	if (n > cap) {
		ts->d = save;
		return -ENOSPC;
	}
	memcpy(out, buf, n);
	return (int)n;
}

void hc_text_stream_free(struct hc_text_stream *ts)
{
	free(ts);
}
