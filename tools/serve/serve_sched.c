// SPDX-License-Identifier: MIT
/*
 * hc-serve's scheduler: which card runs a request, the bounded queue of requests waiting for a
 * context, and per card a few prefill workers and one decode thread.
 *
 * A job assigned to a card goes to its inbox; a prefill worker takes it, creates its context,
 * prefills the prompt and starts the decode (synchronous libhc calls: a long prompt takes
 * seconds), then hands context and stream to the card thread through the card's ready list and
 * an eventfd. libhc wants a context used by one thread at a time; the hand-off under srv->lock
 * is where it changes threads. The card thread sleeps in poll() on that eventfd and on its
 * streams' fds (hc_stream_fd), so tokens are forwarded as the card makes them, without a thread
 * per request or per connection, and no prefill ever holds them up. An ended job's context
 * goes to the card's closer thread (hc_ctx_destroy waits for the card too), which then
 * releases the slot. The card thread makes no libhc call that waits for the card.
 *
 * When the card has no free context although this server holds fewer than its capacity (other
 * programs hold the rest), the job goes back into the queue, in order of arrival, and the card
 * is marked full: the card thread retries it every CARD_RETRY_MS, and a context this server
 * frees is tried at once. A queued job that waits longer than --queue-timeout gets 429.
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/eventfd.h>
#include "serve.h"

/* hc_stream_fd() may share one fd between contexts (more contexts than queue pairs), and
 * then a wake-up can go to another stream's check; a bounded sleep covers that case. The
 * card thread's timers (retries, the queue bound) run at each wake-up. */
#define CARD_POLL_MS 20
#define CARD_MAX_POLL 256
/* How often a card whose contexts other programs hold is asked again for one. */
#define CARD_RETRY_MS 25

double serve_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

int serve_buf_add(struct serve_buf *b, const void *p, size_t n)
{
	if (b->len + n + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 256;
		char *d;

		while (cap < b->len + n + 1)
			cap *= 2;
		d = realloc(b->data, cap);
		if (!d)
			return -ENOMEM;
		b->data = d;
		b->cap = cap;
	}
	memcpy(b->data + b->len, p, n);
	b->len += n;
	b->data[b->len] = 0;
	return 0;
}

void serve_buf_free(struct serve_buf *b)
{
	free(b->data);
	memset(b, 0, sizeof(*b));
}

static void wake(struct serve_card *c)
{
	uint64_t one = 1;

	if (write(c->wake_fd, &one, sizeof(one)) < 0)
		return;	/* the counter is already non-zero: the thread will wake */
}

struct serve_job *serve_job_new(struct serve_server *srv)
{
	struct serve_job *j = calloc(1, sizeof(*j));

	if (!j)
		return NULL;
	pthread_mutex_init(&j->lock, NULL);
	j->refs = 1;
	j->srv = srv;
	j->status = 200;
	j->created = (int64_t)time(NULL);
	return j;
}

void serve_job_put(struct serve_job *j)
{
	int last;

	if (!j)
		return;
	pthread_mutex_lock(&j->lock);
	last = --j->refs == 0;
	pthread_mutex_unlock(&j->lock);
	if (!last)
		return;
	serve_req_free(&j->req);
	serve_buf_free(&j->out);
	serve_buf_free(&j->text);
	pthread_mutex_destroy(&j->lock);
	free(j);
}

static void job_get(struct serve_job *j)
{
	pthread_mutex_lock(&j->lock);
	j->refs++;
	pthread_mutex_unlock(&j->lock);
}

struct serve_card *serve_card_for_model(struct serve_server *srv, const char *model)
{
	unsigned i;

	for (i = 0; i < srv->n_cards; i++)
		if (!strcmp(srv->cards[i].info.model_name, model) ||
		    !strcmp(srv->cards[i].identity_hex, model))
			return &srv->cards[i];
	return NULL;
}

static int card_serves(const struct serve_card *c, const struct serve_job *j)
{
	return !strcmp(c->info.model_name, j->req.model) || !strcmp(c->identity_hex, j->req.model);
}

/* Under srv->lock: the least loaded card of @j's model with a free context, or NULL. */
static struct serve_card *pick_card(struct serve_server *srv, const struct serve_job *j)
{
	struct serve_card *best = NULL;
	unsigned i;

