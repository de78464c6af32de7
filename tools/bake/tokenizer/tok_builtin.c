// SPDX-License-Identifier: MIT
/*
 * The built-in tokenizer for synthetic models: SentencePiece-style, no data file.
 * <unk>, <s>, </s>; single characters (printable ASCII, "▁" for space, \n, \t, \r);
 * "▁" + letter/digit; common English words and subwords with and without "▁"; then
 * lowercase letter combinations of growing length until the vocab is full. Every piece is
 * non-empty valid UTF-8 and there are no byte tokens, so any id sequence decodes to valid
 * UTF-8. Every multi-character piece is its prefix plus one character and scores fall
 * with the id, so the SPM merge can always build it. Non-ASCII text encodes as <unk>.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "hc_err.h"
#include "tok_blob.h"
#include "tok_spec.h"
#include "tok_util.h"

#define SP "\xe2\x96\x81"

static const char *const words[] = {
	"the", "and", "of", "to", "a", "in", "is", "it", "you", "that", "he", "was", "for",
	"on", "are", "with", "as", "I", "his", "they", "be", "at", "one", "have", "this",
	"from", "or", "had", "by", "not", "word", "but", "what", "some", "we", "can", "out",
	"other", "were", "all", "there", "when", "up", "use", "your", "how", "said", "an",
	"each", "she", "which", "do", "their", "time", "if", "will", "way", "about", "many",
	"then", "them", "write", "would", "like", "so", "these", "her", "long", "make",
	"thing", "see", "him", "two", "has", "look", "more", "day", "could", "go", "come",
	"did", "number", "sound", "no", "most", "people", "my", "over", "know", "water",
	"than", "call", "first", "who", "may", "down", "side", "been", "now", "find", "any",
	"new", "work", "part", "take", "get", "place", "made", "live", "where", "after",
	"back", "little", "only", "round", "man", "year", "came", "show", "every", "good",
	"me", "give", "our", "under", "name", "very", "through", "just", "form", "great",
	"think", "say", "help", "low", "line", "turn", "cause", "much", "mean", "before",
	"move", "right", "boy", "old", "too", "same", "tell", "does", "set", "three", "want",
	"air", "well", "also", "play", "small", "end", "put", "home", "read", "hand", "large",
	"add", "even", "land", "here", "must", "big", "high", "such", "follow", "act", "why",
	"ask", "men", "change", "went", "light", "kind", "off", "need", "house", "picture",
	"try", "us", "again", "animal", "point", "mother", "world", "near", "build", "self",
	"earth", "father", "head", "stand", "own", "page", "should", "country", "found",
	"answer", "school", "grow", "study", "still", "learn", "plant", "cover", "food", "sun",
	"four", "between", "state", "keep", "eye", "never", "last", "let", "thought", "city",
	"tree", "cross", "farm", "hard", "start", "might", "story", "saw", "far", "sea",
	"draw", "left", "late", "run", "while", "press", "close", "night", "real", "life",
	"few", "north", "once", "upon", "lived", "girl", "happy", "friend", "dog", "cat",
	"sky", "big", "red", "blue", "ball", "park", "tree", "bird", "fish", "sad", "mom",
	"dad", "Once", "The", "He", "She", "They", "It", "One", "Lily", "Tom", "Hello",
	"hello", "ing", "ed", "er", "ly", "tion", "es", "est", "ment", "ness", "ful", "less",
	"able", "re", "un", "'s", "n't", "'m", "'re", "'ll", "'ve", "'d",
};

struct builder {
	struct hc_tok_spec *s;
	struct hc_strmap set;
	uint32_t *lens;
	uint32_t n;
};

/* Add @p (NUL-terminated) unless present. 1 when the vocab is full. */
static int add(struct builder *b, const char *p)
{
	size_t len = strlen(p);

	if (b->n == b->s->n_vocab)
		return 1;
	if (hc_strmap_get(&b->set, p, len) >= 0)
		return 0;
	b->s->pieces[b->n] = strdup(p);
	if (!b->s->pieces[b->n])
		return -ENOMEM;
	b->lens[b->n] = (uint32_t)len;
	b->s->scores[b->n] = -(float)b->n;
	b->s->types[b->n] = HC_TT_NORMAL;
	hc_strmap_put(&b->set, b->n);
	b->n++;
	return b->n == b->s->n_vocab;
}

