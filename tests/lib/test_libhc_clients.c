// SPDX-License-Identifier: MIT
/*
 * Many clients on one hc-emud: 4 processes x 4 contexts decoding at once give exactly each
 * prompt's solo tokens; a killed client's contexts are freed while others keep being served;
 * a client cannot use another client's context ids.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include "hc_internal.h"
#include "hc_test.h"
#include "libhc_util.h"

#define N_PROC 4
#define N_CTX  4
#define N_TOK  48

static void job_prompt(int job, int32_t prompt[5])
{
	int i;

	prompt[0] = 1;
	for (i = 1; i < 5; i++)
		prompt[i] = (job * 37 + i * 11) % 500 + 2;
}

static void job_params(int job, struct t_ref_params *p)
{
	memset(p, 0, sizeof(*p));
	p->max_tokens = N_TOK;
	p->temperature = job % 3 ? 0.7f + 0.1f * (job % 4) : 0.0f;
	p->top_k = job % 2 ? 0 : 50;
	p->seed = 1000 + job;
}

/* One client process: 4 contexts, 4 concurrent decodes, all read through one wait call. */
static int client(const char *uri, int proc, int out_fd)
{
	struct hc_stream *s[N_CTX];
	struct hc_ctx *ctx[N_CTX];
	int32_t toks[N_CTX][N_TOK], prompt[5];
	uint32_t n[N_CTX] = { 0 };
	struct hc_card *card;
	int i, done = 0;

	if (hc_open(uri, &card))
		return 10;
	for (i = 0; i < N_CTX; i++) {
		struct t_ref_params p;
		struct hc_decode_params dp = { 0 };
		int job = proc * N_CTX + i;

		job_prompt(job, prompt);
		job_params(job, &p);
		dp.max_tokens = p.max_tokens;
		dp.temperature = p.temperature;
		dp.top_k = p.top_k;
		dp.seed = p.seed;
		dp.ring_entries = i % 2 ? 8 : 0;	/* some rings far smaller than the output */
		if (hc_ctx_create(card, &ctx[i]) || hc_ctx_prefill_tokens(ctx[i], prompt, 5) ||
		    hc_ctx_decode(ctx[i], &dp, &s[i]))
			return 11;
	}
	while (done < N_CTX) {
		done = 0;
		for (i = 0; i < N_CTX; i++) {
			const uint32_t *t;
			unsigned k, j;

			while ((k = hc_stream_peek(s[i], &t))) {
				for (j = 0; j < k; j++) {
					if (n[i] == N_TOK)
						return 12;	/* more than asked for */
					toks[i][n[i]++] = (int32_t)t[j];
				}
				hc_stream_advance(s[i], k);
			}
			done += hc_stream_status(s[i], NULL) == 1;
		}
		if (done < N_CTX && hc_stream_wait(s, N_CTX, -1) < 0)
			return 13;
	}
	for (i = 0; i < N_CTX; i++) {
		if (write(out_fd, &n[i], sizeof(n[i])) != sizeof(n[i]) ||
		    write(out_fd, toks[i], n[i] * sizeof(int32_t)) != (ssize_t)(n[i] * sizeof(int32_t)))
			return 14;
		hc_stream_free(s[i]);
		hc_ctx_destroy(ctx[i]);
	}
	hc_close(card);
	return 0;
}

static int read_full(int fd, void *buf, size_t len)
{
	size_t got = 0;
	ssize_t r;

	while (got < len) {
		r = read(fd, (char *)buf + got, len - got);
		if (r <= 0)
			return -1;
		got += r;
	}
	return 0;
}

