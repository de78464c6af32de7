// SPDX-License-Identifier: MIT
/*
 * struct hc_tok_spec: allocation, freeing and serialisation to the blob format read by
 * hc_tok_load() (docs/tokenizers.md). Merges are stored as (left id, right id) pairs.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include "hc_err.h"
#include "tok_blob.h"
#include "tok_spec.h"
#include "tok_util.h"

struct hc_tok_spec *hc_tok_spec_alloc(uint32_t kind, uint32_t n_vocab, bool scores)
{
	struct hc_tok_spec *s = calloc(1, sizeof(*s));

	if (!s)
		return NULL;
	s->kind = kind;
	s->n_vocab = n_vocab;
	s->bos_id = s->eos_id = s->eot_id = s->unk_id = s->pad_id = -1;
	s->pieces = calloc(n_vocab ? n_vocab : 1, sizeof(*s->pieces));
	s->types = calloc(n_vocab ? n_vocab : 1, 1);
	if (scores)
		s->scores = calloc(n_vocab ? n_vocab : 1, sizeof(*s->scores));
	if (!s->pieces || !s->types || (scores && !s->scores)) {
		hc_tok_spec_free(s);
		return NULL;
	}
	return s;
}

void hc_tok_spec_free(struct hc_tok_spec *s)
{
	if (!s)
		return;
	if (s->pieces)
		for (uint32_t i = 0; i < s->n_vocab; i++)
			free(s->pieces[i]);
	if (s->merges)
		for (uint32_t i = 0; i < s->n_merges; i++)
			free(s->merges[i]);
	free(s->pieces);
	free(s->merges);
	free(s->scores);
	free(s->types);
	free(s->pretok_regex);
	free(s->chat_template);
	free(s);
}

static void put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
	p[2] = (uint8_t)(v >> 16);
	p[3] = (uint8_t)(v >> 24);
}

static uint8_t derive_type(const struct hc_tok_spec *s, uint32_t i)
{
	int32_t id = (int32_t)i;

	if (id == s->unk_id)
		return HC_TT_UNKNOWN;
	if (id == s->bos_id || id == s->eos_id || id == s->eot_id || id == s->pad_id)
		return HC_TT_CONTROL;
	if (s->kind == HC_TOK_SPM && hc_tok_parse_byte_piece(s->pieces[i], strlen(s->pieces[i])) >= 0)
		return HC_TT_BYTE;
	return HC_TT_NORMAL;
}

/* Split "left right" at the space where both halves and their join are in the vocab. */
static int resolve_merge(const struct hc_strmap *vocab, const char *m, uint32_t pair[2],
			 char *buf)
{
	size_t len = strlen(m);

	for (const char *sp = strchr(m, ' '); sp; sp = strchr(sp + 1, ' ')) {
		size_t ll = (size_t)(sp - m), rl = len - ll - 1;
		int32_t l = hc_strmap_get(vocab, m, ll), r = hc_strmap_get(vocab, sp + 1, rl);

		if (l < 0 || r < 0 || ll + rl > 2 * 1024)
			continue;
		memcpy(buf, m, ll);
		memcpy(buf + ll, sp + 1, rl);
		if (hc_strmap_get(vocab, buf, ll + rl) < 0)
			continue;
		pair[0] = (uint32_t)l;
		pair[1] = (uint32_t)r;
		return 0;
	}
	return -EINVAL;
}

static bool id_ok(int32_t id, uint32_t n)
{
	return id == -1 || (id >= 0 && (uint32_t)id < n);
}

