// SPDX-License-Identifier: MIT
/* hc-serve's counters and histograms, and their Prometheus text exposition. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "serve.h"

const char *const serve_endpoint_names[EP_COUNT] = {
	[EP_MODELS] = "/v1/models", [EP_COMPLETIONS] = "/v1/completions",
	[EP_CHAT] = "/v1/chat/completions", [EP_HEALTH] = "/health", [EP_METRICS] = "/metrics",
	[EP_OTHER] = "other",
};

/* Seconds. The first token includes queueing and prefill; later ones are one decode step. */
const double serve_ttft_bounds[SERVE_HIST_BUCKETS] = {
	0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30,
};
const double serve_itl_bounds[SERVE_HIST_BUCKETS] = {
	0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5,
};

void serve_hist_add(struct serve_hist *h, const double *bounds, double v)
{
	unsigned i = 0;

	while (i < SERVE_HIST_BUCKETS && v > bounds[i])
		i++;
	h->counts[i]++;
	h->sum += v;
	h->count++;
}

void serve_metrics_count(struct serve_server *srv, enum serve_endpoint ep, int code)
{
	struct serve_metrics *m = &srv->metrics;
	unsigned i;

	pthread_mutex_lock(&m->lock);
	for (i = 0; i < SERVE_STATUS_SLOTS; i++) {
		if (m->requests[ep][i].code == code || !m->requests[ep][i].code) {
			m->requests[ep][i].code = code;
			m->requests[ep][i].n++;
			break;
		}
	}
	if (code == 429)
		m->rejected_queue_full++;
	pthread_mutex_unlock(&m->lock);
}

static void hist_out(struct serve_buf *b, const char *name, const char *labels,
		     const struct serve_hist *h, const double *bounds)
{
	char line[256];
	uint64_t cum = 0;
	unsigned i;
	int n;

	for (i = 0; i <= SERVE_HIST_BUCKETS; i++) {
		cum += h->counts[i];
		if (i < SERVE_HIST_BUCKETS)
			n = snprintf(line, sizeof(line), "%s_bucket{%s,le=\"%g\"} %llu\n", name,
				     labels, bounds[i], (unsigned long long)cum);
		else
			n = snprintf(line, sizeof(line), "%s_bucket{%s,le=\"+Inf\"} %llu\n", name,
				     labels, (unsigned long long)cum);
		serve_buf_add(b, line, (size_t)n);
	}
	n = snprintf(line, sizeof(line), "%s_sum{%s} %.6f\n%s_count{%s} %llu\n", name, labels,
		     h->sum, name, labels, (unsigned long long)h->count);
	serve_buf_add(b, line, (size_t)n);
}

#define OUT(...)                                                          \
	do {                                                              \
		int n_ = snprintf(line, sizeof(line), __VA_ARGS__);       \
		serve_buf_add(&b, line, n_ > 0 ? (size_t)n_ : 0);         \
	} while (0)