	for (i = 0; i < srv->n_cards; i++) {
		struct serve_card *c = &srv->cards[i];

		if (!card_serves(c, j) || c->active >= c->capacity || c->full)
			continue;
		/* compare active/capacity without division */
		if (!best || (uint64_t)c->active * best->capacity <
			     (uint64_t)best->active * c->capacity)
			best = c;
	}
	return best;
}

/* Under srv->lock: hand @j to @c's prefill workers. */
static void assign(struct serve_card *c, struct serve_job *j)
{
	c->active++;
	j->card = c;
	j->next = NULL;
	*c->inbox_tail = j;
	c->inbox_tail = &j->next;
	pthread_cond_signal(&c->work);
}

/* Under srv->lock: assign the first queued job @c serves; 0 if there is none. */
static int dispatch_one(struct serve_card *c)
{
	struct serve_server *srv = c->srv;
	struct serve_job **p;

	if (srv->stopping)
		return 0;
	for (p = &srv->queue; *p; p = &(*p)->next) {
		struct serve_job *q = *p;

		if (!card_serves(c, q))
			continue;
		*p = q->next;
		if (srv->queue_tail == &q->next)
			srv->queue_tail = p;
		srv->queue_len--;
		assign(c, q);
		return 1;
	}
	return 0;
}

/* Under srv->lock: put @j back into the queue in order of arrival (it keeps its place). */
static void requeue(struct serve_server *srv, struct serve_job *j)
{
	struct serve_job **p;

	for (p = &srv->queue; *p && (*p)->t_submit <= j->t_submit; p = &(*p)->next)
		;
	j->next = *p;
	*p = j;
	if (!j->next)
		srv->queue_tail = &j->next;
	srv->queue_len++;
}

int serve_sched_submit(struct serve_server *srv, struct serve_job *j)
{
	struct serve_card *c;
	int rc = 0;

	j->t_submit = serve_now();
	job_get(j);	/* the scheduler's reference, dropped when the job ends */
	pthread_mutex_lock(&srv->lock);
	j->srv = srv;
	snprintf(j->id, sizeof(j->id), "%s-%llx%04llx", j->req.chat ? "chatcmpl" : "cmpl",
		 (unsigned long long)j->created, (unsigned long long)++srv->next_id);
	if (srv->stopping) {
		rc = -ESHUTDOWN;
	} else if ((c = pick_card(srv, j))) {
		assign(c, j);
	} else if (srv->queue_len < srv->cfg.max_queue) {
		j->next = NULL;
		*srv->queue_tail = j;
		srv->queue_tail = &j->next;
		srv->queue_len++;
	} else {
		rc = -EAGAIN;
	}
	pthread_mutex_unlock(&srv->lock);
	if (rc)
		serve_job_put(j);
	return rc;
}

/* Under srv->lock: unlink @j from the queue; 1 if it was there. */
static int unqueue(struct serve_server *srv, struct serve_job *j)
{
	struct serve_job **p;

	for (p = &srv->queue; *p; p = &(*p)->next) {
		if (*p != j)
			continue;
		*p = j->next;
		if (srv->queue_tail == &j->next)
			srv->queue_tail = p;
		srv->queue_len--;
		return 1;
	}
	return 0;
}

void serve_sched_abandon(struct serve_job *j)
{
	struct serve_server *srv = j->srv;
	int queued;

	pthread_mutex_lock(&j->lock);
	j->cancelled = 1;
	j->conn = NULL;
	pthread_mutex_unlock(&j->lock);
	pthread_mutex_lock(&srv->lock);
	queued = unqueue(srv, j);
	if (!queued && j->card)
		wake(j->card);
	pthread_mutex_unlock(&srv->lock);
	if (queued)
		serve_job_put(j);
}

/* The card is done with @j: give the slot to the first queued job this card serves (also on a
 * full card: the context just freed is the one it tries). */
static void release(struct serve_card *c, struct serve_job *j)
{
	struct serve_server *srv = c->srv;

	pthread_mutex_lock(&srv->lock);
	c->active--;
	if (!dispatch_one(c))
		c->full = 0;	/* nobody waits: a new job tries the freed context itself */
	pthread_mutex_unlock(&srv->lock);
	serve_job_put(j);
}

