/* SPDX-License-Identifier: MIT */
/*
 * The tokenizer blob's fixed header (docs/tokenizers.md), the one definition that
 * hc_tok_load() (lib/tokenizer/tokenizer.c) reads and hc-bake's writer
 * (tools/bake/tokenizer/tok_serialize.c) fills. Little-endian on disk; after the header:
 * piece end offsets, scores (SPM), merge id pairs, extra stop ids, types, piece text, the
 * split regex, the chat template; the whole blob padded to 4 bytes.
 */
#ifndef HC_TOK_BLOB_H
#define HC_TOK_BLOB_H

#include <endian.h>
#include <stdint.h>
#include <string.h>

#define HC_TOK_BLOB_MAGIC	"HCTK"
#define HC_TOK_BLOB_VERSION	1
#define HC_TOK_MAX_VOCAB	(1u << 24)
#define HC_TOK_MAX_MERGES	(1u << 24)
#define HC_TOK_MAX_TEXT		(1u << 24)	/* regex, chat template */
#define HC_TOK_MAX_PIECE	1024		/* bytes of one piece's text */
#define HC_TOK_MAX_XSTOP	8		/* extra stop ids */

/* Blob flags. */
#define HC_TOKF_ADD_BOS		(1u << 0)
#define HC_TOKF_SPACE_PREFIX	(1u << 1)
#define HC_TOKF_IGNORE_MERGES	(1u << 2)
#define HC_TOKF_SCORES		(1u << 3)
#define HC_TOKF_ALL		0xfu

struct hc_tok_blob_hdr {
	char     magic[4];	/* HC_TOK_BLOB_MAGIC */
	uint16_t version;	/* HC_TOK_BLOB_VERSION */
	uint16_t hdr_size;	/* sizeof(struct hc_tok_blob_hdr) */
	uint32_t total_size;	/* the whole blob, padding included */
	uint32_t crc32;		/* zlib CRC-32 of the blob with this field zero */
	uint32_t kind;		/* enum hc_tok_kind */
	uint32_t n_vocab, n_merges;
	uint32_t flags;		/* HC_TOKF_* */
	uint32_t chat_format;	/* enum hc_chat_format */
	int32_t  bos, eos, eot, unk, pad;	/* -1 when absent */
	uint32_t piece_bytes, regex_len, template_len;
	uint32_t n_extra_stop;	/* at most HC_TOK_MAX_XSTOP */
};
_Static_assert(sizeof(struct hc_tok_blob_hdr) == 72, "tokenizer blob header is 72 bytes");
#define HC_TOK_BLOB_HDR		((uint32_t)sizeof(struct hc_tok_blob_hdr))
#define HC_TOK_BLOB_CRC_OFFSET	12	/* offsetof(struct hc_tok_blob_hdr, crc32) */

/* Byte order of every field (on-disk <-> host), both ways; the magic is bytes already. */
static inline void hc_tok_blob_hdr_swap(struct hc_tok_blob_hdr *h, int to_disk)
{
	uint32_t *w = &h->total_size;

	h->version = to_disk ? htole16(h->version) : le16toh(h->version);
	h->hdr_size = to_disk ? htole16(h->hdr_size) : le16toh(h->hdr_size);
	for (size_t i = 0; i < (sizeof(*h) - 8) / 4; i++)
		w[i] = to_disk ? htole32(w[i]) : le32toh(w[i]);
}

#endif
