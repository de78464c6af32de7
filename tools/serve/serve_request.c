// SPDX-License-Identifier: MIT
/*
 * hc-serve: OpenAI request bodies -> struct serve_req. Every field of the body is looked at:
 * those the card honours are checked for type and range, those that would be no-ops at their
 * default value are accepted only at that value, and anything else (logprobs, n > 1, tools,
 * unknown names) is a 400 naming the field, so a client never gets output that silently
 * differs from what it asked for.
 */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <jansson.h>
#include "serve_request.h"

void serve_error_set(struct serve_error *err, int status, const char *type, const char *param,
		     const char *code, const char *fmt, ...)
{
	va_list ap;

	err->status = status;
	err->type = type;
	err->code = code;
	snprintf(err->param, sizeof(err->param), "%s", param ? param : "");
	va_start(ap, fmt);
	vsnprintf(err->message, sizeof(err->message), fmt, ap);
	va_end(ap);
}

char *serve_error_json(const struct serve_error *err)
{
	json_t *o = json_pack("{s:{s:s, s:s, s:o, s:o}}", "error", "message", err->message,
			      "type", err->type ? err->type : "invalid_request_error", "param",
			      err->param[0] ? json_string(err->param) : json_null(), "code",
			      err->code ? json_string(err->code) : json_null());
	char *s;

	if (!o)
		return NULL;
	s = json_dumps(o, JSON_COMPACT);
	json_decref(o);
	return s;
}

/* A 400 naming @param; returns -1 so that callers can `return BAD(...)`. */
static int __attribute__((format(printf, 4, 5)))
bad(struct serve_error *err, const char *param, const char *code, const char *fmt, ...)
{
	va_list ap;

	serve_error_set(err, 400, "invalid_request_error", param, code, "%s", "");
	va_start(ap, fmt);
	vsnprintf(err->message, sizeof(err->message), fmt, ap);
	va_end(ap);
	return -1;
}
#define BAD(param, ...) bad(err, (param), NULL, __VA_ARGS__)
#define BAD_CODE(param, code, ...) bad(err, (param), (code), __VA_ARGS__)

/* An integer field in [lo, hi]; null leaves *out alone. 1 if set, 0 if null, -1 bad. */
static int get_int(json_t *v, const char *name, long long lo, long long hi, long long *out,
		   struct serve_error *err)
{
	if (json_is_null(v))
		return 0;
	if (!json_is_integer(v))
		return BAD(name, "'%s' must be an integer", name);
	if (json_integer_value(v) < lo || json_integer_value(v) > hi)
		return BAD(name, "'%s' must be in [%lld, %lld]", name, lo, hi);
	*out = json_integer_value(v);
	return 1;
}

static int get_num(json_t *v, const char *name, double lo, double hi, double *out,
		   struct serve_error *err)
{
	if (json_is_null(v))
		return 0;
	if (!json_is_number(v))
		return BAD(name, "'%s' must be a number", name);
	*out = json_number_value(v);
	if (!(*out >= lo && *out <= hi))
		return BAD(name, "'%s' must be in [%g, %g]", name, lo, hi);
	return 1;
}

static char *dup_string(json_t *v)
{
	return strndup(json_string_value(v), json_string_length(v));
}

static int parse_stop(json_t *v, struct serve_req *r, struct serve_error *err)
{
	size_t i;
	json_t *s;

	if (json_is_null(v))
		return 0;
	if (json_is_string(v)) {
		v = json_pack("[O]", v);
	} else if (json_is_array(v)) {
		json_incref(v);
	} else {
		return BAD("stop", "'stop' must be a string or an array of strings");
	}
	if (json_array_size(v) > SERVE_MAX_STOP) {
		json_decref(v);
		return BAD("stop", "'stop' takes at most %d strings", SERVE_MAX_STOP);
	}
	json_array_foreach(v, i, s) {
		if (!json_is_string(s) || !json_string_length(s) ||
		    json_string_length(s) > SERVE_STOP_MAX_LEN ||
		    strlen(json_string_value(s)) != json_string_length(s)) {
			json_decref(v);
			return BAD("stop", "each stop must be a non-empty string of at most %d "
				   "bytes", SERVE_STOP_MAX_LEN);
		}
		r->stop[r->n_stop++] = dup_string(s);
	}
	json_decref(v);
	return 0;
}