START_TEST(test_4_clients_x_4_contexts)
{
	int32_t want[N_PROC * N_CTX][N_TOK], got[N_TOK], prompt[5];
	int pipes[N_PROC][2], i, c, st;
	pid_t pids[N_PROC];
	struct t_emud e;
	char rom[256];
	uint32_t nw[N_PROC * N_CTX], n;

	t_bake("tiny", 1, rom, sizeof(rom));
	for (i = 0; i < N_PROC * N_CTX; i++) {
		struct t_ref_params p;

		job_prompt(i, prompt);
		job_params(i, &p);
		nw[i] = t_reference(rom, prompt, 5, &p, want[i]);
	}
	T_EMUD_START(&e, rom, NULL);
	for (i = 0; i < N_PROC; i++) {
		ck_assert_int_eq(pipe(pipes[i]), 0);
		pids[i] = fork();
		ck_assert_int_ge(pids[i], 0);
		if (pids[i] == 0) {
			close(pipes[i][0]);
			_exit(client(e.uri, i, pipes[i][1]));
		}
		close(pipes[i][1]);
	}
	for (i = 0; i < N_PROC; i++) {
		for (c = 0; c < N_CTX; c++) {
			int job = i * N_CTX + c, k;

			ck_assert_msg(read_full(pipes[i][0], &n, sizeof(n)) == 0,
				      "client %d died", i);
			ck_assert_uint_le(n, N_TOK);
			ck_assert_int_eq(read_full(pipes[i][0], got, n * sizeof(int32_t)), 0);
			ck_assert_msg(n == nw[job], "job %d: %u tokens, solo run %u", job, n, nw[job]);
			for (k = 0; k < (int)n; k++)
				ck_assert_msg(got[k] == want[job][k],
					      "job %d token %d: %d, solo run %d", job, k, got[k],
					      want[job][k]);
		}
		close(pipes[i][0]);
		ck_assert_int_eq(waitpid(pids[i], &st, 0), pids[i]);
		ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0, "client %d: status %d", i,
			      WEXITSTATUS(st));
	}
	t_emud_stop(&e);
}
END_TEST

/* Poll the register page until @want contexts are in use card-wide (liveness bound only). */
static uint64_t wait_contexts(struct hc_card *card, uint64_t want)
{
	struct hc_telemetry t;
	int i;

	for (i = 0; i < 3000; i++) {
		ck_assert_int_eq(hc_card_telemetry(card, &t), 0);
		if (t.contexts_in_use == want)
			break;
		usleep(10000);
	}
	return t.contexts_in_use;
}

START_TEST(test_killed_client_frees_contexts)
{
	static const int32_t prompt[] = { 1, 44, 55, 66 };
	struct t_ref_params p = { .max_tokens = 24, .temperature = 0.5f, .seed = 5 };
	int32_t want[32], got[32];
	struct hc_stream_status st;
	struct hc_telemetry t0, t1;
	struct hc_card *card;
	struct t_emud e;
	char rom[256], ready;
	int fds[2], status;
	uint32_t n;
	pid_t pid;

	t_bake("tiny", 1, rom, sizeof(rom));
	T_EMUD_START(&e, rom, NULL);
	ck_assert_int_eq(hc_open(e.uri, &card), 0);
	ck_assert_int_eq(hc_card_telemetry(card, &t0), 0);
	ck_assert_uint_eq(t0.contexts_in_use, 0);
	ck_assert_int_eq(pipe(fds), 0);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		struct hc_decode_params dp = { .max_tokens = 400, .ring_entries = 8 };
		struct hc_card *c2;
		struct hc_ctx *ctx[3];
		struct hc_stream *s;
		int i;

		if (hc_open(e.uri, &c2))
			_exit(1);
		for (i = 0; i < 3; i++)
			if (hc_ctx_create(c2, &ctx[i]) || hc_ctx_prefill_tokens(ctx[i], prompt, 4))
				_exit(2);
		/* a decode stuck on a full ring that is never read: the card pauses it */
		if (hc_ctx_decode(ctx[0], &dp, &s))
			_exit(3);
		if (write(fds[1], "r", 1) != 1)
			_exit(4);
		pause();
		_exit(0);
	}
	close(fds[1]);
	ck_assert_int_eq(read(fds[0], &ready, 1), 1);
	ck_assert_uint_eq(wait_contexts(card, 3), 3);
	ck_assert_int_eq(hc_card_telemetry(card, &t1), 0);
	{
		/* hc-emud counts its connections; a PCI card reports 1 (struct hc_telemetry) */
		enum hc_backend be;

		ck_assert_int_eq(hc_parse_uri(e.uri, &be, NULL, 0), 0);
		ck_assert_uint_ge(t1.clients, be == HC_BACKEND_EMU ? 2 : 1);
	}
	kill(pid, SIGKILL);
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	close(fds[0]);
	ck_assert_uint_eq(wait_contexts(card, 0), 0);
	/* the daemon keeps serving the survivor exactly */
	n = t_reference(rom, prompt, 4, &p, want);
	ck_assert_uint_eq(t_generate(card, prompt, 4, &p, got, &st), n);
	ck_assert_int_eq(memcmp(got, want, n * sizeof(*got)), 0);
	hc_close(card);
	t_emud_stop(&e);
}
END_TEST