int hc_tok_spec_serialize(const struct hc_tok_spec *s, void **blob, size_t *len)
{
	struct hc_strmap vocab = { 0 };
	uint32_t *lens = NULL, (*pairs)[2] = NULL;
	const char *regex, *tmpl;
	uint64_t piece_bytes = 0, total;
	uint32_t flags = 0, regex_len, tmpl_len;
	uint8_t *b = NULL, *p;
	char *buf = NULL;
	int ret = -EINVAL;

	*blob = NULL;
	*len = 0;
	if (!s || (s->kind != HC_TOK_SPM && s->kind != HC_TOK_BPE) || !s->n_vocab ||
	    s->n_vocab > HC_TOK_MAX_VOCAB || !s->pieces || s->n_merges > HC_TOK_MAX_MERGES ||
	    (s->n_merges && !s->merges) || (s->kind == HC_TOK_SPM && (!s->scores || s->n_merges)))
		return -EINVAL;
	if (!id_ok(s->bos_id, s->n_vocab) || !id_ok(s->eos_id, s->n_vocab) ||
	    !id_ok(s->eot_id, s->n_vocab) || !id_ok(s->unk_id, s->n_vocab) ||
	    !id_ok(s->pad_id, s->n_vocab) || s->chat_format > HC_CHAT_LLAMA31 ||
	    s->n_extra_stop > 8)
		return -EINVAL;
	for (uint32_t i = 0; i < s->n_extra_stop; i++)
		if (s->extra_stop[i] < 0 || (uint32_t)s->extra_stop[i] >= s->n_vocab)
			return -EINVAL;
	regex = s->kind == HC_TOK_BPE && s->pretok_regex ? s->pretok_regex : "";
	tmpl = s->chat_template ? s->chat_template : "";
	regex_len = (uint32_t)strnlen(regex, HC_TOK_MAX_TEXT + 1);
	tmpl_len = (uint32_t)strnlen(tmpl, HC_TOK_MAX_TEXT + 1);
	if (regex_len > HC_TOK_MAX_TEXT || tmpl_len > HC_TOK_MAX_TEXT)
		return -E2BIG;

	lens = malloc(s->n_vocab * sizeof(*lens));
	if (!lens)
		return -ENOMEM;
	for (uint32_t i = 0; i < s->n_vocab; i++) {
		if (!s->pieces[i])
			goto out;
		lens[i] = (uint32_t)strnlen(s->pieces[i], HC_TOK_MAX_PIECE + 1);
		if (lens[i] > HC_TOK_MAX_PIECE)
			goto out;
		if (s->types && (s->types[i] < HC_TT_NORMAL || s->types[i] > HC_TT_BYTE))
			goto out;
		if (s->scores && !__builtin_isfinite(s->scores[i]))
			goto out;
		piece_bytes += lens[i];
	}
	if (s->n_merges) {
		vocab.keys = (const char *const *)s->pieces;
		vocab.lens = lens;
		ret = hc_strmap_init(&vocab, s->n_vocab);
		pairs = malloc(s->n_merges * sizeof(*pairs));
		buf = malloc(2 * HC_TOK_MAX_PIECE + 1);
		if (ret || !pairs || !buf) {
			ret = -ENOMEM;
			goto out;
		}
		ret = -EINVAL;
		for (uint32_t i = 0; i < s->n_vocab; i++)
			hc_strmap_put(&vocab, i);
		for (uint32_t i = 0; i < s->n_merges; i++)
			if (!s->merges[i] || resolve_merge(&vocab, s->merges[i], pairs[i], buf))
				goto out;
	}

	if (s->add_bos)
		flags |= HC_TOKF_ADD_BOS;
	if (s->add_space_prefix)
		flags |= HC_TOKF_SPACE_PREFIX;
	/* Llama 3 (the default regex) keeps whole-vocab pre-tokens unsplit. */
	if (s->kind == HC_TOK_BPE && (s->ignore_merges || !s->pretok_regex))
		flags |= HC_TOKF_IGNORE_MERGES;
	if (s->scores)
		flags |= HC_TOKF_SCORES;

	total = HC_TOK_BLOB_HDR + 4ull * s->n_vocab + (s->scores ? 4ull * s->n_vocab : 0) +
		8ull * s->n_merges + 4ull * s->n_extra_stop + s->n_vocab + piece_bytes + regex_len + tmpl_len;
	total = (total + 3) & ~3ull;
	if (total > UINT32_MAX) {
		ret = -E2BIG;
		goto out;
	}
	b = calloc(1, total);
	if (!b) {
		ret = -ENOMEM;
		goto out;
	}
	{
		struct hc_tok_blob_hdr h = {
			.magic = HC_TOK_BLOB_MAGIC, .version = HC_TOK_BLOB_VERSION,
			.hdr_size = HC_TOK_BLOB_HDR, .total_size = (uint32_t)total,
			.kind = s->kind, .n_vocab = s->n_vocab, .n_merges = s->n_merges,
			.flags = flags, .chat_format = s->chat_format,
			.bos = s->bos_id, .eos = s->eos_id, .eot = s->eot_id, .unk = s->unk_id,
			.pad = s->pad_id, .piece_bytes = (uint32_t)piece_bytes,
			.regex_len = regex_len, .template_len = tmpl_len,
			.n_extra_stop = s->n_extra_stop,
		};

		hc_tok_blob_hdr_swap(&h, 1);
		memcpy(b, &h, sizeof(h));	/* crc32 is zero until the end */
	}
	p = b + HC_TOK_BLOB_HDR;
	for (uint32_t i = 0, end = 0; i < s->n_vocab; i++, p += 4) {
		end += lens[i];
		put32(p, end);
	}
	if (s->scores) {
		for (uint32_t i = 0; i < s->n_vocab; i++, p += 4) {
			uint32_t u;

			memcpy(&u, &s->scores[i], 4);
			put32(p, u);
		}
	}
	for (uint32_t i = 0; i < s->n_merges; i++, p += 8) {
		put32(p, pairs[i][0]);
		put32(p + 4, pairs[i][1]);
	}
	for (uint32_t i = 0; i < s->n_extra_stop; i++, p += 4)
		put32(p, (uint32_t)s->extra_stop[i]);
	for (uint32_t i = 0; i < s->n_vocab; i++)
		*p++ = s->types ? s->types[i] : derive_type(s, i);
	for (uint32_t i = 0; i < s->n_vocab; i++, p += lens[i - 1])
		memcpy(p, s->pieces[i], lens[i]);
	memcpy(p, regex, regex_len);
	p += regex_len;
	memcpy(p, tmpl, tmpl_len);
	put32(b + HC_TOK_BLOB_CRC_OFFSET, hc_crc32(0, b, total));
	*blob = b;
	*len = total;
	b = NULL;
	ret = 0;
out:
	hc_strmap_free(&vocab);
	free(lens);
	free(pairs);
	free(buf);
	free(b);
	return ret;
}