/* ---- the card thread ---- */

static int job_cancelled(struct serve_job *j)
{
	int c;

	pthread_mutex_lock(&j->lock);
	c = j->cancelled;
	pthread_mutex_unlock(&j->lock);
	return c;
}

enum prep { PREP_FAILED, PREP_READY, PREP_FULL };

/* A prefill worker: create the job's context, prefill, start decoding. PREP_READY: decoding,
 * for the card thread; PREP_FULL: the card has no free context (other programs hold them);
 * PREP_FAILED: answered (or cancelled), for job_end. */
static enum prep job_prepare(struct serve_card *c, struct serve_job *j)
{
	struct serve_server *srv = c->srv;
	struct hc_decode_params p = { 0 };
	char buf[512];
	size_t i;
	int rc, stopping;

	if (job_cancelled(j))
		return PREP_FAILED;
	pthread_mutex_lock(&srv->lock);
	stopping = srv->stopping;
	pthread_mutex_unlock(&srv->lock);
	if (stopping) {
		serve_out_fail(j, 503, "the server is shutting down", "shutting_down");
		return PREP_FAILED;
	}
	rc = hc_ctx_create(c->card, &j->ctx);
	if (rc == -EBUSY)
		return PREP_FULL;
	if (rc) {
		serve_out_fail(j, 500, hc_strerror(rc), "card_error");
		return PREP_FAILED;
	}
	pthread_mutex_lock(&srv->lock);
	if (c->full) {
		/* contexts came back: the jobs queued behind the full card try them now (those
		 * that find none go back into the queue) */
		c->full = 0;
		while (c->active < c->capacity && dispatch_one(c))
			;
	}
	pthread_mutex_unlock(&srv->lock);
	rc = hc_ctx_prefill_tokens(j->ctx, j->req.ids, j->req.n_ids);
	if (rc) {
		serve_out_fail(j, 500, hc_strerror(rc), "card_error");
		return PREP_FAILED;
	}
	/* exactly hc-run's decode: the same parameters and the model's stop ids */
	p.max_tokens = j->req.max_tokens;
	p.temperature = j->req.temperature;
	p.top_p = j->req.top_p;
	p.top_k = j->req.top_k;
	p.seed = j->req.seed;
	p.n_stop = c->n_stop;
	memcpy(p.stop_ids, c->stop_ids, sizeof(p.stop_ids));
	rc = hc_ctx_decode(j->ctx, &p, &j->stream);
	if (rc) {
		serve_out_fail(j, rc == -ENOSPC ? 503 : 500, hc_strerror(rc), "card_error");
		return PREP_FAILED;
	}
	/* the decoder's state after the prompt (e.g. no leading space after BOS), as hc-run */
	rc = hc_text_stream_new(c->card, &j->ts);
	if (rc) {
		serve_out_fail(j, 500, hc_strerror(rc), "card_error");
		return PREP_FAILED;
	}
	for (i = 0; i < j->req.n_ids; i++)
		hc_text_stream_push(j->ts, j->req.ids[i], buf, sizeof(buf));
	hc_text_stream_flush(j->ts, buf, sizeof(buf));
	serve_stop_init(&j->stopm, j->req.stop, j->req.n_stop);
	return PREP_READY;
}

static void emit_text(void *arg, const char *p, size_t n)
{
	serve_out_text(arg, p, n);
}

/* One generated token; 1 if a stop string ended the output. */
static int job_token(struct serve_card *c, struct serve_job *j, uint32_t id)
{
	struct serve_metrics *m = &c->srv->metrics;
	double t = serve_now();
	char buf[512];
	int n;

	pthread_mutex_lock(&m->lock);
	if (!j->n_completion)
		serve_hist_add(&c->m.ttft, serve_ttft_bounds, t - j->t_submit);
	else
		serve_hist_add(&c->m.itl, serve_itl_bounds, t - j->t_last);
	c->m.completion_tokens++;
	pthread_mutex_unlock(&m->lock);
	j->t_last = t;
	j->n_completion++;
	n = hc_text_stream_push(j->ts, (int32_t)id, buf, sizeof(buf));
	return n > 0 && serve_stop_feed(&j->stopm, buf, (size_t)n, emit_text, j);
}

