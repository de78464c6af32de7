/* SPDX-License-Identifier: MIT */
/* lib/tokenizer internals: the loaded tokenizer, the merge map, the encoders. */
#ifndef HC_TOK_INTERNAL_H
#define HC_TOK_INTERNAL_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "hc_err.h"
#include "tok_blob.h"
#include "tok_util.h"
#include "tokenizer.h"

/* (left, right) id pair -> merge rank and result id. */
struct hc_pairmap {
	uint64_t *keys;		/* (left << 32 | right) + 1, 0 = empty */
	uint32_t *rank;
	int32_t *result;
	uint32_t mask;
};
int hc_pairmap_init(struct hc_pairmap *m, uint32_t n);
void hc_pairmap_free(struct hc_pairmap *m);
/* Returns 1 if inserted, 0 if present (the earlier, lower rank wins). */
int hc_pairmap_put(struct hc_pairmap *m, uint32_t l, uint32_t r, uint32_t rank, int32_t result);
bool hc_pairmap_get(const struct hc_pairmap *m, uint32_t l, uint32_t r, uint32_t *rank,
		    int32_t *result);

struct pcre2_real_code_8;

struct hc_tokenizer {
	uint32_t kind, n_vocab, n_merges, flags, chat_format;
	int32_t bos, eos, eot, unk, pad;
	const char **piece;	/* piece text as in the source (▁, Ġ forms), NUL-terminated */
	uint32_t *piece_len;
	const char **raw;	/* decoded bytes of each token */
	uint32_t *raw_len;
	uint8_t *type;
	float *score;		/* SPM */
	uint32_t (*merge)[2];	/* BPE, by rank */
	char *regex;
	char *chat_template;
	struct hc_strmap vocab;
	struct hc_pairmap merges;
	int32_t byte_tok[256];	/* SPM <0xNN> or BPE byte symbol, -1 if absent */
	/* Specials matched in text: per first byte, ids longest first. */
	uint32_t *special_ids;
	uint32_t special_start[257];
	uint32_t max_piece;
	int32_t xstop[8];	/* extra stop ids from the blob */
	uint32_t n_xstop;
	int32_t stop[16];	/* all stop ids, deduplicated */
	uint32_t n_stop;
	struct pcre2_real_code_8 *re;
	char *mem;		/* one allocation holding texts */
};

/* Growable id vector. */
struct hc_idvec {
	int32_t *v;
	size_t n, cap;
};
int hc_idvec_push(struct hc_idvec *iv, int32_t id);

/* Encoders of one plain-text fragment (no special tokens inside). */
int hc_spm_encode(const struct hc_tokenizer *tok, const char *text, size_t len, bool prefix,
		  struct hc_idvec *out);
int hc_bpe_encode(const struct hc_tokenizer *tok, const char *text, size_t len,
		  struct hc_idvec *out);
int hc_bpe_compile(struct hc_tokenizer *tok, char *err, size_t errlen);
void hc_bpe_release(struct hc_tokenizer *tok);

/* Full encode into a vector (special-token split, then fragments). */
int hc_tok_encode_vec(const struct hc_tokenizer *tok, const char *text, size_t len,
		      unsigned flags, struct hc_idvec *out);

#endif
