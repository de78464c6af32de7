// SPDX-License-Identifier: MIT
/*
 * hc-serve's output: OpenAI completion and chat completion objects, whole (stream: false) or
 * as server-sent events (stream: true: one "data: {chunk}\n\n" per piece of text, a last
 * chunk with finish_reason, optionally a usage chunk, then "data: [DONE]\n\n"). Called from
 * the card thread (and, for errors before the decode starts, a prefill worker or the
 * scheduler); the bytes go to the connection through serve_job_publish().
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <jansson.h>
#include <microhttpd.h>
#include "serve.h"

void serve_job_publish(struct serve_job *j, const char *p, size_t n, int done, int status)
{
	struct MHD_Connection *resume = NULL;

	pthread_mutex_lock(&j->lock);
	if (!j->done) {
		if (n && serve_buf_add(&j->out, p, n)) {
			/* out of memory: end the reply rather than send a hole in it */
			done = 1;
		}
		if (done) {
			j->done = 1;
			if (status)
				j->status = status;
		}
	}
	/* MHD_resume_connection only on a connection we know is suspended (else undefined) */
	if (j->suspended && j->conn) {
		j->suspended = 0;
		resume = j->conn;
	}
	pthread_mutex_unlock(&j->lock);
	/* outside the lock: a suspended connection cannot end before it is resumed */
	if (resume)
		MHD_resume_connection(resume);
}

void serve_job_begin(struct serve_job *j)
{
	struct MHD_Connection *resume = NULL;

	pthread_mutex_lock(&j->lock);
	j->started = 1;
	if (j->suspended && j->conn) {
		j->suspended = 0;
		resume = j->conn;
	}
	pthread_mutex_unlock(&j->lock);
	if (resume)
		MHD_resume_connection(resume);
}

static json_t *base_object(struct serve_job *j, const char *object)
{
	return json_pack("{s:s, s:s, s:I, s:s}", "id", j->id, "object", object, "created",
			 (json_int_t)j->created, "model", j->card->info.model_name);
}

static json_t *usage(struct serve_job *j)
{
	return json_pack("{s:I, s:I, s:I}", "prompt_tokens", (json_int_t)j->req.n_ids,
			 "completion_tokens", (json_int_t)j->n_completion, "total_tokens",
			 (json_int_t)(j->req.n_ids + j->n_completion));
}

/* Send @o (stolen) as one event. */
static void send_event(struct serve_job *j, json_t *o, int done)
{
	char *s = o ? json_dumps(o, JSON_COMPACT) : NULL;
	struct serve_buf b = { 0 };

	json_decref(o);
	if (s) {
		serve_buf_add(&b, "data: ", 6);
		serve_buf_add(&b, s, strlen(s));
		serve_buf_add(&b, "\n\n", 2);
		free(s);
	}
	if (done)
		serve_buf_add(&b, "data: [DONE]\n\n", 14);
	serve_job_publish(j, b.data, b.len, done, 0);
	serve_buf_free(&b);
}

/* A streamed chunk: @text (may be NULL) and @finish (NULL: not the last). */
static json_t *chunk(struct serve_job *j, const char *text, size_t len, const char *finish)
{
	json_t *o, *choice, *t = text ? json_stringn(text, len) : NULL;

	if (j->req.chat) {
		json_t *delta = json_object();

		o = base_object(j, "chat.completion.chunk");
		if (!j->sent_role) {
			json_object_set_new(delta, "role", json_string("assistant"));
			j->sent_role = 1;
		}
		if (t)
			json_object_set_new(delta, "content", t);
		choice = json_pack("{s:i, s:o, s:n}", "index", 0, "delta", delta, "logprobs");
	} else {
		o = base_object(j, "text_completion");
		choice = json_pack("{s:i, s:o, s:n}", "index", 0, "text",
				   t ? t : json_string(""), "logprobs");
	}
	json_object_set_new(choice, "finish_reason", finish ? json_string(finish) : json_null());
	json_object_set_new(o, "choices", json_pack("[o]", choice));
	return o;
}

void serve_out_text(struct serve_job *j, const char *text, size_t len)
{
	if (!len)
		return;
	if (!j->req.stream) {
		serve_buf_add(&j->text, text, len);
		return;
	}
	send_event(j, chunk(j, text, len, NULL), 0);
}

void serve_out_finish(struct serve_job *j, const char *finish_reason)
{
	json_t *o, *choice, *t;
	char *s;

	if (j->req.stream) {
		o = chunk(j, NULL, 0, finish_reason);
		if (!j->req.include_usage) {
			send_event(j, o, 1);
			return;
		}
		send_event(j, o, 0);
		o = base_object(j, "chat.completion.chunk");
		if (!j->req.chat)
			json_object_set_new(o, "object", json_string("text_completion"));
		json_object_set_new(o, "choices", json_array());
		json_object_set_new(o, "usage", usage(j));
		send_event(j, o, 1);
		return;
	}
	t = json_stringn(j->text.data ? j->text.data : "", j->text.len);
	if (j->req.chat) {
		o = base_object(j, "chat.completion");
		choice = json_pack("{s:i, s:{s:s, s:o}, s:n, s:s}", "index", 0, "message", "role",
				   "assistant", "content", t ? t : json_string(""), "logprobs",
				   "finish_reason", finish_reason);
	} else {
		o = base_object(j, "text_completion");
		choice = json_pack("{s:i, s:o, s:n, s:s}", "index", 0, "text",
				   t ? t : json_string(""), "logprobs", "finish_reason",
				   finish_reason);
	}
	json_object_set_new(o, "choices", json_pack("[o]", choice));
	json_object_set_new(o, "usage", usage(j));
	s = json_dumps(o, JSON_COMPACT);
	json_decref(o);
	if (!s) {
		serve_out_fail(j, 500, "cannot format the response", "server_error");
		return;
	}
	serve_job_publish(j, s, strlen(s), 1, 200);
	free(s);
}

void serve_out_fail(struct serve_job *j, int status, const char *message, const char *code)
{
	struct serve_error e;
	char *s;
	int started;

	serve_error_set(&e, status, status >= 500 ? "server_error" : status == 429 ?
			"rate_limit_error" : "invalid_request_error", NULL, code, "%s", message);
	s = serve_error_json(&e);
	pthread_mutex_lock(&j->lock);
	started = j->started;
	pthread_mutex_unlock(&j->lock);
	if (j->req.stream && started) {
		/* the 200 and the event-stream headers are out: the error is the last event */
		struct serve_buf b = { 0 };

		serve_buf_add(&b, "data: ", 6);
		if (s)
			serve_buf_add(&b, s, strlen(s));
		serve_buf_add(&b, "\n\n", 2);
		serve_job_publish(j, b.data, b.len, 1, 0);
		serve_buf_free(&b);
	} else {
		serve_job_publish(j, s, s ? strlen(s) : 0, 1, status);
	}
	free(s);
}
