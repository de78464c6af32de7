// SPDX-License-Identifier: MIT
/*
 * hc_tok_load: parse and fully validate an untrusted tokenizer blob (docs/tokenizers.md),
 * then build the lookup tables the encoders and the decoder use. No JSON, no regex
 * compilation beyond the BPE split pattern.
 */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "tok_internal.h"

static uint32_t get32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

void hc_tok_free(struct hc_tokenizer *t)
{
	if (!t)
		return;
	hc_bpe_release(t);
	hc_strmap_free(&t->vocab);
	hc_pairmap_free(&t->merges);
	free(t->piece);
	free(t->piece_len);
	free(t->raw);
	free(t->raw_len);
	free(t->type);
	free(t->score);
	free(t->merge);
	free(t->special_ids);
	free(t->mem);
	free(t);
}

/* Decoded bytes of token @i into @out; returns the length (never more than the piece). */
static uint32_t make_raw(const struct hc_tokenizer *t, uint32_t i, char *out)
{
	const char *s = t->piece[i];
	uint32_t n = t->piece_len[i], o = 0;

	if (t->type[i] == HC_TT_CONTROL || t->type[i] == HC_TT_USER_DEFINED) {
		memcpy(out, s, n);
		return n;
	}
	if (t->kind == HC_TOK_SPM) {
		if (t->type[i] == HC_TT_BYTE) {
			int b = hc_tok_parse_byte_piece(s, n);	/* bad text: refused later */

			out[0] = (char)b;
			return b >= 0;
		}
		for (uint32_t k = 0; k < n; k++) {
			if (k + 2 < n && !memcmp(s + k, "\xe2\x96\x81", 3)) {
				out[o++] = ' ';
				k += 2;
			} else {
				out[o++] = s[k];
			}
		}
		return o;
	}
	/* Byte-level BPE: each character stands for one byte. */
	for (uint32_t k = 0; k < n;) {
		const uint8_t *u = (const uint8_t *)s + k;
		size_t l = hc_utf8_valid_len(u, n - k);
		uint32_t cp;
		int b;

		if (l == 0) {
			out[o++] = s[k++];
			continue;
		}
		cp = l == 1 ? u[0] : l == 2 ? (uint32_t)(u[0] & 0x1f) << 6 | (u[1] & 0x3f) : 0xffff;
		b = l <= 2 ? hc_gpt2_cp_byte(cp) : -1;
		if (b >= 0) {
			out[o++] = (char)b;
		} else {
			memcpy(out + o, u, l);
			o += (uint32_t)l;
		}
		k += (uint32_t)l;
	}
	return o;
}

/* Byte order, a prefix before its extensions, then by id: a sorted trie for matching. */
static int cmp_special(const void *a, const void *b, void *arg)
{
	const struct hc_tokenizer *t = arg;
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
	uint32_t lx = t->piece_len[x], ly = t->piece_len[y];
	int c = memcmp(t->piece[x], t->piece[y], lx < ly ? lx : ly);

	if (c)
		return c;
	if (lx != ly)
		return lx < ly ? -1 : 1;
	return x < y ? -1 : x > y;
}

static void add_stop(struct hc_tokenizer *t, int32_t id)
{
	if (id < 0 || t->n_stop >= sizeof(t->stop) / sizeof(t->stop[0]))
		return;
	for (uint32_t i = 0; i < t->n_stop; i++)
		if (t->stop[i] == id)
			return;
	t->stop[t->n_stop++] = id;
}

static int32_t find_control(const struct hc_tokenizer *t, const char *text)
{
	int32_t id = hc_strmap_get(&t->vocab, text, strlen(text));

	return id >= 0 && t->type[id] == HC_TT_CONTROL ? id : -1;
}

