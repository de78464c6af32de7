// SPDX-License-Identifier: MIT
/*
 * hc-bench-stack: what the card stack (hc-emud + libhc + zero-copy streams) costs on top of
 * the model. Times the same prompt and greedy decode three ways:
 *   direct  in-process hc_forward + hc_sample (no stack at all)
 *   card    hc-emud running the model, tokens read through libhc
 *   null    hc-emud --null-model (benchmark only: tokens made without computing), the
 *           stack's ceiling in tokens/s
 * For each: time to first token and wall time per token (whole job / tokens), plus CPU time
 * per token of the application and of the card (hc-emud, from /proc schedstat). CPU time is
 * what the stack adds per token and, unlike wall time, barely moves with machine load.
 * Direct and card repetitions alternate so both see the same load.
 *
 * --multi N: the host stack at the card's real speed instead. N streams on one card, each
 * paced at --pace tokens/s (hc-emud --pace, with --null-model when the daemon has it, so that
 * the model is not what limits), read by ONE application thread, once sleeping in
 * hc_stream_wait_any() and once in its own epoll loop on hc_stream_fd(), for each latency
 * budget of --budgets. Reported per run: delivered rate against the paced rate, the
 * application thread's CPU per token (CLOCK_THREAD_CPUTIME_ID), hc-emud's CPU per token
 * (utime + stime of /proc/PID/stat) and wake-ups; then the same run again with a watcher
 * thread that polls every stream's tail every ~50 us, for token latency p50/p99 (from the
 * moment the watcher saw the token in the ring to the moment the consumer had it: the card
 * interface has no per-token time stamp). The watcher costs CPU of its own, so rates and CPU
 * come from the run without it. Not a test: nothing is asserted.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include "hc/hc.h"
#include "bench_emud.h"
#include "model.h"
#include "rom.h"

#define MAX_REPS 64
#define MAX_MULTI 256		/* --multi streams */
#define MAX_BUDGETS 8

struct opts {
	const char *rom;
	const char *emud;
	uint32_t n_tokens;
	uint32_t n_prompt;
	uint32_t null_tokens;	/* --null-model run: far more tokens than a ring holds */
	int reps;
	int spin;		/* consumer spins on peek instead of sleeping in hc_stream_wait */
	unsigned multi;		/* --multi: paced streams read by one thread (0: off) */
	uint32_t pace;		/* --pace: tokens/s per stream */
	double seconds;		/* --seconds: length of each --multi run */
	uint32_t budgets[MAX_BUDGETS];	/* --budgets: latency budgets, us */
	unsigned n_budgets;
};

/* One repetition. */
struct sample {
	double ttft_ms;		/* prompt submitted -> first token readable */
	double wall_us;		/* whole job / tokens */
	double app_cpu_us;	/* this process's CPU / tokens */
	double card_cpu_us;	/* hc-emud's CPU / tokens (0 in-process) */
};