/* @p and all its prefixes that end on a character boundary, shortest first. */
static int add_with_prefixes(struct builder *b, const char *p)
{
	char buf[64];
	size_t len = strlen(p);
	int ret = 0;

	for (size_t l = 1; l <= len && !ret; l++) {
		if (l < len && ((uint8_t)p[l] & 0xc0) == 0x80)
			continue;
		memcpy(buf, p, l);
		buf[l] = 0;
		ret = add(b, buf);
	}
	return ret;
}

static int fill(struct builder *b)
{
	char buf[64];
	int ret;

	ret = add(b, "<unk>");
	if (!ret)
		ret = add(b, "<s>");
	if (!ret)
		ret = add(b, "</s>");
	for (int c = 0x21; c < 0x7f && !ret; c++) {
		buf[0] = (char)c;
		buf[1] = 0;
		ret = add(b, buf);
	}
	if (!ret)
		ret = add(b, SP);
	if (!ret)
		ret = add(b, "\n");
	if (!ret)
		ret = add(b, "\t");
	if (!ret)
		ret = add(b, "\r");
	for (int c = 0x21; c < 0x7f && !ret; c++) {
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')))
			continue;
		snprintf(buf, sizeof(buf), SP "%c", c);
		ret = add(b, buf);
	}
	for (size_t w = 0; w < sizeof(words) / sizeof(words[0]) && !ret; w++) {
		snprintf(buf, sizeof(buf), SP "%s", words[w]);
		ret = add_with_prefixes(b, buf);
		if (!ret)
			ret = add_with_prefixes(b, words[w]);
	}
	/* Letter combinations of length 2, 3, ...: "ab" and "▁ab", prefixes already in. */
	for (int len = 2; !ret && len <= 6; len++) {
		uint64_t total = 1;

		for (int k = 0; k < len; k++)
			total *= 26;
		for (uint64_t x = 0; x < total && !ret; x++) {
			char *q = buf + 3;
			uint64_t v = x;

			for (int k = len - 1; k >= 0; k--, v /= 26)
				q[k] = (char)('a' + v % 26);
			q[len] = 0;
			ret = add(b, q);
			if (!ret) {
				memcpy(buf, SP, 3);
				ret = add(b, buf);
			}
		}
	}
	return ret < 0 ? ret : (b->n == b->s->n_vocab ? 0 : -E2BIG);
}

int hc_tok_spec_builtin(uint32_t vocab_size, struct hc_tok_spec **out, char *err, size_t errlen)
{
	struct builder b = { 0 };
	int ret;

	*out = NULL;
	if (vocab_size < 100 || vocab_size > HC_TOK_MAX_VOCAB) {
		hc_errmsg(err, errlen, "built-in tokenizer: vocab_size %u outside 100..%u",
			   vocab_size, HC_TOK_MAX_VOCAB);
		return -EINVAL;
	}
	b.s = hc_tok_spec_alloc(HC_TOK_SPM, vocab_size, true);
	b.lens = malloc(vocab_size * sizeof(*b.lens));
	if (!b.s || !b.lens || hc_strmap_init(&b.set, vocab_size)) {
		ret = -ENOMEM;
		goto out;
	}
	b.set.keys = (const char *const *)b.s->pieces;
	b.set.lens = b.lens;
	ret = fill(&b);
	if (ret)
		goto out;
	b.s->types[0] = HC_TT_UNKNOWN;
	b.s->types[1] = b.s->types[2] = HC_TT_CONTROL;
	b.s->scores[0] = b.s->scores[1] = b.s->scores[2] = 0;
	b.s->unk_id = 0;
	b.s->bos_id = 1;
	b.s->eos_id = 2;
	b.s->add_bos = 1;
	b.s->add_space_prefix = 1;
	b.s->chat_format = HC_CHAT_LLAMA2;
	*out = b.s;
	b.s = NULL;
out:
	if (ret)
		hc_errmsg(err, errlen, "built-in tokenizer (vocab %u): %s", vocab_size,
			   strerror(-ret));
	hc_strmap_free(&b.set);
	free(b.lens);
	hc_tok_spec_free(b.s);
	return ret;
}
