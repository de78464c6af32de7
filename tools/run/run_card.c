// SPDX-License-Identifier: MIT
/*
 * hc-run's card engine: prompt and sampling go to a card through libhc, tokens come back
 * through the zero-copy stream and are handed to hc-run one by one as they arrive.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <editline/readline.h>
#include "hc/hc.h"
#include "run_card.h"

struct card_engine {
	struct run_engine e;
	struct hc_card *card;
	struct hc_text_stream *ts;	/* hc-run's decoder (detok_*) */
};

static void card_close(struct run_engine *e)
{
	struct card_engine *c = (struct card_engine *)e;

	if (!c)
		return;
	hc_text_stream_free(c->ts);
	hc_close(c->card);
	free(c);
}

static int card_open(const struct run_opts *o, struct run_engine **out, char *err, size_t errlen)
{
	struct card_engine *c;
	struct hc_card_info info;
	int rc;

	*out = NULL;
	c = calloc(1, sizeof(*c));
	if (!c) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	c->e.ops = &run_card_ops;
	rc = hc_open(o->device, &c->card);
	if (rc) {
		struct stat st;
		/* the usual slip: a daemon's socket path without the emu: scheme */
		const int bare_socket = rc == -EINVAL && o->device && o->device[0] == '/' &&
					!stat(o->device, &st) && S_ISSOCK(st.st_mode);

		snprintf(err, errlen, "%s: %s%s%s", o->device ? o->device : "no device found "
			 "(HC_DEVICE, /dev/accel, hc-emud's default socket)", hc_strerror(rc),
			 bare_socket ? "; for hc-emud's socket write -d emu:" : "",
			 bare_socket ? o->device : "");
		free(c);
		return rc;
	}
	hc_card_info(c->card, &info);
	if (hc_text_stream_new(c->card, &c->ts) == -EOPNOTSUPP) {
		snprintf(err, errlen, "%s: the card does not expose its tokenizer",
			 o->device ? o->device : "card");
		card_close(&c->e);
		return -EOPNOTSUPP;
	}
	c->e.vocab_size = info.vocab_size;
	c->e.max_ctx = info.max_ctx;
	*out = &c->e;
	return 0;
}

static void to_params(const struct run_gen *g, uint32_t max, struct hc_decode_params *p)
{
	uint32_t i;

	memset(p, 0, sizeof(*p));
	p->max_tokens = max;
	p->temperature = g->sampling.temperature;
	p->top_p = g->sampling.top_p;
	p->top_k = g->sampling.top_k;
	p->seed = g->sampling.seed;
	for (i = 0; i < g->n_stop && i < HC_MAX_STOP_IDS; i++)
		p->stop_ids[p->n_stop++] = g->stop_ids[i];
}

/* Stream one decode to @fn; the stop id (not in the stream) is shown last, as run_direct. */
static int stream_out(struct hc_ctx *ctx, struct hc_stream *s, run_token_fn fn, void *arg,
		      char *err, size_t errlen)
{
	struct hc_stream_status st;
	const uint32_t *t;
	unsigned n, i;
	int made = 0, stop = 0, r;

	for (;;) {
		n = hc_stream_peek(s, &t);
		if (n) {
			for (i = 0; i < n && !stop; i++) {
				made++;
				stop = fn(arg, (int32_t)t[i]);
			}
			hc_stream_advance(s, n);
			if (stop) {
				hc_ctx_cancel(ctx);
				break;
			}
			continue;
		}
		r = hc_stream_status(s, &st);
		if (r < 0) {
			snprintf(err, errlen, "stream: %s", hc_strerror(r));
			return r;
		}
		if (r)
			break;
		r = hc_stream_wait(&s, 1, -1);
		if (r < 0) {
			snprintf(err, errlen, "waiting for tokens: %s", hc_strerror(r));
			return r;
		}
	}
	hc_stream_status(s, &st);
	if (st.state == HC_STREAM_DONE_STOP && !stop) {
		made++;
		fn(arg, st.stop_id);
	} else if (st.state == HC_STREAM_ERROR) {
		snprintf(err, errlen, "card: %s", hc_strerror(st.error));
		return st.error;
	}
	return made;
}