static double now(clockid_t clk)
{
	struct timespec ts;

	clock_gettime(clk, &ts);
	return ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* CPU seconds of every thread of @pid (schedstat: ns on CPU, first field). */
static double proc_cpu(pid_t pid)
{
	char path[64], line[128];
	struct dirent *de;
	double sum = 0;
	DIR *d;

	snprintf(path, sizeof(path), "/proc/%d/task", (int)pid);
	d = opendir(path);
	if (!d)
		return 0;
	while ((de = readdir(d))) {
		FILE *f;

		if (de->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "/proc/%d/task/%.16s/schedstat", (int)pid, de->d_name);
		f = fopen(path, "r");
		if (f && fgets(line, sizeof(line), f))
			sum += strtod(line, NULL) * 1e-9;
		if (f)
			fclose(f);
	}
	closedir(d);
	return sum;
}

static int cmp_d(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/* Median of each field over @n samples. */
static struct sample median(const struct sample *s, int n)
{
	double v[MAX_REPS];
	struct sample m;
	int f, i;

	for (f = 0; f < 4; f++) {
		for (i = 0; i < n; i++)
			v[i] = ((const double *)&s[i])[f];
		qsort(v, n, sizeof(*v), cmp_d);
		((double *)&m)[f] = n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
	}
	return m;
}

static void make_prompt(int32_t *p, uint32_t n, uint32_t vocab)
{
	uint32_t i;

	p[0] = 1 % vocab;
	for (i = 1; i < n; i++)
		p[i] = (int32_t)((i * 7919u + 13) % vocab);
}

/* ---- in-process ---- */

struct direct {
	struct hc_rom *rom;
	struct hc_model *m;
	struct hc_kv *kv;
	float *logits;
	int32_t *prompt;
	uint32_t vocab;
};

static int direct_open(const struct opts *o, struct direct *d)
{
	char err[256];

	if (hc_rom_open(o->rom, &d->rom, err, sizeof(err)) ||
	    hc_model_new(d->rom, 1, HC_PATH_AUTO, &d->m, err, sizeof(err))) {
		fprintf(stderr, "hc-bench-stack: %s\n", err);
		return -1;
	}
	d->vocab = hc_model_arch(d->m)->vocab_size;
	d->logits = malloc(d->vocab * sizeof(*d->logits));
	d->prompt = malloc(o->n_prompt * sizeof(*d->prompt));
	d->kv = hc_kv_new(d->m, 0);
	if (!d->logits || !d->prompt || !d->kv)
		return -1;
	make_prompt(d->prompt, o->n_prompt, d->vocab);
	return 0;
}

static void direct_close(struct direct *d)
{
	hc_kv_free(d->kv);
	free(d->prompt);
	free(d->logits);
	hc_model_free(d->m);
	hc_rom_close(d->rom);
}

static void direct_rep(const struct opts *o, struct direct *d, struct sample *s)
{
	struct hc_sampling greedy = { 0 };
	double t0, t1, t2, c0;
	int32_t tok;
	uint32_t i;

	hc_kv_reset(d->kv);
	c0 = now(CLOCK_PROCESS_CPUTIME_ID);
	t0 = now(CLOCK_MONOTONIC);
	hc_forward(d->m, d->kv, d->prompt, o->n_prompt, d->logits);
	tok = hc_sample(d->logits, d->vocab, &greedy, 0, NULL);
	t1 = now(CLOCK_MONOTONIC);
	for (i = 1; i < o->n_tokens; i++) {
		if (hc_forward(d->m, d->kv, &tok, 1, d->logits))
			break;
		tok = hc_sample(d->logits, d->vocab, &greedy, i, NULL);
	}
	t2 = now(CLOCK_MONOTONIC);
	s->ttft_ms = (t1 - t0) * 1e3;
	s->wall_us = (t2 - t0) / i * 1e6;
	s->app_cpu_us = (now(CLOCK_PROCESS_CPUTIME_ID) - c0) / i * 1e6;
	s->card_cpu_us = 0;
}

/* ---- through the card ---- */

/* hc-emud on @sock with the model (or --null-model), paced for --multi. */
static pid_t start_emud(const struct opts *o, const char *sock, int null_model)
{
	char pace[32];
	char *argv[10];
	int n = 0;

	snprintf(pace, sizeof(pace), "--pace=%u", o->pace);
	argv[n++] = (char *)o->emud;
	argv[n++] = "--rom";
	argv[n++] = (char *)o->rom;
	argv[n++] = "--socket";
	argv[n++] = (char *)sock;
	if (null_model)
		argv[n++] = "--null-model";
	if (o->multi)
		argv[n++] = pace;
	argv[n] = NULL;
	return bench_emud_start(argv, BENCH_EMUD_READY_MS);
}

struct card {
	pid_t emud;
	struct hc_card *card;
	struct hc_ctx *ctx;
	int32_t *prompt;
};

static int card_open(const struct opts *o, const char *uri, pid_t emud, struct card *c)
{
	struct hc_card_info info;
	int rc;

	c->emud = emud;
	rc = hc_open(uri, &c->card);
	if (!rc) {
		hc_card_info(c->card, &info);
		c->prompt = malloc(o->n_prompt * sizeof(*c->prompt));
		if (!c->prompt)
			rc = -ENOMEM;
		else
			make_prompt(c->prompt, o->n_prompt, info.vocab_size);
	}
	if (!rc)
		rc = hc_ctx_create(c->card, &c->ctx);
	if (rc)
		fprintf(stderr, "hc-bench-stack: %s: %s\n", uri, hc_strerror(rc));
	return rc;
}

static void card_close(struct card *c)
{
	hc_ctx_destroy(c->ctx);
	free(c->prompt);
	hc_close(c->card);
}

static int card_rep(const struct opts *o, struct card *c, uint32_t n_tokens, struct sample *s)
{
	struct hc_decode_params dp = { .max_tokens = n_tokens };
	double t0, t1 = 0, t2, c0, e0;
	struct hc_stream *st;
	const uint32_t *t;
	uint64_t got = 0;
	unsigned k;
	int rc;

	rc = hc_ctx_reset(c->ctx);
	if (rc)
		goto fail;
	e0 = proc_cpu(c->emud);
	c0 = now(CLOCK_PROCESS_CPUTIME_ID);
	t0 = now(CLOCK_MONOTONIC);
	/* prompt and decode in one submission: the latency-minded way (hc_ctx_generate(3)) */
	rc = hc_ctx_generate(c->ctx, c->prompt, o->n_prompt, &dp, &st);
	if (rc)
		goto fail;
	for (;;) {
		k = hc_stream_peek(st, &t);
		if (k) {
			if (!got)
				t1 = now(CLOCK_MONOTONIC);
			got += k;
			hc_stream_advance(st, k);
			continue;
		}
		if (hc_stream_status(st, NULL))
			break;
		if (!o->spin)
			hc_stream_wait(&st, 1, -1);
	}
	t2 = now(CLOCK_MONOTONIC);
	s->app_cpu_us = (now(CLOCK_PROCESS_CPUTIME_ID) - c0) / got * 1e6;
	s->card_cpu_us = (proc_cpu(c->emud) - e0) / got * 1e6;
	hc_stream_free(st);
	if (got < 2) {
		rc = -EIO;
		goto fail;
	}
	s->ttft_ms = (t1 - t0) * 1e3;
	/* whole job / tokens: after a late wake-up tokens come in bursts, so first-to-last
	 * alone would flatter the stack */
	s->wall_us = (t2 - t0) / got * 1e6;
	return 0;
fail:
	fprintf(stderr, "hc-bench-stack: card: %s\n", hc_strerror(rc));
	return -1;
}

/*
 * The stack's own time to first token: on the null model (nothing computed) the whole TTFT is
 * the stack's. @n repetitions each of hc_ctx_generate() and of hc_ctx_prefill_tokens() then
 * hc_ctx_decode(), alternating (the same load for both), 2-token decodes. Sorted into
 * @gen and @two (microseconds). 0 or -1.
 */
#define TTFT_REPS 101
static int ttft_null(const struct opts *o, struct card *c, double *gen, double *two)
{
	struct hc_decode_params dp = { .max_tokens = 2 };
	struct hc_stream *st;
	const uint32_t *t;
	double t0;
	int i, rc;

	for (i = 0; i < 2 * TTFT_REPS; i++) {
		rc = hc_ctx_reset(c->ctx);
		t0 = now(CLOCK_MONOTONIC);
		if (!rc && (i & 1))
			rc = hc_ctx_generate(c->ctx, c->prompt, o->n_prompt, &dp, &st);
		else if (!rc && !(rc = hc_ctx_prefill_tokens(c->ctx, c->prompt, o->n_prompt)))
			rc = hc_ctx_decode(c->ctx, &dp, &st);
		if (rc) {
			fprintf(stderr, "hc-bench-stack: ttft: %s\n", hc_strerror(rc));
			return -1;
		}
		while (!hc_stream_peek(st, &t) && hc_stream_status(st, NULL) == 0)
			hc_stream_wait(&st, 1, -1);
		(i & 1 ? gen : two)[i / 2] = (now(CLOCK_MONOTONIC) - t0) * 1e6;
		while (hc_stream_status(st, NULL) == 0) {
			hc_stream_advance(st, hc_stream_peek(st, &t));
			hc_stream_wait(&st, 1, -1);
		}
		hc_stream_free(st);
	}
	qsort(gen, TTFT_REPS, sizeof(*gen), cmp_d);
	qsort(two, TTFT_REPS, sizeof(*two), cmp_d);
	return 0;
}

/* ---- --multi: many paced streams, one consumer thread ---- */

#define LAT_BINS 200000		/* latency histogram: 1 us bins up to 200 ms, then overflow */

/* The card's side of each token: when a watcher thread first saw it in its ring. */
struct watch {
	unsigned n;
	uint32_t nt;
	struct hc_stream **s;
	int64_t *seen;		/* [n][nt], ns; 0 until seen */
	int stop;
};

static int64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void *watcher(void *arg)
{
	struct watch *w = arg;
	uint32_t *pos = calloc(w->n, sizeof(*pos));
	const struct timespec nap = { 0, 50000 };

	prctl(PR_SET_TIMERSLACK, 1000UL, 0, 0, 0);	/* 1 us, not the default 50 us */
	while (pos && !__atomic_load_n(&w->stop, __ATOMIC_ACQUIRE)) {
		int64_t now = 0;

		for (unsigned i = 0; i < w->n; i++) {
			uint32_t tail = __atomic_load_n(w->s[i]->ktail, __ATOMIC_ACQUIRE);
			int64_t *seen = w->seen + (size_t)i * w->nt;

			/* ktail is free-running from 0 for a fresh stream ring */
			while (pos[i] != tail && pos[i] < w->nt) {
				if (!now)
					now = mono_ns();
				__atomic_store_n(&seen[pos[i]++], now, __ATOMIC_RELAXED);
			}
		}
		nanosleep(&nap, NULL);
	}
	free(pos);
	return NULL;
}

/* CPU seconds of @pid from /proc/PID/stat: utime + stime (fields 14 and 15). */
static double proc_stat_cpu(pid_t pid)
{
	char path[64], buf[1024], *p;
	unsigned long ut = 0, st = 0;
	FILE *f;
	size_t n;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	f = fopen(path, "r");
	if (!f)
		return 0;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = 0;
	p = strrchr(buf, ')');	/* the command name may hold spaces */
	if (!p || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ut,
			 &st) != 2)
		return 0;
	return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

struct mresult {
	double secs;		/* first decode submitted -> last token read */
	double rate_pct;	/* delivered tokens/s against n * pace */
	double app_cpu_us;	/* consumer thread CPU / token */
	double card_cpu_us;	/* hc-emud CPU / token */
	double p50_us, p99_us;	/* token latency */
	double wakes_per_s, tokens_per_wake;
	double watch_cpu_us;	/* the watcher thread's CPU / token (measurement cost) */
	uint64_t tokens;
};

static double lat_percentile(const uint32_t *hist, uint64_t total, double q)
{
	uint64_t want = (uint64_t)(q * (double)total), sum = 0;

	for (unsigned b = 0; b <= LAT_BINS; b++) {
		sum += hist[b];
		if (sum > want)
			return b;
	}
	return LAT_BINS;
}

/* Take every readable token of stream @i, noting each one's latency. */
static unsigned take(struct hc_stream *s, const int64_t *seen, uint32_t *got, uint32_t nt,
		     uint32_t *hist)
{
	const uint32_t *t;
	unsigned k, total = 0;

	while ((k = hc_stream_peek(s, &t))) {
		int64_t now = mono_ns();

		for (unsigned j = 0; j < k && *got + j < nt; j++) {
			int64_t at = __atomic_load_n(&seen[*got + j], __ATOMIC_RELAXED);
			int64_t us = at && now > at ? (now - at) / 1000 : 0;

			hist[us < LAT_BINS ? us : LAT_BINS]++;
		}
		*got += k;
		total += k;
		hc_stream_advance(s, k);
	}
	return total;
}

/*
 * One run: n decodes of pace * seconds tokens on @ctx[], read by this thread in
 * hc_stream_wait_any() (@epoll 0) or in an epoll loop on hc_stream_fd() (@epoll 1).
 */
static int multi_run(const struct opts *o, struct hc_ctx **ctx, pid_t emud, uint32_t budget,
		     int use_epoll, int watch, struct mresult *r)
{
	const unsigned n = o->multi;
	const uint32_t nt = (uint32_t)(o->pace * o->seconds);
	struct hc_stream *s[MAX_MULTI], *slot[MAX_MULTI];
	uint32_t got[MAX_MULTI] = { 0 }, *hist;
	unsigned ready[MAX_MULTI], live = n, i;
	struct watch w = { .n = n, .nt = nt, .s = s };
	double c0, c1, e0, e1, wcpu = 0;
	clockid_t wclk;
	int64_t t0, t1;
	uint64_t wakes = 0, total = 0;
	int epfd = -1, rc = 0;
	pthread_t th;

	hist = calloc(LAT_BINS + 1, sizeof(*hist));
	/* without the watcher nothing is ever seen: every latency reads 0 */
	w.seen = calloc(watch ? (size_t)n * nt : nt, sizeof(*w.seen));
	if (!hist || !w.seen) {
		free(hist);
		free(w.seen);
		return -ENOMEM;
	}
	e0 = proc_stat_cpu(emud);
	t0 = mono_ns();
	for (i = 0; i < n && !rc; i++) {
		struct hc_decode_params dp = { .max_tokens = nt, .latency_budget_us = budget };

		rc = hc_ctx_decode(ctx[i], &dp, &s[i]);
		slot[i] = s[i];
	}
	if (rc) {
		fprintf(stderr, "hc-bench-stack: decode: %s\n", hc_strerror(rc));
		while (i-- > 1)
			hc_stream_free(s[i - 1]);
		free(hist);
		free(w.seen);
		return rc;
	}
	if (use_epoll) {
		epfd = epoll_create1(EPOLL_CLOEXEC);
		for (i = 0; i < n && epfd >= 0; i++) {
			struct epoll_event ev = { .events = EPOLLIN };
			int fd = hc_stream_fd(s[i]);

			ev.data.fd = fd;
			/* contexts share queue pairs, and so fds: EEXIST is expected */
			if (fd < 0 || (epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev) && errno != EEXIST)) {
				close(epfd);
				epfd = -1;
			}
		}
		if (epfd < 0)
			rc = -EOPNOTSUPP;
	}
	if (watch && pthread_create(&th, NULL, watcher, &w))
		watch = 0;
	c0 = now(CLOCK_THREAD_CPUTIME_ID);
	while (live && !rc) {
		if (!use_epoll) {
			int k = hc_stream_wait_any(slot, n, -1, ready);

			wakes++;
			if (k < 0) {
				rc = k;
				break;
			}
			for (int j = 0; j < k; j++) {
				i = ready[j];
				total += take(slot[i], w.seen + (watch ? (size_t)i * nt : 0), &got[i],
					      nt, hist);
				if (hc_stream_status(slot[i], NULL) == 1) {
					slot[i] = NULL;
					live--;
				}
			}
		} else {
			struct epoll_event evs[16];
			unsigned progress = 0;
			int armed;

			for (i = 0; i < n; i++) {
				if (!slot[i])
					continue;
				progress += take(slot[i], w.seen + (watch ? (size_t)i * nt : 0),
						 &got[i], nt, hist);
				if (hc_stream_status(slot[i], NULL) == 1) {
					slot[i] = NULL;
					live--;
				}
			}
			total += progress;
			if (!live || progress)
				continue;
			/* the fd's contract: rearm every stream before sleeping on it, all at once
			 * (contexts share queue pairs, so fds: each is drained once, before any
			 * stream is looked at) */
			armed = hc_stream_rearm_many(slot, n);
			if (armed < 0)
				rc = armed;
			if (armed != 0)
				continue;
			if (epoll_wait(epfd, evs, 16, -1) < 0 && errno != EINTR)
				rc = -errno;
			wakes++;
		}
	}
	c1 = now(CLOCK_THREAD_CPUTIME_ID);
	t1 = mono_ns();
	__atomic_store_n(&w.stop, 1, __ATOMIC_RELEASE);
	if (watch && !pthread_getcpuclockid(th, &wclk))
		wcpu = now(wclk);
	if (watch)
		pthread_join(th, NULL);
	e1 = proc_stat_cpu(emud);
	if (epfd >= 0)
		close(epfd);
	for (i = 0; i < n; i++)
		hc_stream_free(s[i]);
	if (!rc && total) {
		r->tokens = total;
		r->secs = (t1 - t0) / 1e9;
		r->rate_pct = 100.0 * (double)total / r->secs / ((double)n * o->pace);
		r->app_cpu_us = (c1 - c0) / (double)total * 1e6;
		r->card_cpu_us = (e1 - e0) / (double)total * 1e6;
		r->p50_us = lat_percentile(hist, total, 0.50);
		r->p99_us = lat_percentile(hist, total, 0.99);
		r->wakes_per_s = (double)wakes / r->secs;
		r->tokens_per_wake = (double)total / (double)(wakes ? wakes : 1);
		r->watch_cpu_us = wcpu / (double)total * 1e6;
	}
	free(hist);
	free(w.seen);
	return rc;
}

/* CPU model and cores, and how loaded the machine was. */
static void print_hardware(void)
{
	char line[256], model[200] = "unknown";
	double load[3] = { 0, 0, 0 };
	FILE *f = fopen("/proc/cpuinfo", "r");

	while (f && fgets(line, sizeof(line), f)) {
		char *c = strchr(line, ':');

		if (!strncmp(line, "model name", 10) && c) {
			snprintf(model, sizeof(model), "%s", c + 2);
			model[strcspn(model, "\n")] = 0;
			break;
		}
	}
	if (f)
		fclose(f);
	if (getloadavg(load, 3) < 0)
		load[0] = -1;
	printf("hardware: %s, %ld cores online; load average %.2f %.2f %.2f at the start\n",
	       model, sysconf(_SC_NPROCESSORS_ONLN), load[0], load[1], load[2]);
}

static int multi_main(const struct opts *o, int have_null)
{
	char dir[] = "/tmp/hc-bench-XXXXXX", sock[128], uri[160];
	struct hc_ctx *ctx[MAX_MULTI];
	int32_t prompt[16];
	struct hc_card *card = NULL;
	struct hc_card_info info;
	unsigned i, b, n_ctx = 0;
	double watch_max = 0;
	int rc = 0, mode;
	pid_t pid;

	if (!mkdtemp(dir)) {
		perror("hc-bench-stack: mkdtemp");
		return 1;
	}
	snprintf(sock, sizeof(sock), "%s/emud.sock", dir);
	snprintf(uri, sizeof(uri), "emu:%s", sock);
	pid = start_emud(o, sock, have_null);
	if (pid < 0) {
		fprintf(stderr, "hc-bench-stack: %s did not serve %s\n", o->emud, sock);
		rmdir(dir);
		return 1;
	}
	rc = hc_open(uri, &card);
	if (!rc)
		rc = hc_card_info(card, &info);
	if (!rc)
		make_prompt(prompt, 16, info.vocab_size);
	for (i = 0; !rc && i < o->multi; i++) {
		rc = hc_ctx_create(card, &ctx[i]);
		if (!rc) {
			n_ctx++;
			rc = hc_ctx_prefill_tokens(ctx[i], prompt, 16);
		}
	}
	if (rc) {
		fprintf(stderr, "hc-bench-stack: %u streams on %s: %s\n", o->multi, uri,
			hc_strerror(rc));
	} else {
		printf("hc-bench-stack: %u streams paced at %u tokens/s each (hc-emud --pace%s), "
		       "%.1f s each, read by one thread\n", o->multi, o->pace,
		       have_null ? " --null-model" : ", the ROM's model", o->seconds);
		print_hardware();
		printf("%-9s %7s %10s %9s %9s %9s %9s %10s %8s\n", "consumer", "budget",
		       "delivered", "app CPU", "card CPU", "p50", "p99", "wake-ups", "tokens");
		printf("%-9s %7s %10s %9s %9s %9s %9s %10s %8s\n", "", "us", "% of pace",
		       "us/token", "us/token", "us", "us", "/s", "/wake");
	}
	for (mode = 0; !rc && mode < 2; mode++) {
		for (b = 0; !rc && b < o->n_budgets; b++) {
			struct mresult m = { 0 }, l = { 0 };

			rc = multi_run(o, ctx, pid, o->budgets[b], mode, 0, &m);
			if (!rc)
				rc = multi_run(o, ctx, pid, o->budgets[b], mode, 1, &l);
			if (rc) {
				fprintf(stderr, "hc-bench-stack: %s: %s\n",
					mode ? "epoll" : "wait_any", hc_strerror(rc));
				break;
			}
			printf("%-9s %7u %10.1f %9.2f %9.2f %9.0f %9.0f %10.0f %8.1f\n",
			       mode ? "epoll" : "wait_any", o->budgets[b], m.rate_pct, m.app_cpu_us,
			       m.card_cpu_us, l.p50_us, l.p99_us, m.wakes_per_s, m.tokens_per_wake);
			fflush(stdout);
			if (l.watch_cpu_us > watch_max)
				watch_max = l.watch_cpu_us;
		}
	}
	if (!rc)
		printf("p50/p99: a second run of each row with a watcher thread that polls the "
		       "rings every ~50 us (up to %.2f us CPU/token): from the watcher seeing a "
		       "token to the consumer having it (0 when the consumer had it first); the "
		       "other columns are from the run without it\n", watch_max);
	while (n_ctx--)
		hc_ctx_destroy(ctx[n_ctx]);
	hc_close(card);
	bench_emud_stop(pid);
	unlink(sock);
	rmdir(dir);
	return rc ? 1 : 0;
}

static int parse_budgets(const char *arg, struct opts *o)
{
	char *end;

	o->n_budgets = 0;
	do {
		unsigned long v = strtoul(arg, &end, 10);

		if (end == arg || v > HC_MAX_LATENCY_BUDGET_US || o->n_budgets == MAX_BUDGETS)
			return -1;
		o->budgets[o->n_budgets++] = (uint32_t)v;
		arg = end + (*end == ',');
	} while (*end == ',');
	return *end ? -1 : 0;
}

static int emud_has_null_model(const char *emud)
{
	char cmd[600], line[512];
	int found = 0;
	FILE *f;

	snprintf(cmd, sizeof(cmd), "'%s' --help 2>&1", emud);
	f = popen(cmd, "r");
	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f))
		found |= strstr(line, "--null-model") != NULL;
	pclose(f);
	return found;
}

