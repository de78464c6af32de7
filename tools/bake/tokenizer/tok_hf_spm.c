// SPDX-License-Identifier: MIT
/*
 * SentencePiece-style tokenizer.json (Llama 2 as converted by transformers): model BPE with
 * byte_fallback, spaces turned into "▁" by the normalizer (Prepend + Replace) or by a
 * Metaspace pre-tokenizer. It becomes an HC_TOK_SPM spec: the converter lists, for every
 * piece in score order, all its splits into two pieces, so a piece's score is minus the
 * rank of its first merge and merging by score equals merging by rank.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <jansson.h>
#include "hc_err.h"
#include "tok_blob.h"
#include "tok_spec.h"
#include "tok_util.h"

#define SP "\xe2\x96\x81"

static bool is_type(json_t *o, const char *t)
{
	const char *s = json_string_value(json_object_get(o, "type"));

	return s && !strcmp(s, t);
}

/* One normalizer step: Prepend("▁") or Replace(" " -> "▁"). */
static int norm_step(json_t *n, bool *prefix, bool *replace)
{
	if (is_type(n, "Prepend")) {
		const char *p = json_string_value(json_object_get(n, "prepend"));

		if (!p || strcmp(p, SP))
			return -1;
		*prefix = true;
		return 0;
	}
	if (is_type(n, "Replace")) {
		const char *from = json_string_value(json_object_get(json_object_get(n, "pattern"),
								     "String"));
		const char *to = json_string_value(json_object_get(n, "content"));

		if (!from || !to || strcmp(from, " ") || strcmp(to, SP))
			return -1;
		*replace = true;
		return 0;
	}
	return -1;
}

int hc_hf_spm_detect(json_t *root, bool *spm, bool *prefix, const char **why)
{
	json_t *model = json_object_get(root, "model"), *norm = json_object_get(root, "normalizer");
	json_t *pt = json_object_get(root, "pre_tokenizer"), *e;
	bool replace = false, meta = false;
	size_t i;

	*spm = *prefix = false;
	*why = NULL;
	if (pt && (is_type(pt, "ByteLevel") || is_type(pt, "Sequence")))
		return 0;	/* byte-level */
	if (pt && is_type(pt, "Metaspace"))
		meta = true;
	if (!json_is_true(json_object_get(model, "byte_fallback")) && !meta &&
	    (!norm || json_is_null(norm)))
		return 0;	/* byte-level */
	*spm = true;
	if (norm && !json_is_null(norm)) {
		if (is_type(norm, "Sequence")) {
			json_array_foreach(json_object_get(norm, "normalizers"), i, e)
				if (norm_step(e, prefix, &replace))
					break;
			if (i < json_array_size(json_object_get(norm, "normalizers"))) {
				*why = "normalizer step other than Prepend(\"▁\") / Replace(\" \", \"▁\")";
				return -EINVAL;
			}
		} else if (norm_step(norm, prefix, &replace)) {
			*why = "normalizer other than Prepend(\"▁\") / Replace(\" \", \"▁\")";
			return -EINVAL;
		}
	}
	if (meta) {
		const char *rep = json_string_value(json_object_get(pt, "replacement"));
		const char *scheme = json_string_value(json_object_get(pt, "prepend_scheme"));

		if (!rep || strcmp(rep, SP) || json_is_true(json_object_get(pt, "split"))) {
			*why = "Metaspace pre-tokenizer must replace with \"▁\" and not split";
			return -EINVAL;
		}
		replace = true;
		if ((scheme && strcmp(scheme, "never")) ||
		    json_is_true(json_object_get(pt, "add_prefix_space")))
			*prefix = true;
	} else if (pt && !json_is_null(pt)) {
		*why = "SentencePiece-style model with a pre-tokenizer other than Metaspace";
		return -EINVAL;
	}
	if (!replace) {
		*why = "SentencePiece-style model without a \" \" -> \"▁\" replacement";
		return -EINVAL;
	}
	return 0;
}

static size_t n_chars(const char *s)
{
	size_t n = 0;

	for (; *s; s++)
		n += ((uint8_t)*s & 0xc0) != 0x80;
	return n;
}

int hc_hf_spm_finish(struct hc_tok_spec *s, json_t *model, bool prefix, char *why, size_t whylen)
{
	struct hc_strmap vocab = { 0 };
	uint32_t *lens = malloc(s->n_vocab * sizeof(*lens));
	uint8_t *made = calloc(s->n_vocab, 1);
	bool bytes = json_is_true(json_object_get(model, "byte_fallback"));
	const char *unk = json_string_value(json_object_get(model, "unk_token"));
	char *buf = malloc(2 * HC_TOK_MAX_PIECE + 2);
	int ret = -ENOMEM;

	if (!lens || !made || !buf || !(s->scores = calloc(s->n_vocab, sizeof(float))))
		goto out;
	for (uint32_t i = 0; i < s->n_vocab; i++)
		lens[i] = (uint32_t)strlen(s->pieces[i]);
	vocab.keys = (const char *const *)s->pieces;
	vocab.lens = lens;
	if (hc_strmap_init(&vocab, s->n_vocab))
		goto out;
	for (uint32_t i = 0; i < s->n_vocab; i++)
		hc_strmap_put(&vocab, i);
	ret = -EINVAL;
	for (uint32_t r = 0; r < s->n_merges; r++) {
		const char *m = s->merges[r], *sp = strchr(m, ' ');
		size_t ll, rl;
		int32_t t = -1;

		if (sp) {
			ll = (size_t)(sp - m);
			rl = strlen(sp + 1);
			if (ll + rl <= 2 * HC_TOK_MAX_PIECE) {
				memcpy(buf, m, ll);
				memcpy(buf + ll, sp + 1, rl);
				t = hc_strmap_get(&vocab, buf, ll + rl);
			}
		}
		if (t < 0) {
			hc_errmsg(why, whylen, "model.merges[%u] \"%s\" does not make a vocab piece",
				   r, m);
			goto out;
		}
		if (!made[t]) {
			made[t] = 1;
			s->scores[t] = -1.0f - (float)r;
		}
	}
	for (uint32_t i = 0; i < s->n_vocab; i++) {
		if (s->types[i] != HC_TT_NORMAL)
			continue;
		if (bytes && hc_tok_parse_byte_piece(s->pieces[i], lens[i]) >= 0)
			s->types[i] = HC_TT_BYTE;
		else if (!made[i] && n_chars(s->pieces[i]) > 1)
			s->types[i] = HC_TT_UNUSED;	/* BPE can never produce it */
	}
	if (unk && (s->unk_id = hc_strmap_get(&vocab, unk, strlen(unk))) >= 0)
		s->types[s->unk_id] = HC_TT_UNKNOWN;
	for (uint32_t r = 0; r < s->n_merges; r++)
		free(s->merges[r]);
	free(s->merges);
	s->merges = NULL;
	s->n_merges = 0;
	s->kind = HC_TOK_SPM;
	s->add_space_prefix = prefix;
	ret = 0;
out:
	if (ret == -ENOMEM)
		hc_errmsg(why, whylen, "out of memory");
	hc_strmap_free(&vocab);
	free(lens);
	free(made);
	free(buf);
	return ret;
}