static int parse_ids(json_t *a, struct serve_req *r, struct serve_error *err)
{
	size_t i;
	json_t *x;

	r->prompt_ids = calloc(json_array_size(a) + 1, sizeof(*r->prompt_ids));
	if (!r->prompt_ids)
		return BAD("prompt", "out of memory");
	json_array_foreach(a, i, x) {
		if (!json_is_integer(x) || json_integer_value(x) < 0 ||
		    json_integer_value(x) > INT32_MAX)
			return BAD("prompt", "'prompt' token ids must be non-negative integers");
		r->prompt_ids[i] = (int32_t)json_integer_value(x);
	}
	r->n_prompt_ids = json_array_size(a);
	return 0;
}

/* A string, an array of one string, an array of ids, or an array of one array of ids. */
static int parse_prompt(json_t *v, struct serve_req *r, struct serve_error *err)
{
	json_t *first;

	if (!v)
		return BAD("prompt", "'prompt' is required");
	if (json_is_string(v)) {
		r->prompt_text = dup_string(v);
		return 0;
	}
	if (!json_is_array(v))
		return BAD("prompt", "'prompt' must be a string or an array");
	first = json_array_get(v, 0);
	if (json_is_string(first) || json_is_array(first)) {
		if (json_array_size(v) != 1)
			return BAD_CODE("prompt", "unsupported_value",
					"several prompts in one request are not supported (n = 1)");
		if (json_is_string(first)) {
			r->prompt_text = dup_string(first);
			return 0;
		}
		return parse_ids(first, r, err);
	}
	return parse_ids(v, r, err);
}

/* A message's content: a string, or text parts whose texts are joined. */
static int parse_content(json_t *c, size_t idx, char **out, struct serve_error *err)
{
	char name[64];
	size_t i, len = 0;
	json_t *part;
	char *s;

	snprintf(name, sizeof(name), "messages[%zu].content", idx);
	if (json_is_string(c)) {
		*out = dup_string(c);
		return 0;
	}
	if (!json_is_array(c))
		return BAD(name, "'%s' must be a string or an array of text parts", name);
	json_array_foreach(c, i, part) {
		json_t *t = json_object_get(part, "text");

		if (!json_is_object(part) || !json_is_string(json_object_get(part, "type")) ||
		    strcmp(json_string_value(json_object_get(part, "type")), "text") ||
		    !json_is_string(t) || json_object_size(part) != 2)
			return BAD_CODE(name, "unsupported_value",
					"'%s': only parts {\"type\": \"text\", \"text\": ...} are "
					"supported", name);
		len += json_string_length(t);
	}
	s = malloc(len + 1);
	if (!s)
		return BAD(name, "out of memory");
	len = 0;
	json_array_foreach(c, i, part) {
		json_t *t = json_object_get(part, "text");

		memcpy(s + len, json_string_value(t), json_string_length(t));
		len += json_string_length(t);
	}
	s[len] = 0;
	*out = s;
	return 0;
}

static int parse_messages(json_t *v, struct serve_req *r, struct serve_error *err)
{
	static const char *const roles[] = { "system", "user", "assistant" };
	size_t i;
	json_t *m;

	if (!v)
		return BAD("messages", "'messages' is required");
	if (!json_is_array(v) || !json_array_size(v))
		return BAD("messages", "'messages' must be a non-empty array");
	r->msgs = calloc(json_array_size(v), sizeof(*r->msgs));
	if (!r->msgs)
		return BAD("messages", "out of memory");
	json_array_foreach(v, i, m) {
		char name[64];
		const char *key, *role;
		json_t *x;
		unsigned k;

		snprintf(name, sizeof(name), "messages[%zu]", i);
		if (!json_is_object(m))
			return BAD(name, "'%s' must be an object", name);
		json_object_foreach(m, key, x) {
			if (strcmp(key, "role") && strcmp(key, "content") && strcmp(key, "name")) {
				snprintf(name, sizeof(name), "messages[%zu].%s", i, key);
				return BAD_CODE(name, "unsupported_parameter",
						"'%s' is not supported", name);
			}
		}
		x = json_object_get(m, "role");
		snprintf(name, sizeof(name), "messages[%zu].role", i);
		if (!json_is_string(x))
			return BAD(name, "'%s' must be a string", name);
		role = json_string_value(x);
		for (k = 0; k < 3 && strcmp(role, roles[k]); k++)
			;
		if (k == 3)
			return BAD_CODE(name, "unsupported_value", "'%s': role '%.32s' is not "
					"supported (system, user, assistant)", name, role);
		x = json_object_get(m, "name");
		if (x && !json_is_null(x)) {
			snprintf(name, sizeof(name), "messages[%zu].name", i);
			return BAD_CODE(name, "unsupported_parameter",
					"'%s': the chat format has no participant names", name);
		}
		r->msgs[i].role = roles[k];
		x = json_object_get(m, "content");
		if (!x) {
			snprintf(name, sizeof(name), "messages[%zu].content", i);
			return BAD(name, "'%s' is required", name);
		}
		if (parse_content(x, i, (char **)&r->msgs[i].content, err))
			return -1;
		r->n_msgs = i + 1;
	}
	return 0;
}

