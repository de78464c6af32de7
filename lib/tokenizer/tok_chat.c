// SPDX-License-Identifier: MIT
/*
 * Chat formats, tokenised piecewise so that message text is never parsed for special
 * tokens (a user typing "<|eot_id|>" gets text, not a turn end). Piecewise equals what
 * Hugging Face gets from the rendered template, which splits on special tokens first.
 *
 * LLAMA3 (the Llama 3 template; content | trim):
 *   <|begin_of_text|> then per message
 *   <|start_header_id|>ROLE<|end_header_id|>\n\nCONTENT<|eot_id|>
 *   and, for the generation prompt, <|start_header_id|>assistant<|end_header_id|>\n\n
 * LLAMA31: the same, with the 3.1 template's system header always first:
 *   "Cutting Knowledge Date: December 2023\nToday Date: 26 Jul 2024\n\n" + system text.
 * LLAMA2 (Meta's chat_completion): per exchange BOS "[INST] USER [/INST] ANSWER " EOS,
 *   last user turn BOS "[INST] USER [/INST]", a system prompt wrapped in
 *   "<<SYS>>\n...\n<</SYS>>\n\n" in front of the first user message.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "tok_internal.h"

/* Python str.strip() whitespace at @s, or 0. */
static size_t ws_len(const char *s, size_t n)
{
	static const uint32_t uni[] = { 0x85, 0xa0, 0x1680, 0x2028, 0x2029, 0x202f, 0x205f, 0x3000 };
	const uint8_t *u = (const uint8_t *)s;
	size_t l = hc_utf8_valid_len(u, n);
	uint32_t cp;

	if (l == 1)
		return (u[0] >= 0x09 && u[0] <= 0x0d) || (u[0] >= 0x1c && u[0] <= 0x20);
	if (l == 2)
		cp = (uint32_t)(u[0] & 0x1f) << 6 | (u[1] & 0x3f);
	else if (l == 3)
		cp = (uint32_t)(u[0] & 0x0f) << 12 | (uint32_t)(u[1] & 0x3f) << 6 | (u[2] & 0x3f);
	else
		return 0;
	if (cp >= 0x2000 && cp <= 0x200a)
		return l;
	for (size_t i = 0; i < sizeof(uni) / sizeof(uni[0]); i++)
		if (cp == uni[i])
			return l;
	return 0;
}

static void trim(const char **s, size_t *n)
{
	size_t l;

	while (*n && (l = ws_len(*s, *n))) {
		*s += l;
		*n -= l;
	}
	/* From the end: step back over one character at a time. */
	while (*n) {
		size_t k = *n - 1;

		while (k && ((uint8_t)(*s)[k] & 0xc0) == 0x80)
			k--;
		if (ws_len(*s + k, *n - k) != *n - k)
			break;
		*n = k;
	}
}

struct chat {
	const struct hc_tokenizer *t;
	struct hc_idvec v;
	int ret;
};

static void push(struct chat *c, int32_t id)
{
	if (!c->ret)
		c->ret = id < 0 ? -EINVAL : hc_idvec_push(&c->v, id);
}

static void text(struct chat *c, const char *s, size_t n, unsigned flags)
{
	if (!c->ret)
		c->ret = hc_tok_encode_vec(c->t, s, n, flags, &c->v);
}

static int32_t special(const struct hc_tokenizer *t, const char *s)
{
	int32_t id = hc_strmap_get(&t->vocab, s, strlen(s));

	return id >= 0 && t->type[id] == HC_TT_CONTROL ? id : -1;
}

/* "\n\n" + trimmed content as one fragment, as the template renders it. */
static void body(struct chat *c, const char *pre, const char *content)
{
	size_t n = strlen(content), lp = strlen(pre);
	char *buf;

	trim(&content, &n);
	buf = malloc(lp + n + 1);
	if (!buf) {
		c->ret = c->ret ? c->ret : -ENOMEM;
		return;
	}
	memcpy(buf, pre, lp);
	memcpy(buf + lp, content, n);
	text(c, buf, lp + n, 0);
	free(buf);
}

