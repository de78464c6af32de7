// SPDX-License-Identifier: MIT
/*
 * hc-serve's HTTP side, on libmicrohttpd: one internal polling thread (epoll where available)
 * for every connection, none per connection. A generation never blocks it: the connection is
 * suspended while its job waits for a context, its prefill or tokens and resumed by the card's
 * threads when there is something to send (serve_job_begin, serve_job_publish), so a slow or
 * stuck request stalls nobody else.
 *
 * Routes: GET /v1/models, POST /v1/completions, POST /v1/chat/completions, GET /health,
 * GET /metrics. Errors are OpenAI error objects.
 */
#include <errno.h>
#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <jansson.h>
#include <microhttpd.h>
#include "serve.h"

/* The state of one request on a connection. */
struct conn {
	enum serve_endpoint ep;
	struct serve_buf body;
	struct serve_job *job;		/* a reference, dropped when the request completes */
	int too_large;			/* the body passed --max-body: answer 413 at its end */
};

static enum serve_endpoint route(const char *url)
{
	static const enum serve_endpoint eps[] = {
		EP_MODELS, EP_COMPLETIONS, EP_CHAT, EP_HEALTH, EP_METRICS,
	};
	unsigned i;

	for (i = 0; i < sizeof(eps) / sizeof(eps[0]); i++)
		if (!strcmp(url, serve_endpoint_names[eps[i]]))
			return eps[i];
	return EP_OTHER;
}

static enum MHD_Result reply(struct serve_server *srv, struct MHD_Connection *c,
			     enum serve_endpoint ep, int status, const char *type, const char *body,
			     size_t len, const char *retry_after)
{
	struct MHD_Response *r;
	enum MHD_Result ret;

	r = MHD_create_response_from_buffer(len, (void *)body, MHD_RESPMEM_MUST_COPY);
	if (!r)
		return MHD_NO;
	MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, type);
	if (retry_after)
		MHD_add_response_header(r, MHD_HTTP_HEADER_RETRY_AFTER, retry_after);
	if (status == 401)
		MHD_add_response_header(r, MHD_HTTP_HEADER_WWW_AUTHENTICATE, "Bearer");
	ret = MHD_queue_response(c, (unsigned)status, r);
	MHD_destroy_response(r);
	serve_metrics_count(srv, ep, status);
	return ret;
}

static enum MHD_Result reply_json(struct serve_server *srv, struct MHD_Connection *c,
				  enum serve_endpoint ep, int status, json_t *o)
{
	char *s = json_dumps(o, JSON_COMPACT);
	enum MHD_Result ret;

	json_decref(o);
	if (!s)
		return MHD_NO;
	ret = reply(srv, c, ep, status, "application/json", s, strlen(s), NULL);
	free(s);
	return ret;
}

static enum MHD_Result reply_error(struct serve_server *srv, struct MHD_Connection *c,
				   enum serve_endpoint ep, const struct serve_error *e)
{
	char *s = serve_error_json(e);
	enum MHD_Result ret;

	if (!s)
		return MHD_NO;
	ret = reply(srv, c, ep, e->status, "application/json", s, strlen(s),
		    e->status == 429 || e->status == 503 ? "1" : NULL);
	free(s);
	return ret;
}

static enum MHD_Result fail(struct serve_server *srv, struct MHD_Connection *c,
			    enum serve_endpoint ep, int status, const char *type, const char *code,
			    const char *msg)
{
	struct serve_error e;

	serve_error_set(&e, status, type, NULL, code, "%s", msg);
	return reply_error(srv, c, ep, &e);
}

/* Compare the whole key whatever the input, so the time taken says nothing about it. */
static int key_ok(const struct serve_server *srv, const char *auth)
{
	const char *key = srv->cfg.api_key;
	size_t n = srv->cfg.api_key_len, len, i;
	unsigned char diff = 0;

	if (!auth || strncmp(auth, "Bearer ", 7))
		return 0;
	auth += 7;
	len = strlen(auth);
	diff |= len != n;
	for (i = 0; i < n; i++)
		diff |= (unsigned char)key[i] ^ (unsigned char)(i < len ? auth[i] : 0);
	return diff == 0;
}

static enum MHD_Result models(struct serve_server *srv, struct MHD_Connection *c)
{
	json_t *data = json_array();
	unsigned i, k;