/* A field accepted only at its no-op value. */
static int noop_only(const char *key, json_t *v, struct serve_error *err)
{
	if (json_is_null(v))
		return 0;
	if (!strcmp(key, "logprobs") || !strcmp(key, "echo") ||
	    !strcmp(key, "parallel_tool_calls")) {
		if (json_is_false(v))
			return 0;
	} else if (!strcmp(key, "presence_penalty") || !strcmp(key, "frequency_penalty")) {
		if (json_is_number(v) && json_number_value(v) == 0)
			return 0;
	} else if (!strcmp(key, "best_of")) {
		if (json_is_integer(v) && json_integer_value(v) == 1)
			return 0;
	} else if (!strcmp(key, "logit_bias")) {
		if (json_is_object(v) && !json_object_size(v))
			return 0;
	} else if (!strcmp(key, "response_format")) {
		json_t *t = json_object_get(v, "type");

		if (json_is_object(v) && json_object_size(v) == 1 && json_is_string(t) &&
		    !strcmp(json_string_value(t), "text"))
			return 0;
	} else if (!strcmp(key, "user")) {
		/* an end-user id for abuse monitoring: nothing to do with the output */
		if (json_is_string(v))
			return 0;
		return BAD(key, "'user' must be a string");
	}
	return BAD_CODE(key, "unsupported_parameter", "'%s' is not supported by this server",
			key);
}

int serve_req_parse(const char *body, size_t len, int chat, struct serve_req *r,
		    struct serve_error *err)
{
	/* known to OpenAI, honoured only at their default (noop_only) or never */
	static const char *const noop[] = {
		"logprobs", "top_logprobs", "presence_penalty", "frequency_penalty", "logit_bias",
		"echo", "best_of", "suffix", "tools", "tool_choice", "functions",
		"function_call", "parallel_tool_calls", "response_format", "user", "modalities",
		"audio", "prediction", "store", "metadata", "service_tier", "reasoning_effort",
		NULL,
	};
	json_error_t jerr;
	json_t *root, *v;
	const char *key;
	long long iv;
	double dv;
	int rc = -1, have_max = 0;