static void llama3(struct chat *c, const struct hc_chat_msg *m, size_t n, int gen)
{
	const struct hc_tokenizer *t = c->t;
	int32_t sh = special(t, "<|start_header_id|>"), eh = special(t, "<|end_header_id|>");
	int32_t eot = special(t, "<|eot_id|>");
	size_t i = 0;

	if (sh < 0 || eh < 0 || eot < 0) {
		c->ret = -EINVAL;
		return;
	}
	if (t->bos >= 0)
		push(c, t->bos);
	if (t->chat_format == HC_CHAT_LLAMA31) {
		const char *sys = n && !strcmp(m[0].role, "system") ? m[0].content : "";

		i = n && !strcmp(m[0].role, "system");
		push(c, sh);
		text(c, "system", 6, 0);
		push(c, eh);
		body(c, "\n\nCutting Knowledge Date: December 2023\nToday Date: 26 Jul 2024\n\n", sys);
		push(c, eot);
	}
	for (; i < n; i++) {
		push(c, sh);
		text(c, m[i].role, strlen(m[i].role), 0);
		push(c, eh);
		body(c, "\n\n", m[i].content);
		push(c, eot);
	}
	if (gen) {
		push(c, sh);
		text(c, "assistant", 9, 0);
		push(c, eh);
		text(c, "\n\n", 2, 0);
	}
}

static void llama2(struct chat *c, const struct hc_chat_msg *m, size_t n)
{
	const char *sys = NULL;
	size_t i = 0;

	if (n && !strcmp(m[0].role, "system")) {
		sys = m[0].content;
		i = 1;
	}
	for (int turn = 0; i < n && !c->ret; turn++, i += 2) {
		const char *u = m[i].content, *a = i + 1 < n ? m[i + 1].content : NULL;
		size_t ul = strlen(u), al = a ? strlen(a) : 0, sl = sys ? strlen(sys) : 0;
		char *buf;
		int len;

		if (strcmp(m[i].role, "user") || (a && strcmp(m[i + 1].role, "assistant"))) {
			c->ret = -EINVAL;	/* Llama 2 chat alternates user / assistant */
			return;
		}
		trim(&u, &ul);
		if (a)
			trim(&a, &al);
		if (sys)
			trim(&sys, &sl);
		if (turn == 0 && sys)
			len = asprintf(&buf, "[INST] <<SYS>>\n%.*s\n<</SYS>>\n\n%.*s [/INST]%s%.*s%s",
				       (int)sl, sys, (int)ul, u, a ? " " : "", (int)al, a ? a : "",
				       a ? " " : "");
		else
			len = asprintf(&buf, "[INST] %.*s [/INST]%s%.*s%s", (int)ul, u, a ? " " : "",
				       (int)al, a ? a : "", a ? " " : "");
		if (len < 0) {
			c->ret = -ENOMEM;
			return;
		}
		push(c, c->t->bos);
		text(c, buf, (size_t)len, 0);
		if (a)
			push(c, c->t->eos);
		free(buf);
	}
}

int hc_tok_chat(const struct hc_tokenizer *tok, const struct hc_chat_msg *msgs, size_t n_msgs,
		int add_generation_prompt, int32_t *ids, size_t cap, size_t *n_out)
{
	struct chat c = { .t = tok };

	if (n_out)
		*n_out = 0;
	for (size_t i = 0; i < n_msgs; i++)
		if (!msgs[i].role || !msgs[i].content || !msgs[i].role[0])
			return -EINVAL;
	switch (tok->chat_format) {
	case HC_CHAT_LLAMA3:
	case HC_CHAT_LLAMA31:
		llama3(&c, msgs, n_msgs, add_generation_prompt);
		break;
	case HC_CHAT_LLAMA2:
		llama2(&c, msgs, n_msgs);
		break;
	default:
		return -EOPNOTSUPP;
	}
	if (!c.ret) {
		if (n_out)
			*n_out = c.v.n;
		if (ids && cap && c.v.n)
			memcpy(ids, c.v.v, (c.v.n < cap ? c.v.n : cap) * sizeof(*ids));
		if (c.v.n > cap)
			c.ret = -ENOSPC;
	}
	free(c.v.v);
	return c.ret;
}