char *serve_metrics_render(struct serve_server *srv, size_t *len)
{
	struct serve_metrics *m = &srv->metrics;
	struct serve_buf b = { 0 };
	uint32_t active[SERVE_MAX_CARDS], prefilling[SERVE_MAX_CARDS], queue_len;
	char line[2048], labels[160];
	unsigned c, e, i;

	pthread_mutex_lock(&srv->lock);
	for (c = 0; c < srv->n_cards; c++) {
		active[c] = srv->cards[c].active;
		prefilling[c] = srv->cards[c].prefilling;
	}
	queue_len = srv->queue_len;
	pthread_mutex_unlock(&srv->lock);

	pthread_mutex_lock(&m->lock);
	OUT("# HELP hc_serve_requests_total HTTP requests answered, by endpoint and status.\n"
	    "# TYPE hc_serve_requests_total counter\n");
	for (e = 0; e < EP_COUNT; e++)
		for (i = 0; i < SERVE_STATUS_SLOTS && m->requests[e][i].code; i++)
			OUT("hc_serve_requests_total{endpoint=\"%s\",code=\"%d\"} %llu\n",
			    serve_endpoint_names[e], m->requests[e][i].code,
			    (unsigned long long)m->requests[e][i].n);
	OUT("# HELP hc_serve_queue_depth Requests waiting for a free context.\n"
	    "# TYPE hc_serve_queue_depth gauge\nhc_serve_queue_depth %u\n"
	    "# HELP hc_serve_queue_limit The --max-queue bound.\n"
	    "# TYPE hc_serve_queue_limit gauge\nhc_serve_queue_limit %u\n"
	    "# HELP hc_serve_queue_rejected_total Requests refused with 429.\n"
	    "# TYPE hc_serve_queue_rejected_total counter\nhc_serve_queue_rejected_total %llu\n",
	    queue_len, srv->cfg.max_queue, (unsigned long long)m->rejected_queue_full);
	OUT("# HELP hc_serve_card_requests_total Generations a card finished.\n"
	    "# TYPE hc_serve_card_requests_total counter\n"
	    "# HELP hc_serve_card_cancelled_total Generations stopped because the client left.\n"
	    "# TYPE hc_serve_card_cancelled_total counter\n"
	    "# HELP hc_serve_prompt_tokens_total Prompt tokens prefilled.\n"
	    "# TYPE hc_serve_prompt_tokens_total counter\n"
	    "# HELP hc_serve_completion_tokens_total Tokens generated.\n"
	    "# TYPE hc_serve_completion_tokens_total counter\n"
	    "# HELP hc_serve_contexts_active Contexts this server holds on the card.\n"
	    "# TYPE hc_serve_contexts_active gauge\n"
	    "# HELP hc_serve_contexts_capacity Contexts this server may hold on the card.\n"
	    "# TYPE hc_serve_contexts_capacity gauge\n"
	    "# HELP hc_serve_contexts_prefilling Requests whose context is being created or "
	    "prompt prefilled.\n"
	    "# TYPE hc_serve_contexts_prefilling gauge\n"
	    "# HELP hc_serve_card_full_total Context creations the card refused because other "
	    "programs held its contexts (the request waits in the queue).\n"
	    "# TYPE hc_serve_card_full_total counter\n");
	for (c = 0; c < srv->n_cards; c++) {
		const struct serve_card *k = &srv->cards[c];

		snprintf(labels, sizeof(labels), "card=\"%u\",model=\"%s\"", c, k->info.model_name);
		OUT("hc_serve_card_requests_total{%s} %llu\n", labels,
		    (unsigned long long)k->m.requests);
		OUT("hc_serve_card_cancelled_total{%s} %llu\n", labels,
		    (unsigned long long)k->m.cancelled);
		OUT("hc_serve_prompt_tokens_total{%s} %llu\n", labels,
		    (unsigned long long)k->m.prompt_tokens);
		OUT("hc_serve_completion_tokens_total{%s} %llu\n", labels,
		    (unsigned long long)k->m.completion_tokens);
		OUT("hc_serve_contexts_active{%s} %u\n", labels, active[c]);
		OUT("hc_serve_contexts_capacity{%s} %u\n", labels, k->capacity);
		OUT("hc_serve_contexts_prefilling{%s} %u\n", labels, prefilling[c]);
		OUT("hc_serve_card_full_total{%s} %llu\n", labels,
		    (unsigned long long)k->m.card_full);
	}
	OUT("# HELP hc_serve_time_to_first_token_seconds From accepting a request to its first "
	    "token (queue and prefill included).\n"
	    "# TYPE hc_serve_time_to_first_token_seconds histogram\n");
	for (c = 0; c < srv->n_cards; c++) {
		snprintf(labels, sizeof(labels), "card=\"%u\"", c);
		hist_out(&b, "hc_serve_time_to_first_token_seconds", labels, &srv->cards[c].m.ttft,
			 serve_ttft_bounds);
	}
	OUT("# HELP hc_serve_inter_token_latency_seconds Between two tokens of one generation.\n"
	    "# TYPE hc_serve_inter_token_latency_seconds histogram\n");
	for (c = 0; c < srv->n_cards; c++) {
		snprintf(labels, sizeof(labels), "card=\"%u\"", c);
		hist_out(&b, "hc_serve_inter_token_latency_seconds", labels, &srv->cards[c].m.itl,
			 serve_itl_bounds);
	}
	pthread_mutex_unlock(&m->lock);
	*len = b.len;
	return b.data;
}