/* Give @j's context to the card's closer thread, which destroys it and releases the slot:
 * hc_ctx_destroy waits for the card (up to one of its scheduling turns, tens of ms while a
 * long prompt is prefilled), which the card thread must not. */
static void close_later(struct serve_card *c, struct serve_job *j)
{
	struct serve_server *srv = c->srv;

	pthread_mutex_lock(&srv->lock);
	j->next = NULL;
	*c->closing_tail = j;
	c->closing_tail = &j->next;
	pthread_cond_signal(&c->close_cond);
	pthread_mutex_unlock(&srv->lock);
}

static void *card_closer(void *arg)
{
	struct serve_card *c = arg;
	struct serve_server *srv = c->srv;
	struct serve_job *j;

	pthread_mutex_lock(&srv->lock);
	for (;;) {
		while (!c->closing && !c->closer_stop)
			pthread_cond_wait(&c->close_cond, &srv->lock);
		if (!c->closing)
			break;	/* stopping, and the card thread has ended: nothing more comes */
		j = c->closing;
		c->closing = j->next;
		if (!c->closing)
			c->closing_tail = &c->closing;
		pthread_mutex_unlock(&srv->lock);
		hc_stream_free(j->stream);
		hc_ctx_destroy(j->ctx);
		j->stream = NULL;
		j->ctx = NULL;
		release(c, j);
		pthread_mutex_lock(&srv->lock);
	}
	pthread_mutex_unlock(&srv->lock);
	return NULL;
}

/* Answer @j if it has not been answered yet, then have its context destroyed and its slot
 * released (@j is not the caller's any more). */
static void job_end(struct serve_card *c, struct serve_job *j, const char *finish,
		    int stop_hit)
{
	struct serve_metrics *m = &c->srv->metrics;
	int cancelled = job_cancelled(j);
	char buf[512];
	int n;

	if (finish && !cancelled) {
		/* after a stop string nothing more is sent; else the decoder's tail, then
		 * what the matcher held back */
		if (!stop_hit) {
			n = hc_text_stream_flush(j->ts, buf, sizeof(buf));
			if (n > 0 && serve_stop_feed(&j->stopm, buf, (size_t)n, emit_text, j))
				finish = "stop";
			else
				serve_stop_flush(&j->stopm, emit_text, j);
		}
		serve_out_finish(j, finish);
	}
	hc_text_stream_free(j->ts);
	j->ts = NULL;
	pthread_mutex_lock(&m->lock);
	c->m.requests++;
	c->m.prompt_tokens += j->req.n_ids;
	if (cancelled)
		c->m.cancelled++;
	pthread_mutex_unlock(&m->lock);
	if (cancelled) {
		/* nobody reads it, but end it so a late reader does not wait */
		serve_job_publish(j, NULL, 0, 1, 499);
	}
	/* the slot goes back to the card now, not when the connection is torn down */
	if (j->ctx)
		close_later(c, j);
	else
		release(c, j);
}

/* Forward what the stream has; 1 if the job has ended (and is the closer's now). */
static int job_pump(struct serve_card *c, struct serve_job *j)
{
	struct hc_stream_status st;
	const uint32_t *t;
	unsigned n, i;
	int r, stopped = 0;

	if (job_cancelled(j) && !j->cancel_sent) {
		hc_ctx_cancel(j->ctx);
		j->cancel_sent = 1;
	}
	while ((n = hc_stream_peek(j->stream, &t))) {
		for (i = 0; i < n && !stopped; i++)
			stopped = job_token(c, j, t[i]);
		hc_stream_advance(j->stream, n);
		if (stopped) {
			/* the stop string ended it: no more tokens are wanted */
			hc_ctx_cancel(j->ctx);
			job_end(c, j, "stop", 1);
			return 1;
		}
	}
	r = hc_stream_status(j->stream, &st);
	if (r < 0) {
		serve_out_fail(j, 500, hc_strerror(r), "card_error");
		job_end(c, j, NULL, 0);
		return 1;
	}
	if (!r)
		return 0;
	switch (st.state) {
	case HC_STREAM_DONE_STOP:
		job_end(c, j, "stop", 0);
		break;
	case HC_STREAM_DONE_MAX_TOKENS:
	case HC_STREAM_CONTEXT_FULL:
		job_end(c, j, "length", 0);
		break;
	case HC_STREAM_CANCELLED:
		job_end(c, j, NULL, 0);
		break;
	default:
		serve_out_fail(j, 500, hc_strerror(st.error), "card_error");
		job_end(c, j, NULL, 0);
	}
	return 1;
}

