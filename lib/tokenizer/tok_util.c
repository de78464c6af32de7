// SPDX-License-Identifier: MIT
/* Tokenizer helpers: hash maps, id vectors, UTF-8, the GPT-2 byte map, CRC-32. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "tok_internal.h"

const char hc_tok_llama3_regex[] =
	"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}|"
	" ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";

static uint64_t hash_bytes(const char *s, size_t n)
{
	uint64_t h = 0xcbf29ce484222325ull;	/* FNV-1a, then a final mix */

	for (size_t i = 0; i < n; i++)
		h = (h ^ (uint8_t)s[i]) * 0x100000001b3ull;
	h ^= h >> 29;
	h *= 0xbf58476d1ce4e5b9ull;
	return h ^ (h >> 32);
}

static uint64_t hash_u64(uint64_t x)
{
	x ^= x >> 30;
	x *= 0xbf58476d1ce4e5b9ull;
	x ^= x >> 27;
	x *= 0x94d049bb133111ebull;
	return x ^ (x >> 31);
}

static uint32_t table_size(uint32_t n)
{
	uint32_t sz = 16;

	while (sz < 2ull * n + 16)
		sz <<= 1;
	return sz;
}

int hc_strmap_init(struct hc_strmap *m, uint32_t n)
{
	uint32_t sz = table_size(n);

	m->slots = calloc(sz, sizeof(*m->slots));
	m->mask = sz - 1;
	return m->slots ? 0 : -ENOMEM;
}

void hc_strmap_free(struct hc_strmap *m)
{
	free(m->slots);
	m->slots = NULL;
}

int hc_strmap_put(struct hc_strmap *m, uint32_t id)
{
	const char *k = m->keys[id];
	uint32_t len = m->lens[id];
	uint32_t i = (uint32_t)hash_bytes(k, len) & m->mask;

	for (;; i = (i + 1) & m->mask) {
		uint32_t s = m->slots[i];

		if (!s) {
			m->slots[i] = id + 1;
			return 1;
		}
		if (m->lens[s - 1] == len && !memcmp(m->keys[s - 1], k, len))
			return 0;
	}
}

int32_t hc_strmap_get(const struct hc_strmap *m, const char *s, size_t len)
{
	uint32_t i = (uint32_t)hash_bytes(s, len) & m->mask;

	for (;; i = (i + 1) & m->mask) {
		uint32_t v = m->slots[i];

		if (!v)
			return -1;
		if (m->lens[v - 1] == len && !memcmp(m->keys[v - 1], s, len))
			return (int32_t)(v - 1);
	}
}

int hc_pairmap_init(struct hc_pairmap *m, uint32_t n)
{
	uint32_t sz = table_size(n);

	m->keys = calloc(sz, sizeof(*m->keys));
	m->rank = malloc(sz * sizeof(*m->rank));
	m->result = malloc(sz * sizeof(*m->result));
	m->mask = sz - 1;
	if (!m->keys || !m->rank || !m->result) {
		hc_pairmap_free(m);
		return -ENOMEM;
	}
	return 0;
}

void hc_pairmap_free(struct hc_pairmap *m)
{
	free(m->keys);
	free(m->rank);
	free(m->result);
	m->keys = NULL;
	m->rank = NULL;
	m->result = NULL;
}

int hc_pairmap_put(struct hc_pairmap *m, uint32_t l, uint32_t r, uint32_t rank, int32_t result)
{
	uint64_t key = ((uint64_t)l << 32 | r) + 1;
	uint32_t i = (uint32_t)hash_u64(key) & m->mask;

	for (;; i = (i + 1) & m->mask) {
		if (!m->keys[i]) {
			m->keys[i] = key;
			m->rank[i] = rank;
			m->result[i] = result;
			return 1;
		}
		if (m->keys[i] == key)
			return 0;
	}
}

bool hc_pairmap_get(const struct hc_pairmap *m, uint32_t l, uint32_t r, uint32_t *rank,
		    int32_t *result)
{
	uint64_t key = ((uint64_t)l << 32 | r) + 1;
	uint32_t i = (uint32_t)hash_u64(key) & m->mask;

	for (;; i = (i + 1) & m->mask) {
		if (!m->keys[i])
			return false;
		if (m->keys[i] == key) {
			*rank = m->rank[i];
			*result = m->result[i];
			return true;
		}
	}
}

