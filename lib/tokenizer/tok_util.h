/* SPDX-License-Identifier: MIT */
/*
 * lib/tokenizer's helpers that hc-bake's tokenizer importers use too: the string map,
 * UTF-8, the GPT-2 byte map, "<0xNN>" pieces, CRC-32, Llama 3's split regex.
 */
#ifndef HC_TOK_UTIL_H
#define HC_TOK_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Llama 3's pre-tokenizer split (tokenizer.json pre_tokenizer, "Isolated"). */
extern const char hc_tok_llama3_regex[];

/* String -> id map (open addressing over borrowed bytes); first insert of a key wins. */
struct hc_strmap {
	uint32_t *slots;	/* id + 1, 0 = empty */
	uint32_t mask;
	const char *const *keys;	/* keys[id], lens[id]: borrowed */
	const uint32_t *lens;
};
int hc_strmap_init(struct hc_strmap *m, uint32_t n);
void hc_strmap_free(struct hc_strmap *m);
/* Returns 1 if inserted, 0 if the key was already present. */
int hc_strmap_put(struct hc_strmap *m, uint32_t id);
int32_t hc_strmap_get(const struct hc_strmap *m, const char *s, size_t len);

/* UTF-8 helpers. */
/* Length of the valid UTF-8 sequence at @s (at most @n bytes), or 0 if invalid. */
size_t hc_utf8_valid_len(const uint8_t *s, size_t n);
bool hc_utf8_valid(const char *s, size_t n);
size_t hc_utf8_put(uint32_t cp, char *out);

/* GPT-2 bytes_to_unicode: code point for byte @b, and the inverse (-1 if none). */
uint32_t hc_gpt2_byte_cp(uint8_t b);
int hc_gpt2_cp_byte(uint32_t cp);

/* Parse "<0xNN>" exactly; -1 if @s is not a byte token text. */
int hc_tok_parse_byte_piece(const char *s, size_t len);

/* zlib CRC-32; start with @crc = 0, continue with the previous result. */
uint32_t hc_crc32(uint32_t crc, const void *p, size_t n);

#endif