static int card_generate(struct run_engine *e, const int32_t *prompt, size_t n,
			 const struct run_gen *g, run_token_fn fn, void *arg, char *err,
			 size_t errlen)
{
	struct card_engine *c = (struct card_engine *)e;
	struct hc_decode_params p;
	struct hc_stream *s = NULL;
	struct hc_ctx *ctx = NULL;
	int rc;

	if (!g->max_new)
		return 0;
	rc = hc_ctx_create(c->card, &ctx);
	if (rc) {
		snprintf(err, errlen, "creating a context: %s", hc_strerror(rc));
		return rc;
	}
	/* prompt and decode in one submission: the first token one round trip sooner */
	to_params(g, g->max_new, &p);
	rc = hc_ctx_generate(ctx, prompt, n, &p, &s);
	if (rc) {
		snprintf(err, errlen, "prompt of %zu tokens: %s", n, hc_strerror(rc));
		goto out;
	}
	rc = stream_out(ctx, s, fn, arg, err, errlen);
out:
	hc_stream_free(s);
	hc_ctx_destroy(ctx);
	return rc;
}

struct chat_out {
	struct hc_text_stream *ts;
	int print_ids;
	const struct run_gen *g;
	uint32_t count;
};

/* Ctrl-C during -i: the answer being streamed stops (a signal handler can only set a flag). */
static volatile sig_atomic_t chat_interrupted;

static void on_sigint(int sig)
{
	(void)sig;
	chat_interrupted = 1;
}

static int chat_token(void *arg, int32_t id)
{
	struct chat_out *o = arg;
	char buf[256];
	uint32_t i;
	int len;

	if (chat_interrupted)
		return 1;	/* stream_out cancels the decode */
	if (o->print_ids) {
		printf(o->count++ ? " %d" : "%d", id);
		fflush(stdout);
		return 0;
	}
	for (i = 0; i < o->g->n_stop; i++)
		if (o->g->stop_ids[i] == id)
			return 0;
	len = hc_text_stream_push(o->ts, id, buf, sizeof(buf));
	if (len > 0)
		fwrite(buf, 1, (size_t)len, stdout);
	fflush(stdout);
	return 0;
}