	for (i = 0; i < srv->n_cards; i++) {
		const struct serve_card *card = &srv->cards[i];
		json_t *m = NULL, *cards;

		for (k = 0; k < json_array_size(data); k++) {
			json_t *x = json_array_get(data, k);

			if (!strcmp(json_string_value(json_object_get(x, "id")),
				    card->info.model_name))
				m = x;
		}
		if (!m) {
			m = json_pack("{s:s, s:s, s:i, s:s, s:s, s:i, s:[]}", "id",
				      card->info.model_name, "object", "model", "created", 0,
				      "owned_by", "hc", "identity", card->identity_hex,
				      "max_context", (int)card->info.max_ctx, "cards");
			json_array_append_new(data, m);
		}
		cards = json_object_get(m, "cards");
		json_array_append_new(cards, json_pack("{s:i, s:s, s:i}", "index", (int)i,
						       "identity", card->identity_hex, "contexts",
						       (int)card->capacity));
	}
	return reply_json(srv, c, EP_MODELS, 200,
			  json_pack("{s:s, s:o}", "object", "list", "data", data));
}

/* 200 while a request would be taken now or queued; 503 when full or stopping, so a load
 * balancer checking /health sends traffic elsewhere. */
static enum MHD_Result health(struct serve_server *srv, struct MHD_Connection *c)
{
	uint32_t free_ctx = 0, queue;
	int stopping;
	unsigned i;

	pthread_mutex_lock(&srv->lock);
	for (i = 0; i < srv->n_cards; i++)	/* a full card's free ones are other programs' */
		if (!srv->cards[i].full)
			free_ctx += srv->cards[i].capacity - srv->cards[i].active;
	queue = srv->queue_len;
	stopping = srv->stopping;
	pthread_mutex_unlock(&srv->lock);
	if (stopping)
		return reply_json(srv, c, EP_HEALTH, 503, json_pack("{s:s}", "status", "stopping"));
	return reply_json(srv, c, EP_HEALTH, free_ctx || queue < srv->cfg.max_queue ? 200 : 503,
			  json_pack("{s:s, s:i, s:i, s:i, s:i}", "status",
				    free_ctx || queue < srv->cfg.max_queue ? "ok" : "full", "cards",
				    (int)srv->n_cards, "contexts_free", (int)free_ctx, "queue",
				    (int)queue, "max_queue", (int)srv->cfg.max_queue));
}

static enum MHD_Result metrics(struct serve_server *srv, struct MHD_Connection *c)
{
	size_t len = 0;
	char *s = serve_metrics_render(srv, &len);
	enum MHD_Result ret;

	if (!s)
		return MHD_NO;
	ret = reply(srv, c, EP_METRICS, 200, "text/plain; version=0.0.4", s, len, NULL);
	free(s);
	return ret;
}

/* The event stream: what the card thread published; suspend when there is nothing yet. */
static ssize_t sse_read(void *cls, uint64_t pos, char *buf, size_t max)
{
	struct serve_job *j = cls;
	size_t n;

	pthread_mutex_lock(&j->lock);
	n = j->out.len - j->out_off;
	if (n) {
		if (n > max)
			n = max;
		memcpy(buf, j->out.data + j->out_off, n);
		j->out_off += n;
		if (j->out_off == j->out.len)
			j->out.len = j->out_off = 0;
		pthread_mutex_unlock(&j->lock);
		return (ssize_t)n;
	}
	if (j->done || !j->conn) {
		pthread_mutex_unlock(&j->lock);
		return j->done ? MHD_CONTENT_READER_END_OF_STREAM
			       : MHD_CONTENT_READER_END_WITH_ERROR;
	}
	/* under the lock, so the card thread's resume comes after this suspend */
	MHD_suspend_connection(j->conn);
	j->suspended = 1;
	pthread_mutex_unlock(&j->lock);
	return 0;
}

static void sse_free(void *cls)
{
	serve_job_put(cls);
}

/* A decoding stream: 200 and the event stream, read from the job as it grows. */
static enum MHD_Result sse_reply(struct serve_server *srv, struct MHD_Connection *c,
				 struct conn *k)
{
	struct serve_job *j = k->job;
	struct MHD_Response *r;
	enum MHD_Result ret;

	pthread_mutex_lock(&j->lock);
	j->refs++;	/* the response's */
	pthread_mutex_unlock(&j->lock);
	r = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 4096, sse_read, j, sse_free);
	if (!r) {
		serve_job_put(j);
		return MHD_NO;
	}
	MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, "text/event-stream");
	MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-cache");
	/* nginx: do not buffer the events */
	MHD_add_response_header(r, "X-Accel-Buffering", "no");
	ret = MHD_queue_response(c, MHD_HTTP_OK, r);
	MHD_destroy_response(r);
	serve_metrics_count(srv, k->ep, 200);
	return ret;
}