START_TEST(test_guessed_context_ids_fail)
{
	static const int32_t prompt[] = { 1, 9, 8, 7 };
	struct t_ref_params p = { .max_tokens = 16 };
	struct hc_decode_params dp = { .max_tokens = 16 };
	struct hc_card *a, *b;
	struct hc_ctx *ctx;
	struct hc_stream *s;
	struct hc_qp *qp;
	struct t_emud e;
	struct hc_cqe cqe;
	uint64_t tok_off;
	int32_t want[16];
	uint32_t got[16], id, n = 0;
	char rom[256];
	int r, op;
	static const uint8_t ops[] = { HC_OP_PREFILL, HC_OP_DECODE, HC_OP_CANCEL,
				       HC_OP_RESET_CONTEXT, HC_OP_CONTEXT_CLOSE };

	T_NEED_OWN_DAEMON("raw descriptors on the socket transport's own queue pair "
			  "(the driver suite's t_20_uapi covers other processes' handles)");
	t_bake("tiny", 1, rom, sizeof(rom));
	T_EMUD_START(&e, rom, NULL);
	ck_assert_int_eq(hc_open(e.uri, &a), 0);
	ck_assert_int_eq(hc_open(e.uri, &b), 0);
	ck_assert_int_eq(hc_ctx_create(a, &ctx), 0);
	ck_assert_int_eq(hc_ctx_prefill_tokens(ctx, prompt, 4), 0);

	/* client b submits raw descriptors naming a's context id (and every small id) */
	ck_assert_int_eq(hc__qp_get(b, &qp), 0);
	ck_assert_int_eq(hc__mem_alloc(b, 4096, &tok_off), 0);
	memcpy(b->mem + tok_off, prompt, sizeof(prompt));
	for (id = 0; id <= 70; id++) {
		for (op = 0; op < (int)sizeof(ops); op++) {
			struct hc_sqe sqe = { .opcode = ops[op], .ctx_id = id };

			if (ops[op] == HC_OP_PREFILL) {
				sqe.prefill.tokens_offset = tok_off;
				sqe.prefill.n_tokens = 4;
			} else if (ops[op] == HC_OP_DECODE) {
				sqe.decode.stream_offset = tok_off + 1024;
				sqe.decode.stream_entries = 16;
				sqe.decode.max_tokens = 4;
			}
			ck_assert_int_eq(hc__exec(b, qp, &sqe, &cqe), 0);
			ck_assert_msg(cqe.status == HC_STATUS_ERROR &&
				      cqe.reason == HC_REASON_BAD_CONTEXT,
				      "op %u on id %u: status %u reason %u", ops[op], id, cqe.status,
				      cqe.reason);
		}
	}
	/* a's context is untouched: its decode is exactly the solo run */
	ck_assert_uint_eq(t_reference(rom, prompt, 4, &p, want), 16);
	ck_assert_int_eq(hc_ctx_decode(ctx, &dp, &s), 0);
	while ((r = hc_stream_read(s, got + n, 16 - n)) > 0)
		n += r;
	ck_assert_int_eq(r, 0);
	ck_assert_uint_eq(n, 16);
	ck_assert_int_eq(memcmp(got, want, sizeof(got)), 0);
	hc_stream_free(s);
	hc_ctx_destroy(ctx);
	hc__mem_free(b, tok_off, 4096);
	hc__qp_put(b, qp);
	hc_close(b);
	hc_close(a);
	t_emud_stop(&e);
}
END_TEST

/* One card handle shared by 8 threads (more contexts than queue pairs: QPs are shared). */
struct thr {
	struct hc_card *card;
	int job;
	int32_t got[N_TOK];
	uint32_t n;
	int err;
};

static void *thread_main(void *arg)
{
	struct thr *t = arg;
	struct t_ref_params p;
	struct hc_decode_params dp = { 0 };
	struct hc_stream *s;
	struct hc_ctx *ctx;
	int32_t prompt[5];
	int r;

	job_prompt(t->job, prompt);
	job_params(t->job, &p);
	dp.max_tokens = p.max_tokens;
	dp.temperature = p.temperature;
	dp.top_k = p.top_k;
	dp.seed = p.seed;
	dp.ring_entries = t->job % 2 ? 4 : 0;
	if ((t->err = hc_ctx_create(t->card, &ctx)))
		return NULL;
	if ((t->err = hc_ctx_prefill_tokens(ctx, prompt, 5)) ||
	    (t->err = hc_ctx_decode(ctx, &dp, &s))) {
		hc_ctx_destroy(ctx);
		return NULL;
	}
	while ((r = hc_stream_read(s, (uint32_t *)t->got + t->n, N_TOK - t->n)) > 0)
		t->n += r;
	t->err = r;
	hc_stream_free(s);
	hc_ctx_destroy(ctx);
	return NULL;
}

