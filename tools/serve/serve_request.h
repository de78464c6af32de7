/* SPDX-License-Identifier: MIT */
/*
 * hc-serve's request side: an OpenAI request body, parsed with jansson and validated field by
 * field (every field is either honoured or refused, never ignored), then tokenized with the
 * card's own tokenizer; plus the stop-string matcher that runs on the detokenized output.
 */
#ifndef HC_TOOLS_SERVE_REQUEST_H
#define HC_TOOLS_SERVE_REQUEST_H

#include <stddef.h>
#include <stdint.h>
#include "hc/hc.h"

#define SERVE_MAX_STOP 4		/* as OpenAI */
#define SERVE_STOP_MAX_LEN 256

/* An OpenAI-style error: status, message, type, param (the field) and code. */
struct serve_error {
	int status;
	char message[320];
	const char *type;		/* "invalid_request_error", ... */
	char param[64];			/* the field, "" for none */
	const char *code;		/* NULL: null */
};

struct serve_req {
	int chat;			/* /v1/chat/completions */
	int stream;
	int include_usage;		/* stream_options.include_usage */
	char *model;
	uint32_t max_tokens;		/* 0: until the context is full */
	float temperature, top_p;
	uint32_t top_k;
	uint64_t seed;
	int has_seed;
	char *stop[SERVE_MAX_STOP];
	unsigned n_stop;
	/* the prompt, as given: text, ids, or chat messages */
	char *prompt_text;
	int32_t *prompt_ids;
	size_t n_prompt_ids;
	struct hc_message *msgs;
	size_t n_msgs;
	/* the prompt as the card sees it (serve_req_tokenize) */
	int32_t *ids;
	size_t n_ids;
};

/*
 * Parse and validate @len bytes of JSON for a completion (@chat 0) or a chat completion.
 * Return: 0, or -1 with @err filled (400, naming the field).
 */
int serve_req_parse(const char *body, size_t len, int chat, struct serve_req *r,
		    struct serve_error *err);

/*
 * Tokenize the prompt with @card's tokenizer (text: BOS + special tokens parsed, as
 * `hc-run --bos`; chat: the ROM's chat format, as `hc-run --chat`), check it and max_tokens
 * against the card's context, and draw a seed if none was given. 0 or -1 with @err.
 */
int serve_req_tokenize(struct serve_req *r, struct hc_card *card,
		       const struct hc_card_info *info, struct serve_error *err);

void serve_req_free(struct serve_req *r);

/* Fill @err; @param may be NULL. */
void serve_error_set(struct serve_error *err, int status, const char *type, const char *param,
		     const char *code, const char *fmt, ...) __attribute__((format(printf, 6, 7)));
/* The JSON body of @err (malloc'd, NUL-terminated) or NULL. */
char *serve_error_json(const struct serve_error *err);

/*
 * Stop strings on the detokenized text, across token boundaries: text that could still be
 * the start of a stop string is held back until it is known not to be one; the stop string
 * itself is never emitted.
 */
struct serve_stop_matcher {
	char *const *stop;
	unsigned n_stop;
	char held[SERVE_MAX_STOP * SERVE_STOP_MAX_LEN + 512];
	size_t n_held;
};

void serve_stop_init(struct serve_stop_matcher *m, char *const *stop, unsigned n_stop);
/*
 * Feed @len bytes; @emit receives the text that is safe to send (at most one call).
 * Return: 1 a stop string was found (what preceded it was emitted), 0 otherwise.
 */
int serve_stop_feed(struct serve_stop_matcher *m, const char *text, size_t len,
		    void (*emit)(void *arg, const char *p, size_t n), void *arg);
/* End of output: emit what is held back. */
void serve_stop_flush(struct serve_stop_matcher *m,
		      void (*emit)(void *arg, const char *p, size_t n), void *arg);

#endif