	memset(r, 0, sizeof(*r));
	r->chat = chat;
	r->temperature = 1.0f;	/* OpenAI's default */
	root = json_loadb(body, len, JSON_REJECT_DUPLICATES, &jerr);
	if (!root)
		return BAD(NULL, "malformed JSON at line %d, column %d: %s", jerr.line,
			   jerr.column, jerr.text);
	if (!json_is_object(root)) {
		BAD(NULL, "the request body must be a JSON object");
		goto out;
	}
	json_object_foreach(root, key, v) {
		unsigned i;

		if (!strcmp(key, "model")) {
			if (!json_is_string(v)) {
				BAD("model", "'model' must be a string");
				goto out;
			}
			r->model = dup_string(v);
		} else if (!strcmp(key, "stream")) {
			if (!json_is_boolean(v) && !json_is_null(v)) {
				BAD("stream", "'stream' must be a boolean");
				goto out;
			}
			r->stream = json_is_true(v);
		} else if (!strcmp(key, "stream_options")) {
			json_t *u = json_object_get(v, "include_usage");

			if (json_is_null(v))
				continue;
			if (!json_is_object(v) || json_object_size(v) != (u ? 1u : 0u) ||
			    (u && !json_is_boolean(u))) {
				BAD("stream_options", "'stream_options' supports only "
				    "{\"include_usage\": boolean}");
				goto out;
			}
			r->include_usage = json_is_true(u);
		} else if (!strcmp(key, "max_tokens") ||
			   (chat && !strcmp(key, "max_completion_tokens"))) {
			iv = 0;
			switch (get_int(v, key, 1, UINT32_MAX, &iv, err)) {
			case -1: goto out;
			case 1:
				if (have_max && (uint32_t)iv != r->max_tokens) {
					BAD(key, "'max_tokens' and 'max_completion_tokens' differ");
					goto out;
				}
				r->max_tokens = (uint32_t)iv;
				have_max = 1;
			}
		} else if (!strcmp(key, "temperature")) {
			if (get_num(v, key, 0, 2, &dv, err) < 0)
				goto out;
			if (!json_is_null(v))
				r->temperature = (float)dv;
		} else if (!strcmp(key, "top_p")) {
			if (get_num(v, key, 0, 1, &dv, err) < 0)
				goto out;
			if (!json_is_null(v) && dv <= 0) {
				BAD(key, "'top_p' must be in (0, 1]");
				goto out;
			}
			if (!json_is_null(v))
				r->top_p = dv >= 1 ? 0 : (float)dv;
		} else if (!strcmp(key, "top_k")) {
			iv = 0;
			if (get_int(v, key, 0, INT32_MAX, &iv, err) < 0)
				goto out;
			r->top_k = (uint32_t)iv;
		} else if (!strcmp(key, "seed")) {
			iv = 0;
			switch (get_int(v, key, 0, INT64_MAX, &iv, err)) {
			case -1: goto out;
			case 1: r->seed = (uint64_t)iv; r->has_seed = 1;
			}
		} else if (!strcmp(key, "n")) {
			iv = 1;
			if (get_int(v, key, 1, INT32_MAX, &iv, err) < 0)
				goto out;
			if (iv != 1) {
				BAD_CODE("n", "unsupported_value", "only n = 1 is supported");
				goto out;
			}
		} else if (!strcmp(key, "stop")) {
			if (parse_stop(v, r, err))
				goto out;
		} else if (!chat && !strcmp(key, "prompt")) {
			if (parse_prompt(v, r, err))
				goto out;
		} else if (chat && !strcmp(key, "messages")) {
			if (parse_messages(v, r, err))
				goto out;
		} else {
			for (i = 0; noop[i] && strcmp(noop[i], key); i++)
				;
			if (!noop[i]) {
				BAD_CODE(key, "unsupported_parameter",
					 "Unrecognized request argument supplied: %.64s", key);
				goto out;
			}
			if (noop_only(key, v, err))
				goto out;
		}
	}
	if (!r->model) {
		BAD("model", "'model' is required");
		goto out;
	}
	if (r->include_usage && !r->stream) {
		BAD("stream_options", "'stream_options' is only allowed with 'stream': true");
		goto out;
	}
	if (!chat && !r->prompt_text && !r->prompt_ids)
		rc = parse_prompt(NULL, r, err);
	else if (chat && !r->msgs)
		rc = parse_messages(NULL, r, err);
	else
		rc = 0;
out:
	json_decref(root);
	return rc;
}