/* A job's reply. A stream gets its 200 once it decodes, so a request that fails before (no
 * context, a failed prefill) gets a real status code, not a 200 and an error event; a
 * non-streaming job gets its answer when done. Until then the connection waits, suspended. */
static enum MHD_Result job_reply(struct serve_server *srv, struct MHD_Connection *c,
				 struct conn *k)
{
	struct serve_job *j = k->job;
	enum MHD_Result ret;
	int stream;

	pthread_mutex_lock(&j->lock);
	stream = j->req.stream && j->started;
	if (!j->done && !stream) {
		MHD_suspend_connection(c);
		j->suspended = 1;
		pthread_mutex_unlock(&j->lock);
		return MHD_YES;
	}
	pthread_mutex_unlock(&j->lock);
	if (stream)
		return sse_reply(srv, c, k);
	/* done: nothing more is written to it */
	ret = reply(srv, c, k->ep, j->status, "application/json", j->out.data ? j->out.data : "",
		    j->out.len, j->status == 503 || j->status == 429 ? "1" : NULL);
	return ret;
}

static enum MHD_Result generate(struct serve_server *srv, struct MHD_Connection *c,
				struct conn *k)
{
	struct serve_error e = { 0 };
	struct serve_card *card;
	struct serve_job *j;
	int rc;

	j = serve_job_new(srv);
	if (!j)
		return MHD_NO;
	if (serve_req_parse(k->body.data ? k->body.data : "", k->body.len, k->ep == EP_CHAT,
			    &j->req, &e)) {
		serve_job_put(j);
		return reply_error(srv, c, k->ep, &e);
	}
	card = serve_card_for_model(srv, j->req.model);
	if (!card) {
		serve_error_set(&e, 404, "invalid_request_error", "model", "model_not_found",
				"The model '%.64s' does not exist (GET /v1/models lists them)",
				j->req.model);
		serve_job_put(j);
		return reply_error(srv, c, k->ep, &e);
	}
	if (serve_req_tokenize(&j->req, card->card, &card->info, &e)) {
		serve_job_put(j);
		return reply_error(srv, c, k->ep, &e);
	}
	j->conn = c;
	rc = serve_sched_submit(srv, j);
	if (rc) {
		serve_job_put(j);
		if (rc == -EAGAIN)
			return fail(srv, c, k->ep, 429, "rate_limit_error", "queue_full",
				    "every context is busy and the queue is full; retry later");
		return fail(srv, c, k->ep, 503, "server_error", "shutting_down",
			    "the server is shutting down");
	}
	k->job = j;
	return job_reply(srv, c, k);
}

static enum MHD_Result handle(void *cls, struct MHD_Connection *c, const char *url,
			      const char *method, const char *version, const char *upload,
			      size_t *upload_size, void **con_cls)
{
	struct serve_server *srv = cls;
	struct conn *k = *con_cls;
	int post = !strcmp(method, MHD_HTTP_METHOD_POST);
	int get = !strcmp(method, MHD_HTTP_METHOD_GET);

	if (!k) {
		const char *cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND,
							     MHD_HTTP_HEADER_CONTENT_LENGTH);

		k = calloc(1, sizeof(*k));
		if (!k)
			return MHD_NO;
		k->ep = route(url);
		*con_cls = k;
		/* answered before the body is read (MHD then skips it and closes) */
		if (k->ep == EP_OTHER)
			return fail(srv, c, k->ep, 404, "invalid_request_error", "not_found",
				    "no such endpoint");
		if (srv->cfg.api_key && k->ep != EP_HEALTH && k->ep != EP_METRICS &&
		    !key_ok(srv, MHD_lookup_connection_value(c, MHD_HEADER_KIND,
							     MHD_HTTP_HEADER_AUTHORIZATION)))
			return fail(srv, c, k->ep, 401, "invalid_request_error", "invalid_api_key",
				    "missing or wrong API key (Authorization: Bearer KEY)");
		if (cl && strtoull(cl, NULL, 10) > srv->cfg.max_body)
			return fail(srv, c, k->ep, 413, "invalid_request_error",
				    "request_too_large", "the request body is too large");
		return MHD_YES;
	}
	if (*upload_size) {
		/* chunked bodies have no Content-Length: the limit is checked as they come,
		 * and the rest is read and dropped (MHD answers only once the body is in) */
		if (k->body.len + *upload_size > srv->cfg.max_body) {
			k->too_large = 1;
			serve_buf_free(&k->body);
		}
		if (!k->too_large && serve_buf_add(&k->body, upload, *upload_size))
			return MHD_NO;
		*upload_size = 0;
		return MHD_YES;
	}
	if (k->too_large)
		return fail(srv, c, k->ep, 413, "invalid_request_error", "request_too_large",
			    "the request body is too large");
	if (k->job)
		return job_reply(srv, c, k);
	switch (k->ep) {
	case EP_MODELS:
	case EP_HEALTH:
	case EP_METRICS:
		if (!get)
			break;
		return k->ep == EP_MODELS ? models(srv, c) : k->ep == EP_HEALTH ? health(srv, c)
										 : metrics(srv, c);
	case EP_COMPLETIONS:
	case EP_CHAT:
		if (!post)
			break;
		return generate(srv, c, k);
	default:
		break;
	}
	return fail(srv, c, k->ep, 405, "invalid_request_error", "method_not_allowed",
		    "method not allowed on this endpoint");
}

