/* SPDX-License-Identifier: MIT */
/*
 * hc-serve's metrics, rendered in the Prometheus text format by GET /metrics: requests by
 * endpoint and status, and per card tokens, contexts and two latency histograms (time to
 * first token, time between tokens).
 */
#ifndef HC_TOOLS_SERVE_METRICS_H
#define HC_TOOLS_SERVE_METRICS_H

#include <pthread.h>
#include <stdint.h>

#define SERVE_HIST_BUCKETS 12

struct serve_hist {
	uint64_t counts[SERVE_HIST_BUCKETS + 1];	/* the last one is +Inf */
	double sum;
	uint64_t count;
};

struct serve_card_metrics {
	uint64_t requests;		/* jobs the card finished (any outcome) */
	uint64_t prompt_tokens, completion_tokens;
	uint64_t cancelled;		/* clients that went away mid-decode */
	uint64_t card_full;		/* context creations refused: other programs held them all */
	struct serve_hist ttft;		/* submit -> first token, seconds */
	struct serve_hist itl;		/* between two tokens of one job, seconds */
};

enum serve_endpoint {
	EP_MODELS, EP_COMPLETIONS, EP_CHAT, EP_HEALTH, EP_METRICS, EP_OTHER, EP_COUNT
};

#define SERVE_STATUS_SLOTS 12		/* distinct status codes we count */

struct serve_metrics {
	pthread_mutex_t lock;		/* everything here and serve_card.m */
	struct {
		int code;
		uint64_t n;
	} requests[EP_COUNT][SERVE_STATUS_SLOTS];
	uint64_t rejected_queue_full;
};

extern const char *const serve_endpoint_names[EP_COUNT];

void serve_hist_add(struct serve_hist *h, const double *bounds, double v);
extern const double serve_ttft_bounds[SERVE_HIST_BUCKETS];
extern const double serve_itl_bounds[SERVE_HIST_BUCKETS];

struct serve_server;
void serve_metrics_count(struct serve_server *srv, enum serve_endpoint ep, int code);
/* The exposition text (malloc'd) or NULL. */
char *serve_metrics_render(struct serve_server *srv, size_t *len);

#endif