/* One line of input without its newline (malloc'd), or NULL at the end of input. */
static char *read_turn(FILE *in, int tty)
{
	char *line = NULL;
	size_t cap = 0;
	ssize_t len;

	if (tty) {
		line = readline("> ");
		if (line && *line)
			add_history(line);
		return line;
	}
	fprintf(stderr, "> ");
	fflush(stderr);
	len = getline(&line, &cap, in);
	if (len < 0) {
		free(line);
		return NULL;
	}
	while (len && (line[len - 1] == '\n' || line[len - 1] == '\r'))
		line[--len] = 0;
	return line;
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

int run_card_interactive(struct run_engine *e, const struct run_gen *g, const char *system,
			 int print_ids, FILE *in, char *err, size_t errlen)
{
	struct card_engine *c = (struct card_engine *)e;
	struct chat_out o = { .print_ids = print_ids, .g = g };
	struct sigaction sa = { .sa_handler = on_sigint }, old_sa;
	const int tty = isatty(fileno(in));
	struct hc_decode_params p;
	struct hc_stream *s;
	struct hc_ctx *ctx;
	uint64_t generated = 0;
	char *line = NULL, buf[64];
	size_t len;
	int rc = 0, made, chat = 1;
	double t0;

	rc = hc_ctx_create(c->card, &ctx);
	if (rc) {
		snprintf(err, errlen, "creating a context: %s", hc_strerror(rc));
		return rc;
	}
	rc = hc_text_stream_new(c->card, &o.ts);
	if (rc) {
		hc_ctx_destroy(ctx);
		snprintf(err, errlen, "%s", hc_strerror(rc));
		return rc;
	}
	/* no SA_RESTART: Ctrl-C at the prompt gives back an empty line, not the end */
	sigaction(SIGINT, &sa, &old_sa);
	for (;;) {
		free(line);
		chat_interrupted = 0;
		line = read_turn(in, tty);
		if (!line) {
			if (chat_interrupted && !feof(in)) {
				clearerr(in);	/* Ctrl-C at the prompt: ask again */
				continue;
			}
			break;
		}
		len = strlen(line);
		if (!len)
			continue;
		if (!strcmp(line, "/quit") || !strcmp(line, "/exit"))
			break;
		if (!strcmp(line, "/reset")) {
			rc = hc_ctx_reset(ctx);
			if (rc) {
				snprintf(err, errlen, "reset: %s", hc_strerror(rc));
				break;
			}
			fprintf(stderr, "(conversation cleared)\n");
			continue;
		}
		if (line[0] == '/') {
			fprintf(stderr, "commands: /reset (start over), /quit; Ctrl-C stops an "
				"answer, Ctrl-D ends\n");
			continue;
		}
		if (chat) {
			struct hc_message m[2] = { { "system", system }, { "user", line } };
			const int sys = system && hc_ctx_position(ctx) == 0;

			rc = hc_ctx_prefill_chat(ctx, m + !sys, 1 + sys, 1);
			if (rc == -EOPNOTSUPP)
				chat = 0;	/* no chat format: plain continuation */
		}
		if (!chat)
			rc = hc_ctx_prefill_text(ctx, line, (size_t)len,
						 hc_ctx_position(ctx) ? 0 : HC_TEXT_BOS);
		if (rc) {
			snprintf(err, errlen, "prompt: %s%s", hc_strerror(rc),
				 rc == -ENOSPC ? " (the conversation filled the context)" : "");
			break;
		}
		to_params(g, g->max_new, &p);
		p.step_base = generated;	/* the whole conversation draws a fresh step each token */
		rc = hc_ctx_decode(ctx, &p, &s);
		if (rc) {
			snprintf(err, errlen, "decode: %s", hc_strerror(rc));
			break;
		}
		o.count = 0;
		t0 = now_s();
		made = stream_out(ctx, s, chat_token, &o, err, errlen);
		hc_stream_free(s);
		if (made < 0) {
			rc = made;
			break;
		}
		generated += (uint64_t)made;
		rc = hc_text_stream_flush(o.ts, buf, sizeof(buf));
		if (rc > 0)
			fwrite(buf, 1, (size_t)rc, stdout);
		printf("\n");
		fflush(stdout);
		{
			const double dt = now_s() - t0;

			fprintf(stderr, "[%s%d tokens, %.1f tok/s; context %u of %u]\n",
				chat_interrupted ? "stopped: " : "", made,
				dt > 0 ? made / dt : 0.0, hc_ctx_position(ctx), e->max_ctx);
		}
		rc = 0;
	}
	sigaction(SIGINT, &old_sa, NULL);
	free(line);
	hc_text_stream_free(o.ts);
	hc_ctx_destroy(ctx);
	return rc < 0 ? rc : 0;
}

/* The text side through libhc's text API: the card's own tokenizer. */
static int card_encode(struct run_engine *e, const char *text, unsigned flags, int32_t *ids,
		       size_t cap, size_t *n)
{
	unsigned tf = (flags & HC_ENC_BOS ? HC_TEXT_BOS : 0) |
		      (flags & HC_ENC_PARSE_SPECIAL ? HC_TEXT_SPECIAL : 0);

	return hc_tokenize(((struct card_engine *)e)->card, text, strlen(text), tf, ids, cap, n);
}

static int card_chat(struct run_engine *e, const char *user, int32_t *ids, size_t cap, size_t *n)
{
	struct hc_message msg = { "user", user };

	return hc_chat_tokenize(((struct card_engine *)e)->card, &msg, 1, 1, ids, cap, n);
}

static int32_t card_bos(struct run_engine *e)
{
	return hc_token_bos(((struct card_engine *)e)->card);
}

static uint32_t card_stop_ids(struct run_engine *e, int32_t *ids, uint32_t cap)
{
	return hc_stop_ids(((struct card_engine *)e)->card, ids, cap);
}

static int card_detok_start(struct run_engine *e, const int32_t *prompt, size_t n)
{
	struct card_engine *c = (struct card_engine *)e;
	char buf[512];
	int rc;

	hc_text_stream_free(c->ts);
	c->ts = NULL;
	rc = hc_text_stream_new(c->card, &c->ts);
	if (rc)
		return rc;
	/* the prompt's text is not printed: push it, then drop what is pending */
	for (size_t i = 0; i < n; i++)
		hc_text_stream_push(c->ts, prompt[i], buf, sizeof(buf));
	hc_text_stream_flush(c->ts, buf, sizeof(buf));
	return 0;
}

static size_t card_detok_push(struct run_engine *e, int32_t id, char *out, size_t cap)
{
	int n = hc_text_stream_push(((struct card_engine *)e)->ts, id, out, cap);

	return n > 0 ? (size_t)n : 0;
}

static size_t card_detok_flush(struct run_engine *e, char *out, size_t cap)
{
	int n = hc_text_stream_flush(((struct card_engine *)e)->ts, out, cap);

	return n > 0 ? (size_t)n : 0;
}

const struct run_engine_ops run_card_ops = {
	.name = "card",
	.open = card_open,
	.generate = card_generate,
	.close = card_close,
	.encode = card_encode,
	.chat = card_chat,
	.bos = card_bos,
	.stop_ids = card_stop_ids,
	.detok_start = card_detok_start,
	.detok_push = card_detok_push,
	.detok_flush = card_detok_flush,
};