static int build_tables(struct hc_tokenizer *t, char *err, size_t errlen)
{
	uint32_t n = t->n_vocab, n_special = 0;
	char *buf;

	t->vocab.keys = t->piece;
	t->vocab.lens = t->piece_len;
	if (hc_strmap_init(&t->vocab, n))
		return -ENOMEM;
	for (uint32_t i = 0; i < n; i++)
		hc_strmap_put(&t->vocab, i);

	if (t->n_merges) {
		buf = malloc(2 * HC_TOK_MAX_PIECE);
		if (!buf || hc_pairmap_init(&t->merges, t->n_merges)) {
			free(buf);
			return -ENOMEM;
		}
		for (uint32_t r = 0; r < t->n_merges; r++) {
			uint32_t l = t->merge[r][0], rr = t->merge[r][1];
			int32_t res;

			if (l >= n || rr >= n) {
				free(buf);
				hc_errmsg(err, errlen, "tokenizer blob: merge %u refers to token %u "
					   "beyond vocab %u", r, l >= n ? l : rr, n);
				return -EINVAL;
			}
			memcpy(buf, t->piece[l], t->piece_len[l]);
			memcpy(buf + t->piece_len[l], t->piece[rr], t->piece_len[rr]);
			res = hc_strmap_get(&t->vocab, buf, t->piece_len[l] + t->piece_len[rr]);
			if (res < 0) {
				free(buf);
				hc_errmsg(err, errlen, "tokenizer blob: merge %u (%u + %u) gives a "
					   "piece not in the vocab", r, l, rr);
				return -EINVAL;
			}
			hc_pairmap_put(&t->merges, l, rr, r, res);
		}
		free(buf);
	}

	for (int b = 0; b < 256; b++)
		t->byte_tok[b] = -1;
	for (uint32_t i = 0; i < n; i++) {
		if (t->kind == HC_TOK_SPM && t->type[i] == HC_TT_BYTE) {
			int b = hc_tok_parse_byte_piece(t->piece[i], t->piece_len[i]);

			if (b < 0) {
				hc_errmsg(err, errlen, "tokenizer blob: byte token %u is not <0xNN>", i);
				return -EINVAL;
			}
			if (t->byte_tok[b] < 0)
				t->byte_tok[b] = (int32_t)i;
		}
		if ((t->type[i] == HC_TT_CONTROL || t->type[i] == HC_TT_USER_DEFINED) &&
		    t->piece_len[i])
			n_special++;
	}
	if (t->kind == HC_TOK_BPE) {
		for (int b = 0; b < 256; b++) {
			char u[4];
			size_t l = hc_utf8_put(hc_gpt2_byte_cp((uint8_t)b), u);
			int32_t id = hc_strmap_get(&t->vocab, u, l);

			if (id < 0 || t->type[id] != HC_TT_NORMAL) {
				hc_errmsg(err, errlen, "tokenizer blob: BPE vocab lacks the byte "
					   "symbol for 0x%02X", b);
				return -EINVAL;
			}
			t->byte_tok[b] = id;
		}
	}

	t->special_ids = malloc((n_special ? n_special : 1) * sizeof(*t->special_ids));
	if (!t->special_ids)
		return -ENOMEM;
	n_special = 0;
	for (uint32_t i = 0; i < n; i++)
		if ((t->type[i] == HC_TT_CONTROL || t->type[i] == HC_TT_USER_DEFINED) &&
		    t->piece_len[i])
			t->special_ids[n_special++] = i;
	qsort_r(t->special_ids, n_special, sizeof(uint32_t), cmp_special, t);
	for (uint32_t c = 0, k = 0; c <= 256; c++) {
		while (k < n_special && (uint8_t)t->piece[t->special_ids[k]][0] < c)
			k++;
		t->special_start[c] = c == 256 ? n_special : k;
	}

	add_stop(t, t->eos);
	add_stop(t, t->eot);
	for (uint32_t i = 0; i < t->n_xstop; i++)
		add_stop(t, t->xstop[i]);
	if (t->kind == HC_TOK_BPE) {
		add_stop(t, find_control(t, "<|eot_id|>"));
		add_stop(t, find_control(t, "<|eom_id|>"));
		add_stop(t, find_control(t, "<|end_of_text|>"));
	}
	return 0;
}

static bool id_ok(int32_t id, uint32_t n)
{
	return id == -1 || (id >= 0 && (uint32_t)id < n);
}