START_TEST(test_threads_share_a_card)
{
	struct thr t[8];
	pthread_t th[8];
	int32_t want[N_TOK], prompt[5];
	struct hc_card_info info;
	struct hc_card *card;
	struct t_emud e;
	char rom[256];
	int i;

	t_bake("tiny", 1, rom, sizeof(rom));
	T_EMUD_START(&e, rom, NULL);
	ck_assert_int_eq(hc_open(e.uri, &card), 0);
	ck_assert_int_eq(hc_card_info(card, &info), 0);
	ck_assert_uint_lt(info.n_queue_pairs, 8);	/* some threads share a queue pair */
	for (i = 0; i < 8; i++) {
		memset(&t[i], 0, sizeof(t[i]));
		t[i].card = card;
		t[i].job = i;
		ck_assert_int_eq(pthread_create(&th[i], NULL, thread_main, &t[i]), 0);
	}
	for (i = 0; i < 8; i++) {
		struct t_ref_params p;
		uint32_t nw;

		ck_assert_int_eq(pthread_join(th[i], NULL), 0);
		ck_assert_msg(t[i].err == 0, "thread %d: %s", i, hc_strerror(t[i].err));
		job_prompt(i, prompt);
		job_params(i, &p);
		nw = t_reference(rom, prompt, 5, &p, want);
		ck_assert_uint_eq(t[i].n, nw);
		ck_assert_int_eq(memcmp(t[i].got, want, nw * sizeof(*want)), 0);
	}
	hc_close(card);
	t_emud_stop(&e);
}
END_TEST

/* One hc_stream_wait over streams of two cards (two daemons): one-shot polls path. */
START_TEST(test_wait_across_cards)
{
	struct t_emud e1, e2;
	struct hc_card *c[2];
	struct hc_ctx *ctx[2];
	struct hc_stream *s[2];
	int32_t want[2][N_TOK], got[2][N_TOK], prompt[5];
	uint32_t n[2] = { 0, 0 }, nw[2];
	char rom[256];
	int i, done = 0;

	t_bake("tiny", 1, rom, sizeof(rom));
	T_EMUD_START(&e1, rom, NULL);
	T_EMUD_START(&e2, rom, NULL);
	ck_assert_int_eq(hc_open(e1.uri, &c[0]), 0);
	ck_assert_int_eq(hc_open(e2.uri, &c[1]), 0);
	for (i = 0; i < 2; i++) {
		struct t_ref_params p;
		struct hc_decode_params dp = { 0 };

		job_prompt(7 + i, prompt);
		job_params(7 + i, &p);
		nw[i] = t_reference(rom, prompt, 5, &p, want[i]);
		dp.max_tokens = p.max_tokens;
		dp.temperature = p.temperature;
		dp.top_k = p.top_k;
		dp.seed = p.seed;
		dp.ring_entries = 4;
		ck_assert_int_eq(hc_ctx_create(c[i], &ctx[i]), 0);
		ck_assert_int_eq(hc_ctx_prefill_tokens(ctx[i], prompt, 5), 0);
		ck_assert_int_eq(hc_ctx_decode(ctx[i], &dp, &s[i]), 0);
	}
	while (done < 2) {
		done = 0;
		for (i = 0; i < 2; i++) {
			const uint32_t *t;
			unsigned k;

			while ((k = hc_stream_peek(s[i], &t))) {
				ck_assert_uint_le(n[i] + k, N_TOK);
				memcpy(got[i] + n[i], t, k * sizeof(*t));
				n[i] += k;
				hc_stream_advance(s[i], k);
			}
			done += hc_stream_status(s[i], NULL) == 1;
		}
		if (done < 2)
			ck_assert_int_ge(hc_stream_wait(s, 2, -1), 0);
	}
	for (i = 0; i < 2; i++) {
		ck_assert_uint_eq(n[i], nw[i]);
		ck_assert_int_eq(memcmp(got[i], want[i], n[i] * sizeof(int32_t)), 0);
		hc_stream_free(s[i]);
		hc_ctx_destroy(ctx[i]);
		hc_close(c[i]);
	}
	t_emud_stop(&e1);
	t_emud_stop(&e2);
}
END_TEST

static Suite *clients_suite(void)
{
	Suite *s = suite_create("libhc_clients");
	TCase *tc = hc_tcase(s, "clients", 600);

	tcase_add_test(tc, test_4_clients_x_4_contexts);
	tcase_add_test(tc, test_killed_client_frees_contexts);
	tcase_add_test(tc, test_guessed_context_ids_fail);
	tcase_add_test(tc, test_threads_share_a_card);
	tcase_add_test(tc, test_wait_across_cards);
	return s;
}

HC_TEST_MAIN(clients_suite)