/* Under srv->lock: @j found every context of @c taken (by other programs). It goes to another
 * card of its model with room, or waits in the queue again, in order of arrival, while the
 * card is retried on a timer. 0, or the status to answer @j with instead (the queue is full,
 * the server stops, the client has gone). */
static int card_full(struct serve_card *c, struct serve_job *j)
{
	struct serve_server *srv = c->srv;
	struct serve_card *other;

	c->active--;
	c->full = 1;
	c->retry_at = serve_now() + CARD_RETRY_MS / 1000.0;
	if (srv->stopping)
		return 503;
	if (job_cancelled(j))
		return 499;
	other = pick_card(srv, j);	/* never @c: it is full now */
	if (other) {
		assign(other, j);
		return 0;
	}
	if (srv->queue_len >= srv->cfg.max_queue)
		return 429;
	requeue(srv, j);
	return 0;
}

static void *card_worker(void *arg)
{
	struct serve_card *c = arg;
	struct serve_server *srv = c->srv;
	struct serve_metrics *m = &srv->metrics;
	struct serve_job *j;
	enum prep r;
	int status;

	pthread_mutex_lock(&srv->lock);
	for (;;) {
		while (!c->inbox && !srv->stopping)
			pthread_cond_wait(&c->work, &srv->lock);
		if (!c->inbox)
			break;	/* stopping, and every assigned job was taken */
		j = c->inbox;
		c->inbox = j->next;
		if (!c->inbox)
			c->inbox_tail = &c->inbox;
		c->prefilling++;
		pthread_mutex_unlock(&srv->lock);

		r = job_prepare(c, j);
		if (r == PREP_READY)
			serve_job_begin(j);	/* before the hand-over: then j is the card's */

		pthread_mutex_lock(&srv->lock);
		c->prefilling--;
		if (r == PREP_READY) {
			j->next = NULL;
			*c->ready_tail = j;
			c->ready_tail = &j->next;
			wake(c);
		} else if (r == PREP_FULL) {
			status = card_full(c, j);
		} else {
			status = 0;
		}
		pthread_mutex_unlock(&srv->lock);
		if (r == PREP_FAILED) {
			job_end(c, j, NULL, 0);
		} else if (r == PREP_FULL) {
			pthread_mutex_lock(&m->lock);
			c->m.card_full++;
			pthread_mutex_unlock(&m->lock);
			if (status == 429)
				serve_out_fail(j, 429, "every context is busy and the queue is full; "
					       "retry later", "queue_full");
			else if (status == 503)
				serve_out_fail(j, 503, "the server is shutting down", "shutting_down");
			else if (status)
				serve_job_publish(j, NULL, 0, 1, 499);
			if (status)
				serve_job_put(j);	/* the scheduler's reference */
		}
		pthread_mutex_lock(&srv->lock);
	}
	pthread_mutex_unlock(&srv->lock);
	return NULL;
}

/* The card thread's timers, at each wake-up: retry a full card every CARD_RETRY_MS, answer
 * queued jobs of this card's model that waited --queue-timeout with 429. The poll timeout. */
static int card_timers(struct serve_card *c)
{
	struct serve_server *srv = c->srv;
	struct serve_job *expired = NULL, **p, *j;
	double now = serve_now(), bound = srv->cfg.queue_timeout;
	int timeout = CARD_POLL_MS;

	pthread_mutex_lock(&srv->lock);
	if (c->full && !srv->stopping) {
		if (now >= c->retry_at) {
			c->retry_at = now + CARD_RETRY_MS / 1000.0;
			/* one job tries; if it gets a context, the others follow (job_prepare) */
			if (c->active < c->capacity && !dispatch_one(c))
				c->full = 0;
		}
		if (c->retry_at - now < CARD_POLL_MS / 1000.0)
			timeout = (int)((c->retry_at - now) * 1000.0) + 1;
	}
	/* the queue is in order of arrival: the first job young enough ends the walk */
	for (p = &srv->queue; bound > 0 && *p && now - (*p)->t_submit >= bound;) {
		j = *p;
		if (!card_serves(c, j)) {
			p = &j->next;
			continue;
		}
		*p = j->next;
		if (srv->queue_tail == &j->next)
			srv->queue_tail = p;
		srv->queue_len--;
		j->next = expired;
		expired = j;
	}
	pthread_mutex_unlock(&srv->lock);
	while (expired) {
		j = expired;
		expired = j->next;
		serve_out_fail(j, 429, "no context became free within the queue's time bound "
			       "(--queue-timeout); retry later", "queue_timeout");
		serve_job_put(j);	/* the scheduler's reference */
	}
	return timeout < 0 ? 0 : timeout;
}