static void usage(FILE *f)
{
	fprintf(f,
		"usage: hc-bench-stack --rom ROM [--emud PATH] [-n TOKENS] [--prompt N] [--reps R]\n"
		"                      [--null-tokens N] [--spin]\n"
		"       hc-bench-stack --rom ROM [--emud PATH] --multi N [--pace TOKENS_PER_S]\n"
		"                      [--budgets US,US,...] [--seconds S]\n"
		"  --rom ROM         model to time (in-process and on hc-emud)\n"
		"  --emud PATH       hc-emud binary (default build/hc-emud)\n"
		"  -n TOKENS         tokens per decode (default 256; at most max_ctx - prompt)\n"
		"  --prompt N        prompt tokens (default 16)\n"
		"  --reps R          repetitions, medians reported (default 5, max %d)\n"
		"  --null-tokens N   tokens per decode on hc-emud --null-model (default 200000)\n"
		"  --spin            consumer spins on hc_stream_peek instead of sleeping\n"
		"  --multi N         N streams paced by hc-emud --pace (--null-model if it has\n"
		"                    it), read by one thread: in hc_stream_wait_any, then in an\n"
		"                    epoll loop on hc_stream_fd (at most %d)\n"
		"  --pace T          tokens/s per stream for --multi (default 17000, the HC1's)\n"
		"  --budgets LIST    latency budgets in us for --multi (default 0,100,1000)\n"
		"  --seconds S       length of each --multi run (default 2)\n"
		"  -V, --version     print the version and exit\n",
		MAX_REPS, MAX_MULTI);
}