/* The request is over (answered, or the client went away): a running job is cancelled. */
static void completed(void *cls, struct MHD_Connection *c, void **con_cls,
		      enum MHD_RequestTerminationCode toe)
{
	struct conn *k = *con_cls;
	int abandon = 0;

	if (!k)
		return;
	if (k->job) {
		pthread_mutex_lock(&k->job->lock);
		abandon = !k->job->done;
		k->job->conn = NULL;
		pthread_mutex_unlock(&k->job->lock);
		if (abandon)
			serve_sched_abandon(k->job);
		serve_job_put(k->job);
	}
	serve_buf_free(&k->body);
	free(k);
	*con_cls = NULL;
}

static int parse_listen(const char *s, struct sockaddr_storage *ss, char *err, size_t errlen)
{
	char host[256];
	const char *colon = strrchr(s, ':');
	struct addrinfo hints = { .ai_flags = AI_NUMERICHOST | AI_NUMERICSERV }, *ai;
	size_t hl;
	int rc;

	if (!colon || !colon[1] || (size_t)(colon - s) >= sizeof(host)) {
		snprintf(err, errlen, "--listen %s: expected ADDR:PORT", s);
		return -EINVAL;
	}
	hl = (size_t)(colon - s);
	if (hl >= 2 && s[0] == '[' && s[hl - 1] == ']') {
		memcpy(host, s + 1, hl - 2);
		host[hl - 2] = 0;
	} else {
		memcpy(host, s, hl);
		host[hl] = 0;
	}
	rc = getaddrinfo(host, colon + 1, &hints, &ai);
	if (rc) {
		snprintf(err, errlen, "--listen %s: %s (numeric ADDR:PORT expected)", s,
			 gai_strerror(rc));
		return -EINVAL;
	}
	memcpy(ss, ai->ai_addr, ai->ai_addrlen);
	freeaddrinfo(ai);
	return 0;
}

int serve_http_start(struct serve_server *srv, char *err, size_t errlen)
{
	struct sockaddr_storage ss = { 0 };
	const union MHD_DaemonInfo *info;
	unsigned flags = MHD_USE_AUTO_INTERNAL_THREAD | MHD_ALLOW_SUSPEND_RESUME;
	int rc;

	rc = parse_listen(srv->cfg.listen, &ss, err, errlen);
	if (rc)
		return rc;
	if (ss.ss_family == AF_INET6)
		flags |= MHD_USE_IPv6;
	srv->httpd = MHD_start_daemon(flags, 0, NULL, NULL, handle, srv,
				      MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss,
				      MHD_OPTION_NOTIFY_COMPLETED, completed, srv,
				      MHD_OPTION_CONNECTION_LIMIT, srv->cfg.max_connections,
				      MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)120,
				      MHD_OPTION_END);
	if (!srv->httpd) {
		snprintf(err, errlen, "cannot listen on %s (address in use or not local?)",
			 srv->cfg.listen);
		return -EADDRINUSE;
	}
	info = MHD_get_daemon_info(srv->httpd, MHD_DAEMON_INFO_BIND_PORT);
	srv->port = info ? info->port : 0;
	return 0;
}

void serve_http_stop(struct serve_server *srv)
{
	if (srv->httpd)
		MHD_stop_daemon(srv->httpd);
	srv->httpd = NULL;
}