int serve_req_tokenize(struct serve_req *r, struct hc_card *card,
		       const struct hc_card_info *info, struct serve_error *err)
{
	const char *field = r->chat ? "messages" : "prompt";
	size_t cap = 64, need = 0, i;
	int rc = 0;

	if (r->prompt_ids) {
		for (i = 0; i < r->n_prompt_ids; i++)
			if ((uint32_t)r->prompt_ids[i] >= info->vocab_size)
				return BAD("prompt", "token id %d is not below the vocabulary size %u",
					   r->prompt_ids[i], info->vocab_size);
		r->ids = r->prompt_ids;
		r->n_ids = r->n_prompt_ids;
		r->prompt_ids = NULL;
	} else {
		if (r->prompt_text)
			cap += strlen(r->prompt_text);
		for (i = 0; i < r->n_msgs; i++)
			cap += strlen(r->msgs[i].content) + 16;
		for (int tries = 0; tries < 2; tries++) {
			free(r->ids);
			r->ids = malloc((cap + 1) * sizeof(*r->ids));
			if (!r->ids)
				return BAD(field, "out of memory");
			if (r->chat)
				rc = hc_chat_tokenize(card, r->msgs, r->n_msgs, 1, r->ids, cap, &need);
			else
				rc = hc_tokenize(card, r->prompt_text, strlen(r->prompt_text),
						 HC_TEXT_BOS | HC_TEXT_SPECIAL, r->ids, cap, &need);
			if (rc != -ENOSPC)
				break;
			cap = need;
		}
		if (rc == -EOPNOTSUPP)
			return BAD_CODE(field, "unsupported_value", "the model %s has %s",
					info->model_name, r->chat ? "no chat format" : "no tokenizer");
		if (rc)
			return BAD(field, "cannot tokenize '%s': %s", field, hc_strerror(rc));
		r->n_ids = need;
	}
	if (!r->n_ids) {
		int32_t bos = hc_token_bos(card);

		/* as hc-run: an empty prompt starts from BOS */
		if (bos < 0)
			return BAD(field, "empty prompt and the model has no BOS token");
		r->ids[r->n_ids++] = bos;
	}
	if (r->n_ids >= info->max_ctx)
		return BAD_CODE(field, "context_length_exceeded", "the prompt has %zu tokens; the "
				"card's context holds %u, generation included", r->n_ids,
				info->max_ctx);
	if (!r->max_tokens)
		r->max_tokens = info->max_ctx - (uint32_t)r->n_ids;
	else if (r->max_tokens > info->max_ctx - r->n_ids)
		return BAD_CODE(r->chat ? "max_completion_tokens" : "max_tokens",
				"context_length_exceeded", "prompt (%zu tokens) + max_tokens (%u) "
				"exceed the card's context of %u tokens", r->n_ids, r->max_tokens,
				info->max_ctx);
	if (!r->has_seed && r->temperature > 0 &&
	    getrandom(&r->seed, sizeof(r->seed), 0) != (ssize_t)sizeof(r->seed))
		r->seed = (uint64_t)(uintptr_t)r ^ (uint64_t)r->n_ids;
	if (!r->has_seed && r->temperature == 0)
		r->seed = 1;	/* unused by greedy decoding; hc-run's default */
	return 0;
}

void serve_req_free(struct serve_req *r)
{
	unsigned i;

	free(r->model);
	for (i = 0; i < r->n_stop; i++)
		free(r->stop[i]);
	free(r->prompt_text);
	free(r->prompt_ids);
	for (i = 0; i < r->n_msgs; i++)
		free((char *)r->msgs[i].content);
	free(r->msgs);
	free(r->ids);
	memset(r, 0, sizeof(*r));
}

/* ---- stop strings ---- */

void serve_stop_init(struct serve_stop_matcher *m, char *const *stop, unsigned n_stop)
{
	m->stop = stop;
	m->n_stop = n_stop;
	m->n_held = 0;
}

/* How many trailing bytes of @p could be the start of a stop string. */
static size_t partial_tail(const struct serve_stop_matcher *m, const char *p, size_t n)
{
	size_t best = 0;
	unsigned i;

	for (i = 0; i < m->n_stop; i++) {
		size_t sl = strlen(m->stop[i]), k = sl - 1 < n ? sl - 1 : n;

		for (; k > best; k--)
			if (!memcmp(p + n - k, m->stop[i], k)) {
				best = k;
				break;
			}
	}
	return best;
}

int serve_stop_feed(struct serve_stop_matcher *m, const char *text, size_t len,
		    void (*emit)(void *arg, const char *p, size_t n), void *arg)
{
	size_t first = SIZE_MAX, keep;
	unsigned i;

	if (!m->n_stop) {
		if (len)
			emit(arg, text, len);
		return 0;
	}
	/* held text is shorter than the longest stop; a piece is at most 256 bytes */
	if (m->n_held + len > sizeof(m->held)) {
		emit(arg, m->held, m->n_held);
		m->n_held = 0;
	}
	memcpy(m->held + m->n_held, text, len);
	m->n_held += len;
	for (i = 0; i < m->n_stop; i++) {
		const char *hit = memmem(m->held, m->n_held, m->stop[i], strlen(m->stop[i]));

		if (hit && (size_t)(hit - m->held) < first)
			first = (size_t)(hit - m->held);
	}
	if (first != SIZE_MAX) {
		if (first)
			emit(arg, m->held, first);
		m->n_held = 0;
		return 1;
	}
	keep = partial_tail(m, m->held, m->n_held);
	if (m->n_held > keep)
		emit(arg, m->held, m->n_held - keep);
	memmove(m->held, m->held + m->n_held - keep, keep);
	m->n_held = keep;
	return 0;
}

void serve_stop_flush(struct serve_stop_matcher *m,
		      void (*emit)(void *arg, const char *p, size_t n), void *arg)
{
	if (m->n_held)
		emit(arg, m->held, m->n_held);
	m->n_held = 0;
}