static void *card_thread(void *arg)
{
	struct serve_card *c = arg;
	struct serve_server *srv = c->srv;
	struct serve_job *active = NULL, *j, **p, *in, *next;
	struct pollfd fds[CARD_MAX_POLL + 1];
	uint64_t v;
	int stop, done, timeout;

	for (;;) {
		pthread_mutex_lock(&srv->lock);
		in = c->ready;
		c->ready = NULL;
		c->ready_tail = &c->ready;
		stop = srv->stopping;
		done = stop && c->workers_done;	/* no more jobs can come */
		pthread_mutex_unlock(&srv->lock);
		while (in) {
			j = in;
			in = in->next;
			j->next = active;
			active = j;
		}
		if (stop) {
			/* cancel what runs; the loop ends when the last job has ended */
			for (j = active; j; j = j->next) {
				pthread_mutex_lock(&j->lock);
				j->cancelled = 1;
				pthread_mutex_unlock(&j->lock);
			}
		}
		for (p = &active; *p;) {
			j = *p;
			next = j->next;	/* an ended job is the closer's: not to be read */
			if (job_pump(c, j))
				*p = next;
			else
				p = &j->next;
		}
		if (done && !active)
			break;
		timeout = card_timers(c);

		nfds_t n = 1;
		int ready = 0;

		fds[0] = (struct pollfd){ .fd = c->wake_fd, .events = POLLIN };
		for (j = active; j && !ready; j = j->next) {
			int r = hc_stream_rearm(j->stream);
			int fd = hc_stream_fd(j->stream);

			if (r != 0)
				ready = 1;	/* tokens, the end, or an error: pump again */
			else if (fd >= 0 && n <= CARD_MAX_POLL)
				fds[n++] = (struct pollfd){ .fd = fd, .events = POLLIN };
		}
		if (ready)
			continue;
		if (poll(fds, n, timeout) > 0 && (fds[0].revents & POLLIN) &&
		    read(c->wake_fd, &v, sizeof(v)) < 0)
			continue;
	}
	return NULL;
}