static void row(const char *name, const struct sample *m)
{
	printf("%-32s %9.3f %9.2f %10.0f %9.2f %9.2f\n", name, m->ttft_ms, m->wall_us,
	       1e6 / m->wall_us, m->app_cpu_us, m->card_cpu_us);
}

int main(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "rom", required_argument, NULL, 'r' },
		{ "emud", required_argument, NULL, 'e' },
		{ "prompt", required_argument, NULL, 'p' },
		{ "reps", required_argument, NULL, 'R' },
		{ "null-tokens", required_argument, NULL, 'N' },
		{ "spin", no_argument, NULL, 's' },
		{ "multi", required_argument, NULL, 'm' },
		{ "pace", required_argument, NULL, 'P' },
		{ "budgets", required_argument, NULL, 'b' },
		{ "seconds", required_argument, NULL, 'S' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ 0 }
	};
	struct opts o = { .emud = "build/hc-emud", .n_tokens = 256, .n_prompt = 16, .reps = 5,
			  .null_tokens = 200000, .pace = 17000, .seconds = 2,
			  .budgets = { 0, 100, 1000 }, .n_budgets = 3 };
	struct sample ds[MAX_REPS], cs[MAX_REPS], ns[MAX_REPS], dm, cm, nm;
	char dir[] = "/tmp/hc-bench-XXXXXX", sock[128], uri[160];
	struct direct d = { 0 };
	struct card c = { 0 };
	double tt_gen[TTFT_REPS], tt_two[TTFT_REPS];
	int ch, rep, have_null, have_ttft = 0, ok = 1;
	pid_t pid;

	while ((ch = getopt_long(argc, argv, "n:hV", lo, NULL)) != -1) {
		switch (ch) {
		case 'r': o.rom = optarg; break;
		case 'e': o.emud = optarg; break;
		case 'n': o.n_tokens = (uint32_t)atoi(optarg); break;
		case 'p': o.n_prompt = (uint32_t)atoi(optarg); break;
		case 'R': o.reps = atoi(optarg); break;
		case 'N': o.null_tokens = (uint32_t)atoi(optarg); break;
		case 's': o.spin = 1; break;
		case 'm': o.multi = (unsigned)atoi(optarg); break;
		case 'P': o.pace = (uint32_t)atoi(optarg); break;
		case 'b':
			if (parse_budgets(optarg, &o)) {
				usage(stderr);
				return 2;
			}
			break;
		case 'S': o.seconds = atof(optarg); break;
		case 'h': usage(stdout); return 0;
		case 'V': printf("hc-bench-stack " HC_VERSION_STRING "\n"); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (!o.rom || o.n_tokens < 2 || !o.n_prompt || o.reps < 1 || o.reps > MAX_REPS ||
	    o.null_tokens < 2 || o.multi > MAX_MULTI || !o.pace || !(o.seconds > 0) ||
	    o.pace * o.seconds < 2 || o.pace * o.seconds > 1e8) {
		usage(stderr);
		return 2;
	}
	if (o.multi)
		return multi_main(&o, emud_has_null_model(o.emud));
	if (direct_open(&o, &d))
		return 1;
	if (!mkdtemp(dir)) {
		perror("hc-bench-stack: mkdtemp");
		return 1;
	}
	snprintf(sock, sizeof(sock), "%s/emud.sock", dir);
	snprintf(uri, sizeof(uri), "emu:%s", sock);

	pid = start_emud(&o, sock, 0);
	if (pid < 0 || card_open(&o, uri, pid, &c)) {
		fprintf(stderr, "hc-bench-stack: %s did not serve %s\n", o.emud, sock);
		if (pid > 0)
			bench_emud_stop(pid);
		rmdir(dir);
		return 1;
	}
	for (rep = 0; ok && rep < o.reps; rep++) {
		direct_rep(&o, &d, &ds[rep]);
		ok = !card_rep(&o, &c, o.n_tokens, &cs[rep]);
	}
	card_close(&c);
	bench_emud_stop(pid);
	direct_close(&d);
	if (!ok) {
		rmdir(dir);
		return 1;
	}

	have_null = emud_has_null_model(o.emud);
	if (have_null) {
		memset(&c, 0, sizeof(c));
		pid = start_emud(&o, sock, 1);
		have_null = pid > 0 && !card_open(&o, uri, pid, &c);
		/* first, before long streams leave the machine's wake-ups in another state */
		have_ttft = have_null && !ttft_null(&o, &c, tt_gen, tt_two);
		for (rep = 0; have_null && rep < o.reps; rep++)
			have_null = !card_rep(&o, &c, o.null_tokens, &ns[rep]);
		if (pid > 0) {
			card_close(&c);
			bench_emud_stop(pid);
		}
	}
	unlink(sock);
	rmdir(dir);

	dm = median(ds, o.reps);
	cm = median(cs, o.reps);
	printf("hc-bench-stack: %s, prompt %u, %u tokens greedy (null model: %u), median of %d,"
	       " consumer %s\n", o.rom, o.n_prompt, o.n_tokens, o.null_tokens, o.reps,
	       o.spin ? "spinning" : "sleeping in hc_stream_wait");
	printf("%-32s %9s %9s %10s %9s %9s\n", "path", "TTFT ms", "wall us", "tokens/s",
	       "app CPU", "card CPU");
	printf("%-32s %9s %9s %10s %9s %9s\n", "", "", "/token", "", "us/token", "us/token");
	row("in-process forward+sample", &dm);
	row("hc-emud + libhc", &cm);
	if (have_null) {
		nm = median(ns, o.reps);
		row("hc-emud --null-model + libhc", &nm);
	} else {
		printf("%-32s (hc-emud has no --null-model)\n", "hc-emud --null-model + libhc");
	}
	/*
	 * The stack's own cost per token: the application's CPU with the real model (its
	 * wake-ups and ring reads) plus the card's CPU when it computes nothing (scheduler,
	 * rings, interrupts). The model's compute is the rest of the card's CPU.
	 */
	printf("model compute per token: %.2f us CPU in-process, %.2f us on the card\n",
	       dm.app_cpu_us, cm.card_cpu_us);
	printf("stack cost per token: %.2f us application CPU", cm.app_cpu_us);
	if (have_null)
		printf(" + %.2f us card CPU (null model)", nm.card_cpu_us);
	printf("; time to first token %+.3f ms vs in-process (model compute included: noisy)\n",
	       cm.ttft_ms - dm.ttft_ms);
	if (have_ttft)
		printf("time to first token, the stack alone (null model, %u-token prompt, %d runs "
		       "each, alternating): hc_ctx_generate p50 %.1f us (p10 %.1f, p90 %.1f); "
		       "prefill then decode p50 %.1f us (p10 %.1f, p90 %.1f)\n", o.n_prompt,
		       TTFT_REPS, tt_gen[TTFT_REPS / 2], tt_gen[TTFT_REPS / 10],
		       tt_gen[TTFT_REPS * 9 / 10], tt_two[TTFT_REPS / 2], tt_two[TTFT_REPS / 10],
		       tt_two[TTFT_REPS * 9 / 10]);
	if (have_null)
		printf("stack ceiling (null model): %.0f tokens/s\n", 1e6 / nm.wall_us);
	return 0;
}