int hc_tok_load(const void *blob, size_t len, struct hc_tokenizer **out, char *err, size_t errlen)
{
	const uint8_t *b = blob, *p;
	struct hc_tokenizer *t;
	struct hc_tok_blob_hdr h;
	uint32_t total, crc, piece_bytes, regex_len, tmpl_len, n, n_xstop;
	uint64_t need;
	char *mem;
	int ret = -EINVAL;

	*out = NULL;
	if (!b || len < HC_TOK_BLOB_HDR)
		return hc_err(-EINVAL, err, errlen,
			      "tokenizer blob: %zu bytes, shorter than its header", len);
	memcpy(&h, b, sizeof(h));
	hc_tok_blob_hdr_swap(&h, 0);
	if (memcmp(h.magic, HC_TOK_BLOB_MAGIC, 4))
		return hc_err(-EINVAL, err, errlen, "tokenizer blob: bad magic (not an HCTK blob)");
	if (h.version != HC_TOK_BLOB_VERSION || h.hdr_size != HC_TOK_BLOB_HDR)
		return hc_err(-EINVAL, err, errlen,
			      "tokenizer blob: unsupported version %u (header %u bytes)", h.version,
			      h.hdr_size);
	total = h.total_size;
	if (total > len || total < HC_TOK_BLOB_HDR)
		return hc_err(-EINVAL, err, errlen,
			      "tokenizer blob: size field %u but %zu bytes given", total, len);
	{
		uint8_t zeroed[HC_TOK_BLOB_HDR];

		memcpy(zeroed, b, sizeof(zeroed));
		memset(zeroed + HC_TOK_BLOB_CRC_OFFSET, 0, 4);
		crc = hc_crc32(hc_crc32(0, zeroed, sizeof(zeroed)), b + HC_TOK_BLOB_HDR,
			       total - HC_TOK_BLOB_HDR);
	}
	if (crc != h.crc32)
		return hc_err(-EINVAL, err, errlen,
			      "tokenizer blob: checksum mismatch (corrupt blob)");

	t = calloc(1, sizeof(*t));
	if (!t)
		return -ENOMEM;
	t->kind = h.kind;
	t->n_vocab = n = h.n_vocab;
	t->n_merges = h.n_merges;
	t->flags = h.flags;
	t->chat_format = h.chat_format;
	t->bos = h.bos;
	t->eos = h.eos;
	t->eot = h.eot;
	t->unk = h.unk;
	t->pad = h.pad;
	piece_bytes = h.piece_bytes;
	regex_len = h.regex_len;
	tmpl_len = h.template_len;
	n_xstop = h.n_extra_stop;

	if (t->kind != HC_TOK_SPM && t->kind != HC_TOK_BPE) {
		hc_errmsg(err, errlen, "tokenizer blob: unknown kind %u", t->kind);
		goto fail;
	}
	if (!n || n > HC_TOK_MAX_VOCAB || t->n_merges > HC_TOK_MAX_MERGES) {
		hc_errmsg(err, errlen, "tokenizer blob: bad counts (vocab %u, merges %u)", n,
			   t->n_merges);
		goto fail;
	}
	if ((t->flags & ~HC_TOKF_ALL) || n_xstop > HC_TOK_MAX_XSTOP ||
	    (t->kind == HC_TOK_SPM && (!(t->flags & HC_TOKF_SCORES) || t->n_merges)) ||
	    t->chat_format > HC_CHAT_LLAMA31) {
		hc_errmsg(err, errlen, "tokenizer blob: bad flags/format fields");
		goto fail;
	}
	if (!id_ok(t->bos, n) || !id_ok(t->eos, n) || !id_ok(t->eot, n) || !id_ok(t->unk, n) ||
	    !id_ok(t->pad, n)) {
		hc_errmsg(err, errlen, "tokenizer blob: special token id out of range");
		goto fail;
	}
	if (regex_len > HC_TOK_MAX_TEXT || tmpl_len > HC_TOK_MAX_TEXT ||
	    piece_bytes > (uint64_t)n * HC_TOK_MAX_PIECE) {
		hc_errmsg(err, errlen, "tokenizer blob: bad text sizes");
		goto fail;
	}
	need = HC_TOK_BLOB_HDR + 4ull * n + ((t->flags & HC_TOKF_SCORES) ? 4ull * n : 0) +
	       8ull * t->n_merges + 4ull * n_xstop + n + piece_bytes + regex_len + tmpl_len;
	need = (need + 3) & ~3ull;
	if (need != total) {
		hc_errmsg(err, errlen, "tokenizer blob: size %u does not match its counts (%llu)",
			   total, (unsigned long long)need);
		goto fail;
	}

	ret = -ENOMEM;
	t->piece = malloc(n * sizeof(*t->piece));
	t->piece_len = malloc(n * sizeof(*t->piece_len));
	t->raw = malloc(n * sizeof(*t->raw));
	t->raw_len = malloc(n * sizeof(*t->raw_len));
	t->type = malloc(n);
	if (t->flags & HC_TOKF_SCORES)
		t->score = malloc(n * sizeof(*t->score));
	if (t->n_merges)
		t->merge = malloc(t->n_merges * sizeof(*t->merge));
	t->mem = mem = malloc(2ull * (piece_bytes + n) + regex_len + tmpl_len + 2);
	if (!t->piece || !t->piece_len || !t->raw || !t->raw_len || !t->type || !mem ||
	    ((t->flags & HC_TOKF_SCORES) && !t->score) || (t->n_merges && !t->merge))
		goto fail;
	ret = -EINVAL;

	{
		const uint8_t *ends = b + HC_TOK_BLOB_HDR;
		const uint8_t *scores = ends + 4ull * n;
		const uint8_t *merges = scores + ((t->flags & HC_TOKF_SCORES) ? 4ull * n : 0);
		const uint8_t *xstop = merges + 8ull * t->n_merges;
		const uint8_t *types = xstop + 4ull * n_xstop;
		const uint8_t *text = types + n;
		uint32_t start = 0;

		for (uint32_t i = 0; i < n; i++) {
			uint32_t end = get32(ends + 4ull * i);

			if (end < start || end > piece_bytes || end - start > HC_TOK_MAX_PIECE ||
			    (i == n - 1 && end != piece_bytes)) {
				hc_errmsg(err, errlen, "tokenizer blob: piece %u has bad offsets", i);
				goto fail;
			}
			if (memchr(text + start, 0, end - start)) {
				hc_errmsg(err, errlen, "tokenizer blob: piece %u contains a NUL", i);
				goto fail;
			}
			t->piece[i] = mem;
			t->piece_len[i] = end - start;
			memcpy(mem, text + start, end - start);
			mem += end - start;
			*mem++ = 0;
			start = end;
			t->type[i] = types[i];
			if (types[i] < HC_TT_NORMAL || types[i] > HC_TT_BYTE) {
				hc_errmsg(err, errlen, "tokenizer blob: token %u has bad type %u", i,
					   types[i]);
				goto fail;
			}
			if (t->score) {
				uint32_t u = get32(scores + 4ull * i);

				memcpy(&t->score[i], &u, 4);
				if (!isfinite(t->score[i])) {
					hc_errmsg(err, errlen, "tokenizer blob: token %u score is "
						   "not finite", i);
					goto fail;
				}
			}
		}
		for (uint32_t r = 0; r < t->n_merges; r++) {
			t->merge[r][0] = get32(merges + 8ull * r);
			t->merge[r][1] = get32(merges + 8ull * r + 4);
		}
		for (uint32_t i = 0; i < n_xstop; i++) {
			int32_t id = (int32_t)get32(xstop + 4ull * i);

			if (id < 0 || (uint32_t)id >= n) {
				hc_errmsg(err, errlen, "tokenizer blob: stop id %d out of range", id);
				goto fail;
			}
			t->xstop[i] = id;
		}
		t->n_xstop = n_xstop;
		p = text + piece_bytes;
		t->regex = mem;
		memcpy(mem, p, regex_len);
		mem += regex_len;
		*mem++ = 0;
		t->chat_template = mem;
		memcpy(mem, p + regex_len, tmpl_len);
		mem += tmpl_len;
		*mem++ = 0;
		if (strlen(t->regex) != regex_len || strlen(t->chat_template) != tmpl_len) {
			hc_errmsg(err, errlen, "tokenizer blob: regex/template contains a NUL");
			goto fail;
		}
	}
	for (uint32_t i = 0; i < n; i++) {
		t->raw[i] = mem;
		t->raw_len[i] = make_raw(t, i, mem);
		mem += t->raw_len[i];
		if (t->raw_len[i] > t->max_piece)
			t->max_piece = t->raw_len[i];
	}
	ret = build_tables(t, err, errlen);
	if (ret)
		goto fail;
	if (t->kind == HC_TOK_BPE) {
		ret = hc_bpe_compile(t, err, errlen);
		if (ret)
			goto fail;
	}
	*out = t;
	return 0;
fail:
	if (ret == -ENOMEM)
		hc_errmsg(err, errlen, "tokenizer blob: out of memory");
	hc_tok_free(t);
	return ret;
}

uint32_t hc_tok_vocab_size(const struct hc_tokenizer *tok)
{
	return tok->n_vocab;
}

int32_t hc_tok_bos(const struct hc_tokenizer *tok)
{
	return tok->bos;
}

int32_t hc_tok_eos(const struct hc_tokenizer *tok)
{
	return tok->eos;
}

uint32_t hc_tok_stop_ids(const struct hc_tokenizer *tok, int32_t *ids, uint32_t cap)
{
	uint32_t n = tok->n_stop < cap ? tok->n_stop : cap;

	memcpy(ids, tok->stop, n * sizeof(*ids));
	return n;
}

const char *hc_tok_piece(const struct hc_tokenizer *tok, int32_t id, size_t *len)
{
	if (id < 0 || (uint32_t)id >= tok->n_vocab) {
		if (len)
			*len = 0;
		return NULL;
	}
	if (len)
		*len = tok->raw_len[id];
	return tok->raw[id];
}