int serve_cards_open(struct serve_server *srv, char *err, size_t errlen)
{
	struct hc_device_desc found[SERVE_MAX_CARDS];
	const char *uris[SERVE_MAX_CARDS];
	size_t n = 0, i;
	int rc;

	if (srv->cfg.n_devices) {
		for (i = 0; i < srv->cfg.n_devices; i++)
			uris[i] = srv->cfg.devices[i];
		n = srv->cfg.n_devices;
	} else {
		rc = hc_list_devices(found, SERVE_MAX_CARDS, &n);
		if (rc && rc != -ENOSPC) {
			snprintf(err, errlen, "listing cards: %s", hc_strerror(rc));
			return rc;
		}
		if (n > SERVE_MAX_CARDS)
			n = SERVE_MAX_CARDS;
		for (i = 0; i < n; i++)
			uris[i] = found[i].uri;
		if (!n) {
			snprintf(err, errlen, "no card found ($HC_DEVICE, /dev/accel, hc-emud's "
				 "default socket); name one with -d");
			return -ENOENT;
		}
	}
	for (i = 0; i < n; i++) {
		struct serve_card *c = &srv->cards[i];

		c->srv = srv;
		c->index = (unsigned)i;
		c->wake_fd = -1;
		c->inbox_tail = &c->inbox;
		c->ready_tail = &c->ready;
		c->closing_tail = &c->closing;
		pthread_cond_init(&c->work, NULL);
		pthread_cond_init(&c->close_cond, NULL);
		snprintf(c->uri, sizeof(c->uri), "%s", uris[i]);
		srv->n_cards = (unsigned)i + 1;
		rc = hc_open(c->uri, &c->card);
		if (rc) {
			snprintf(err, errlen, "%s: %s", c->uri, hc_strerror(rc));
			return rc;
		}
		hc_card_info(c->card, &c->info);
		hc_identity_hex(c->info.identity, c->identity_hex);
		c->n_stop = hc_stop_ids(c->card, c->stop_ids, HC_MAX_STOP_IDS);
		c->capacity = c->info.n_contexts;
		if (c->capacity > CARD_MAX_POLL)
			c->capacity = CARD_MAX_POLL;
		c->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		if (c->wake_fd < 0) {
			snprintf(err, errlen, "eventfd: %s", strerror(errno));
			return -errno;
		}
		rc = pthread_create(&c->thread, NULL, card_thread, c);
		if (rc) {
			snprintf(err, errlen, "starting the card thread: %s", strerror(rc));
			return -rc;
		}
		c->thread_started = 1;
		rc = pthread_create(&c->closer, NULL, card_closer, c);
		if (rc) {
			snprintf(err, errlen, "starting the closer thread: %s", strerror(rc));
			return -rc;
		}
		c->closer_started = 1;
		while (c->n_workers < SERVE_CARD_WORKERS) {
			rc = pthread_create(&c->workers[c->n_workers], NULL, card_worker, c);
			if (rc) {
				snprintf(err, errlen, "starting a prefill worker: %s", strerror(rc));
				return -rc;
			}
			c->n_workers++;
		}
	}
	return 0;
}

void serve_cards_close(struct serve_server *srv)
{
	struct serve_job *q;
	unsigned i;

	pthread_mutex_lock(&srv->lock);
	srv->stopping = 1;
	q = srv->queue;
	srv->queue = NULL;
	srv->queue_tail = &srv->queue;
	srv->queue_len = 0;
	for (i = 0; i < srv->n_cards; i++) {
		pthread_cond_broadcast(&srv->cards[i].work);
		if (srv->cards[i].thread_started)
			wake(&srv->cards[i]);
	}
	pthread_mutex_unlock(&srv->lock);
	while (q) {
		struct serve_job *next = q->next;

		serve_out_fail(q, 503, "the server is shutting down", "shutting_down");
		serve_job_put(q);
		q = next;
	}
	/* the workers answer what is left in the inbox and finish the prefills they run (a
	 * prefill cannot be interrupted); then the card threads end what decodes */
	for (i = 0; i < srv->n_cards; i++) {
		struct serve_card *c = &srv->cards[i];

		while (c->n_workers)
			pthread_join(c->workers[--c->n_workers], NULL);
	}
	pthread_mutex_lock(&srv->lock);
	for (i = 0; i < srv->n_cards; i++) {
		srv->cards[i].workers_done = 1;
		if (srv->cards[i].thread_started)
			wake(&srv->cards[i]);
	}
	pthread_mutex_unlock(&srv->lock);
	for (i = 0; i < srv->n_cards; i++) {
		struct serve_card *c = &srv->cards[i];

		if (c->thread_started)
			pthread_join(c->thread, NULL);
		c->thread_started = 0;
	}
	/* last, the closer: it destroys the contexts of what the card threads ended */
	pthread_mutex_lock(&srv->lock);
	for (i = 0; i < srv->n_cards; i++) {
		srv->cards[i].closer_stop = 1;
		pthread_cond_signal(&srv->cards[i].close_cond);
	}
	pthread_mutex_unlock(&srv->lock);
	for (i = 0; i < srv->n_cards; i++) {
		struct serve_card *c = &srv->cards[i];

		if (c->closer_started)
			pthread_join(c->closer, NULL);
		c->closer_started = 0;
	}
}

void serve_cards_free(struct serve_server *srv)
{
	unsigned i;

	for (i = 0; i < srv->n_cards; i++) {
		struct serve_card *c = &srv->cards[i];

		if (c->wake_fd >= 0)
			close(c->wake_fd);
		c->wake_fd = -1;
		pthread_cond_destroy(&c->work);
		pthread_cond_destroy(&c->close_cond);
		hc_close(c->card);
		c->card = NULL;
	}
}