int hc_idvec_push(struct hc_idvec *iv, int32_t id)
{
	if (iv->n == iv->cap) {
		size_t cap = iv->cap ? iv->cap * 2 : 64;
		int32_t *v = realloc(iv->v, cap * sizeof(*v));

		if (!v)
			return -ENOMEM;
		iv->v = v;
		iv->cap = cap;
	}
	iv->v[iv->n++] = id;
	return 0;
}

size_t hc_utf8_valid_len(const uint8_t *s, size_t n)
{
	uint8_t c = s[0];
	size_t len;
	uint8_t lo = 0x80, hi = 0xbf;	/* allowed range of the second byte */

	if (c < 0x80)
		return 1;
	if (c < 0xc2)
		return 0;
	if (c < 0xe0) {
		len = 2;
	} else if (c < 0xf0) {
		len = 3;
		if (c == 0xe0)
			lo = 0xa0;	/* overlong */
		else if (c == 0xed)
			hi = 0x9f;	/* surrogates */
	} else if (c < 0xf5) {
		len = 4;
		if (c == 0xf0)
			lo = 0x90;
		else if (c == 0xf4)
			hi = 0x8f;	/* > U+10FFFF */
	} else {
		return 0;
	}
	if (n < len || s[1] < lo || s[1] > hi)
		return 0;
	for (size_t i = 2; i < len; i++)
		if ((s[i] & 0xc0) != 0x80)
			return 0;
	return len;
}

bool hc_utf8_valid(const char *s, size_t n)
{
	const uint8_t *p = (const uint8_t *)s;

	for (size_t i = 0; i < n;) {
		size_t l = hc_utf8_valid_len(p + i, n - i);

		if (!l)
			return false;
		i += l;
	}
	return true;
}

size_t hc_utf8_put(uint32_t cp, char *out)
{
	if (cp < 0x80) {
		out[0] = (char)cp;
		return 1;
	}
	if (cp < 0x800) {
		out[0] = (char)(0xc0 | cp >> 6);
		out[1] = (char)(0x80 | (cp & 0x3f));
		return 2;
	}
	if (cp < 0x10000) {
		out[0] = (char)(0xe0 | cp >> 12);
		out[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
		out[2] = (char)(0x80 | (cp & 0x3f));
		return 3;
	}
	out[0] = (char)(0xf0 | cp >> 18);
	out[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
	out[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
	out[3] = (char)(0x80 | (cp & 0x3f));
	return 4;
}

/* GPT-2: printable Latin-1 bytes map to themselves, the rest to U+0100 onwards in order. */
static bool gpt2_self(unsigned b)
{
	return (b >= 0x21 && b <= 0x7e) || (b >= 0xa1 && b <= 0xac) || (b >= 0xae && b <= 0xff);
}

uint32_t hc_gpt2_byte_cp(uint8_t b)
{
	uint32_t n = 0;

	if (gpt2_self(b))
		return b;
	for (unsigned i = 0; i < b; i++)
		n += !gpt2_self(i);
	return 256 + n;
}

int hc_gpt2_cp_byte(uint32_t cp)
{
	uint32_t n = 0;

	if (cp < 256)
		return gpt2_self(cp) ? (int)cp : -1;
	if (cp >= 256 + 68)
		return -1;
	for (unsigned i = 0; i < 256; i++)
		if (!gpt2_self(i) && n++ == cp - 256)
			return (int)i;
	return -1;
}

int hc_tok_parse_byte_piece(const char *s, size_t len)
{
	int v = 0;

	if (len != 6 || memcmp(s, "<0x", 3) || s[5] != '>')
		return -1;
	for (int i = 3; i < 5; i++) {
		char c = s[i];

		v <<= 4;
		if (c >= '0' && c <= '9')
			v |= c - '0';
		else if (c >= 'A' && c <= 'F')
			v |= c - 'A' + 10;
		else if (c >= 'a' && c <= 'f')
			v |= c - 'a' + 10;
		else
			return -1;
	}
	return v;
}

uint32_t hc_crc32(uint32_t crc, const void *p, size_t n)
{
	uint32_t table[256], c = ~crc;
	const uint8_t *b = p;

	for (uint32_t i = 0; i < 256; i++) {
		uint32_t x = i;

		for (int k = 0; k < 8; k++)
			x = (x >> 1) ^ (0xedb88320u & -(x & 1));
		table[i] = x;
	}
	for (size_t i = 0; i < n; i++)
		c = table[(c ^ b[i]) & 0xff] ^ (c >> 8);
	return ~c;
}
