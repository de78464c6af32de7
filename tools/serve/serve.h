/* SPDX-License-Identifier: MIT */
/*
 * hc-serve: the objects every part of the server shares (docs/hc-serve.md).
 *
 * One struct serve_server owns everything: the cards (one libhc handle, one decode thread, a
 * few prefill workers and a closer thread each), the bounded queue of requests waiting for a context, the
 * metrics and the HTTP daemon. A request becomes a struct serve_job, shared by the HTTP side (the connection that
 * sends its output) and the card thread that decodes it; a reference count frees it when
 * both are done with it. There is no global mutable state.
 */
#ifndef HC_TOOLS_SERVE_H
#define HC_TOOLS_SERVE_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include "hc/hc.h"
#include "serve_metrics.h"
#include "serve_request.h"

#define SERVE_MAX_CARDS 16
/* Prefill workers per card: they create contexts and prefill prompts (synchronous libhc calls
 * that can take seconds), so the card thread never waits for one. */
#define SERVE_CARD_WORKERS 4

struct MHD_Daemon;
struct MHD_Connection;
struct serve_job;

/* A growable byte buffer. */
struct serve_buf {
	char *data;
	size_t len, cap;
};
int serve_buf_add(struct serve_buf *b, const void *p, size_t n);
void serve_buf_free(struct serve_buf *b);

struct serve_card {
	struct serve_server *srv;
	unsigned index;
	char uri[HC_URI_MAX];
	struct hc_card *card;
	struct hc_card_info info;
	char identity_hex[65];
	int32_t stop_ids[HC_MAX_STOP_IDS];
	uint32_t n_stop;
	uint32_t capacity;		/* contexts this server may hold on the card */
	pthread_t thread;
	int thread_started;
	int wake_fd;			/* eventfd: decoding jobs or a cancel for the card thread */
	pthread_t workers[SERVE_CARD_WORKERS];
	unsigned n_workers;		/* prefill workers started */
	pthread_cond_t work;		/* (with srv->lock) the inbox has a job, or stopping */
	pthread_t closer;		/* destroys the contexts of ended jobs, releases their slots */
	int closer_started;
	pthread_cond_t close_cond;	/* (with srv->lock) closing has a job, or closer_stop */
	/* under srv->lock */
	uint32_t active;		/* jobs assigned to the card (each holds or will hold a context) */
	uint32_t prefilling;		/* jobs a worker is creating a context for or prefilling */
	struct serve_job *inbox, **inbox_tail;	/* assigned, waiting for a prefill worker */
	struct serve_job *ready, **ready_tail;	/* prefilled and decoding, for the card thread */
	struct serve_job *closing, **closing_tail;	/* ended, for the closer */
	int closer_stop;		/* the card thread has ended: the closer may end */
	int full;			/* a context creation found every context of the card taken
					 * (by other programs): queue new jobs, retry on a timer */
	double retry_at;		/* when the card thread next retries a full card */
	int workers_done;		/* the workers have exited: the card thread may end */
	/* under srv->metrics.lock */
	struct serve_card_metrics m;
};

struct serve_config {
	const char *devices[SERVE_MAX_CARDS];
	unsigned n_devices;
	const char *listen;		/* ADDR:PORT */
	const char *port_file;		/* write the bound port here (for --listen ADDR:0) */
	char *api_key;			/* NULL: no authentication */
	size_t api_key_len;
	uint32_t max_queue;
	double queue_timeout;		/* seconds a request may wait for a context; 0: no bound */
	size_t max_body;
	unsigned max_connections;
};

struct serve_server {
	struct serve_config cfg;
	struct serve_card cards[SERVE_MAX_CARDS];
	unsigned n_cards;
	pthread_mutex_t lock;		/* the scheduler: cards' active/inbox, the queue */
	struct serve_job *queue, **queue_tail;
	uint32_t queue_len;
	int stopping;
	uint64_t next_id;		/* request ids (under lock) */
	struct serve_metrics metrics;
	struct MHD_Daemon *httpd;
	uint16_t port;
};

/* A request's life: queued -> assigned to a card -> running -> done. */
struct serve_job {
	pthread_mutex_t lock;		/* guards the fields marked (L) */
	int refs;			/* (L) */
	struct serve_server *srv;
	struct serve_req req;		/* the validated request, prompt tokenized */
	char id[48];			/* "cmpl-..." / "chatcmpl-..." */
	int64_t created;		/* unix seconds */
	double t_submit;		/* monotonic seconds, for time to first token */
	struct serve_card *card;	/* set when assigned */
	struct serve_job *next;		/* queue / inbox / the card thread's active list */

	/* a prefill worker's, then (once handed over through the card's ready list) the card
	 * thread's own state: one thread at a time, as libhc wants for a context */
	struct hc_ctx *ctx;
	struct hc_stream *stream;
	struct hc_text_stream *ts;
	struct serve_stop_matcher stopm;
	struct serve_buf text;		/* non-streaming: the completion's text so far */
	uint32_t n_completion;
	double t_last;			/* when the last token came */
	int sent_role;			/* chat stream: the first chunk carried the role */
	int cancel_sent;
	int started;			/* (L) decoding: a stream's 200 and events may go out */

	/* shared with the connection */
	struct serve_buf out;		/* (L) bytes ready for the client */
	size_t out_off;			/* (L) how much of out was sent */
	int status;			/* (L) HTTP status of a non-streaming reply */
	int done;			/* (L) nothing more will be added to out */
	int suspended;			/* (L) the connection waits for output */
	struct MHD_Connection *conn;	/* (L) NULL once the connection has ended */
	int cancelled;			/* (L) the client went away: stop decoding */
};

/* serve_sched.c: cards, the queue, the card threads. */
int serve_cards_open(struct serve_server *srv, char *err, size_t errlen);
/* Stop taking jobs, answer the queued ones, cancel the running ones, join the threads. */
void serve_cards_close(struct serve_server *srv);
/* Close the cards (after the HTTP daemon, which tokenizes with them, has stopped). */
void serve_cards_free(struct serve_server *srv);
/* The card that serves @model (name or identity hex), or NULL. */
struct serve_card *serve_card_for_model(struct serve_server *srv, const char *model);
struct serve_job *serve_job_new(struct serve_server *srv);
void serve_job_put(struct serve_job *j);
/* 0: running or queued; -EAGAIN the queue is full; -ESHUTDOWN the server is stopping. */
int serve_sched_submit(struct serve_server *srv, struct serve_job *j);
/* The client has gone: drop the job from the queue, or have its card stop decoding it. */
void serve_sched_abandon(struct serve_job *j);

/* serve_output.c: OpenAI response bodies and server-sent events, written into job->out. */
void serve_out_text(struct serve_job *j, const char *text, size_t len);
void serve_out_finish(struct serve_job *j, const char *finish_reason);
/* The job's answer is an error: a status and an error object, or (a stream that has started)
 * a last error event. */
void serve_out_fail(struct serve_job *j, int status, const char *message, const char *code);
/* The job is decoding: a stream's 200 and events may go out (wakes a waiting connection). */
void serve_job_begin(struct serve_job *j);
/* Append to out under the job's lock and wake a waiting connection. */
void serve_job_publish(struct serve_job *j, const char *p, size_t n, int done, int status);

/* serve_http.c: the HTTP daemon. */
int serve_http_start(struct serve_server *srv, char *err, size_t errlen);
void serve_http_stop(struct serve_server *srv);

double serve_now(void);

#endif
