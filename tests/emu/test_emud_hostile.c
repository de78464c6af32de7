// SPDX-License-Identifier: MIT
/*
 * hc-emud against hostile and broken clients, through the raw card interface: random and
 * malformed SQEs, garbage in a client's own card memory and queue-pair registers, a client
 * killed mid-stream; and isolation between clients (context ids, memory offsets, the memfd,
 * /proc/<hc-emud>/fd); clients that try to freeze the daemon through their doorbell and
 * interrupt descriptors. Whatever one client does, the daemon keeps serving the others, and
 * exactly. One daemon (emud_fixture.h) serves the program; the /proc test starts its own.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>
#include "emud_fixture.h"
#include "hc_test.h"

/* Random bytes as SQEs: every one gets an error CQE, and the card keeps serving. */
START_TEST(test_garbage_sqes)
{
	struct tc a, b;
	struct hc_cqe e;
	unsigned seed = 1234;
	uint32_t i, k, n_err = 0;

	REQUIRE_DAEMON();
	connect_qp(&a);
	for (k = 0; k < 8; k++) {
		for (i = 0; i < 64; i++) {
			unsigned char *p = hc_ring_prod_entry(&a.sq, i);
			uint32_t j;

			for (j = 0; j < sizeof(struct hc_sqe); j++)
				p[j] = (unsigned char)rand_r(&seed);
			if (k & 1)	/* half of them with a plausible opcode and zero flags */
				p[0] = (unsigned char)(i % 10), p[1] = p[2] = p[3] = 0;
		}
		hc_ring_prod_publish(&a.sq, 64);
		tc_ring(&a, HC_DOORBELL_QP(0));
		for (i = 0; i < 64; i++) {
			ck_assert_int_eq(tc_cqe(&a, &e, TC_HANG_MS), 0);
			ck_assert_uint_eq(e.status, HC_STATUS_ERROR);
			ck_assert(e.reason >= HC_REASON_BAD_OPCODE && e.reason <= HC_REASON_BAD_STATE);
			n_err++;
		}
	}
	ck_assert_uint_eq(n_err, 512);
	/* specific malformed ones, each with its reason */
	{
		struct hc_sqe s;
		struct { uint8_t op; uint32_t ctx; int field; uint16_t reason; } cases[] = {
			{ 200, 0, 0, HC_REASON_BAD_OPCODE },
			{ HC_OP_NOP, 3, 0, HC_REASON_BAD_DESCRIPTOR },
			{ HC_OP_NOP, 0, 1, HC_REASON_BAD_DESCRIPTOR },		/* flags */
			{ HC_OP_NOP, 0, 2, HC_REASON_BAD_DESCRIPTOR },		/* args */
			{ HC_OP_CONTEXT_OPEN, 0, 3, HC_REASON_BAD_DESCRIPTOR },	/* max_ctx */
			{ HC_OP_DECODE, 0, 0, HC_REASON_BAD_CONTEXT },
		};

		for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
			memset(&s, 0, sizeof(s));
			s.opcode = cases[i].op;
			s.ctx_id = cases[i].ctx;
			s.user_data = 77 + i;
			if (cases[i].field == 1)
				s.flags = 0x80;
			if (cases[i].field == 2)
				s.args[13] = 1;
			if (cases[i].field == 3)
				s.open.max_ctx = 1u << 30;
			tc_submit(&a, &s);
			ck_assert_int_eq(tc_cqe(&a, &e, TC_HANG_MS), 0);
			ck_assert_uint_eq(e.user_data, 77 + i);
			ck_assert_uint_eq(e.status, HC_STATUS_ERROR);
			ck_assert_uint_eq(e.reason, cases[i].reason);
			ck_assert_uint_eq(e.aux, cases[i].op);
		}
	}
	/* valid but extreme sampling parameters: tokens stay in range, nothing breaks */
	{
		const float temps[] = { 1e-38f, 1e-30f, 1e30f, 3.4e38f, 0.0f };
		const float tops[] = { 1e-38f, 0.5f, 1.0f, 3.4e38f, 0.0f };
		uint32_t ctx = open_prefill(&a, 0, prompt, PROMPT_N), t;

		for (t = 0; t < 5; t++) {
			struct tc_decode dd = { .temperature = temps[t], .top_p = tops[t],
						.top_k = t & 1 ? 0xffffffffu : t, .seed = ~0ull,
						.step_base = ~0ull - 2, .max_tokens = 6 };
			struct gen gg;

			gen_start(&a, &gg, ctx, 4, &dd);
			pump(&a, &gg, 1);
			ck_assert_uint_eq(gg.cqe.status, HC_STATUS_DONE_MAX_TOKENS);
			for (i = 0; i < gg.n; i++)
				ck_assert_uint_lt(gg.out[i], a.regs->vocab_size);
		}
		e = tc_sync(&a, HC_OP_CONTEXT_CLOSE, ctx);
		ck_assert_uint_eq(e.status, HC_STATUS_OK);
	}
	/* the same client still works, and so does another one */
	e = tc_sync(&a, HC_OP_NOP, 0);
	ck_assert_uint_eq(e.status, HC_STATUS_OK);
	connect_qp(&b);
	ck_assert_uint_ne(open_prefill(&b, 0, prompt, PROMPT_N), 0);
	e = tc_sync(&b, HC_OP_NOP, 0);
	ck_assert_uint_eq(e.status, HC_STATUS_OK);

	/* a corrupt SQ tail stops that queue pair only; it can be set up again */
	hc_ring_store_release(&a.sq.hdr->tail, a.sq.local + 100000);
	tc_ring(&a, HC_DOORBELL_QP(0));
	{
		uint64_t t0 = tc_ms();

		while (hc_ring_load(&a.regs->qp[0].state) != HC_QP_STATE_ERROR &&
		       tc_ms() - t0 < TC_HANG_MS)
			tc_nap();
	}
	ck_assert_uint_eq(hc_ring_load(&a.regs->qp[0].state), HC_QP_STATE_ERROR);
	ck_assert_uint_eq(hc_ring_load(&a.regs->qp[0].error), HC_REASON_BAD_RING);
	ck_assert_uint_eq(tc_qp_setup(&a, 0, 16, 16, 1), HC_QP_STATE_ENABLED);
	e = tc_sync(&a, HC_OP_NOP, 0);
	ck_assert_uint_eq(e.status, HC_STATUS_OK);
	tc_close(&a);
	tc_close(&b);
}
END_TEST

/*
 * Chaos: while its decodes run, a client scribbles random bytes all over its own card memory
 * (register page, rings, streams, SQEs in flight) and rings random doorbells. The daemon
 * must neither crash nor disturb another client.
 */
START_TEST(test_memory_chaos)
{
	struct tc_decode d = { .temperature = 0.9f, .seed = 3, .max_tokens = 40 };
	uint32_t want[40], ctx, i, k;
	unsigned seed = 4242;
	uint64_t toks;
	struct ref r;
	struct tc a, b;
	struct gen g;
	int32_t stop;

	REQUIRE_DAEMON();
	ref_open(&r);
	ck_assert_uint_eq(ref_generate(&r, 0, prompt, PROMPT_N, &d, 40, want, &stop), 40);
	connect_qp(&b);
	ctx = open_prefill(&b, 0, prompt, PROMPT_N);
	connect_qp(&a);
	toks = tc_alloc(&a, sizeof(prompt));
	memcpy(a.mem + toks, prompt, sizeof(prompt));
	for (k = 0; k < 20; k++) {
		/* never wait on A: its rings may be wrecked; open, prefill, decode blindly */
		struct hc_sqe s[3];
		uint64_t st = tc_stream(&a, 16);

		memset(s, 0, sizeof(s));
		s[0].opcode = HC_OP_CONTEXT_OPEN;
		s[1].opcode = HC_OP_PREFILL;
		s[1].ctx_id = k / 2 + 1;
		s[1].prefill.tokens_offset = toks;
		s[1].prefill.n_tokens = PROMPT_N;
		s[2].opcode = HC_OP_DECODE;
		s[2].ctx_id = k / 2 + 1;
		s[2].decode.stream_offset = st;
		s[2].decode.stream_entries = 16;
		s[2].decode.max_tokens = 300;
		s[2].decode.seed = k;
		for (i = 0; i < 3 && st; i++) {
			if (hc_ring_prod_space(&a.sq) <= 0)
				break;
			memcpy(hc_ring_prod_entry(&a.sq, 0), &s[i], sizeof(s[i]));
			hc_ring_prod_publish(&a.sq, 1);
		}
		tc_ring(&a, HC_DOORBELL_QP(0));
		for (i = 0; i < 300; i++) {
			uint64_t off = (uint64_t)rand_r(&seed) % (a.brk + 64);
			uint32_t n = 1 + (uint32_t)rand_r(&seed) % 16, j;

			if (k < 10 && off < a.regs->data_offset)
				continue;	/* first rings and streams, later everything */
			for (j = 0; j < n && off + j < a.mem_size; j++)
				a.mem[off + j] = (unsigned char)rand_r(&seed);
			if (i % 7 == 0)
				tc_ring(&a, (uint32_t)rand_r(&seed) % a.n_db);
		}
	}
	/* B is served as if nothing happened */
	gen_start(&b, &g, ctx, 8, &d);
	pump(&b, &g, 1);
	ck_assert_uint_eq(g.n, 40);
	ck_assert_int_eq(memcmp(g.out, want, sizeof(want)), 0);
	tc_close(&a);
	tc_close(&b);
	ref_close(&r);
}
END_TEST

/* Garbage in the register page's queue-pair registers and bad configurations. */
START_TEST(test_bad_qp_config)
{
	struct tc a, b;
	unsigned seed = 99;
	uint32_t i, q;

	REQUIRE_DAEMON();
	ck_assert_int_eq(tc_connect(&a, emud.sock, 0), 0);
	ck_assert_uint_eq(tc_qp_setup(&a, 1, 3, 16, 1), HC_QP_STATE_ERROR);	/* not pow2 */
	ck_assert_uint_eq(a.regs->qp[1].error, HC_REASON_BAD_RING);
	ck_assert_uint_eq(tc_qp_setup(&a, 1, 1u << 20, 16, 1), HC_QP_STATE_ERROR);
	/* ring beyond the end of card memory */
	a.brk = a.mem_size - 64;
	ck_assert_uint_eq(tc_qp_setup(&a, 1, 16, 16, 1), HC_QP_STATE_ERROR);
	a.brk = a.regs->data_offset;
	ck_assert_uint_eq(a.regs->qp[1].error, HC_REASON_BAD_OFFSET);
	for (i = 0; i < 200; i++) {
		unsigned char *p = (unsigned char *)&a.regs->qp[i % a.regs->n_queue_pairs];
		uint32_t j;

		for (j = 0; j < 64; j++)
			p[j] = (unsigned char)rand_r(&seed);
		tc_ring(&a, HC_DOORBELL_CONTROL);
		tc_ring(&a, (uint32_t)rand_r(&seed) % a.n_db);
	}
	/* trash the rest of the register page too (card-written fields included) */
	for (i = 0; i < HC_CARD_REGS_SIZE; i++)
		if (i < offsetof(struct hc_card_regs, reset_request) ||
		    i >= offsetof(struct hc_card_regs, telemetry))
			a.mem[i] = (unsigned char)rand_r(&seed);
	tc_ring(&a, HC_DOORBELL_CONTROL);
	connect_qp(&b);
	for (q = 0; q < 3; q++) {
		struct hc_cqe e = tc_sync(&b, HC_OP_NOP, 0);

		ck_assert_uint_eq(e.status, HC_STATUS_OK);
	}
	tc_close(&a);
	tc_close(&b);
}
END_TEST

/* A client killed mid-stream: its contexts are freed, the others carry on. */
START_TEST(test_client_killed)
{
	struct tc_decode d = { .temperature = 0.6f, .seed = 11, .max_tokens = 30 };
	uint32_t want[30], ctx;
	struct ref r;
	struct tc b;
	struct gen g;
	int32_t stop;
	uint64_t base;
	int pfd[2];
	pid_t child;
	char ch;

	REQUIRE_DAEMON();
	ref_open(&r);
	ck_assert_uint_eq(ref_generate(&r, 0, prompt, PROMPT_N, &d, 30, want, &stop), 30);
	connect_qp(&b);
	ctx = open_prefill(&b, 0, prompt, PROMPT_N);
	{
		uint64_t t0 = tc_ms();

		while (TELE(&b, contexts_in_use) < 1 && tc_ms() - t0 < TC_HANG_MS)
			tc_nap();	/* mirrored every few ms */
	}
	base = TELE(&b, contexts_in_use);
	ck_assert_uint_ge(base, 1);

	ck_assert_int_eq(pipe(pfd), 0);
	child = fork();
	ck_assert_int_ge(child, 0);
	if (child == 0) {
		struct tc a;
		struct gen ga[3];
		int i;

		if (tc_connect(&a, emud.sock, 0) || tc_qp_setup(&a, 0, 64, 64, 1) !=
		    HC_QP_STATE_ENABLED)
			_exit(1);
		for (i = 0; i < 3; i++) {
			uint32_t cx = tc_open(&a, 0);
			struct hc_cqe e;

			tc_prefill(&a, cx, prompt, PROMPT_N);
			if (!cx || tc_cqe(&a, &e, TC_HANG_MS) || e.status != HC_STATUS_OK)
				_exit(1);
			gen_start(&a, &ga[i], cx, 4, &d);	/* never read: they pause */
		}
		while (hc_ring_load_acquire(&ga[2].r.hdr->tail) < 4)
			tc_nap();
		if (write(pfd[1], "x", 1) != 1)
			_exit(1);
		for (;;)
			pause();
	}
	close(pfd[1]);
	ck_assert_int_eq(read(pfd[0], &ch, 1), 1);
	close(pfd[0]);
	WAIT_TELE_EQ(&b, contexts_in_use, base + 3);
	kill(child, SIGKILL);
	ck_assert_int_eq(waitpid(child, NULL, 0), child);
	WAIT_TELE_EQ(&b, contexts_in_use, base);
	/* B was not disturbed */
	gen_start(&b, &g, ctx, 8, &d);
	pump(&b, &g, 1);
	ck_assert_uint_eq(g.n, 30);
	ck_assert_int_eq(memcmp(g.out, want, sizeof(want)), 0);
	tc_close(&b);
	ref_close(&r);
}
END_TEST

/* Client B can reach neither client A's contexts nor its memory. */
START_TEST(test_isolation)
{
	struct tc_decode d = { .temperature = 0.8f, .seed = 21, .max_tokens = 25 };
	uint32_t want[25], ctx_a, ctx_b, id;
	struct hc_cqe e;
	struct stat sa, sb;
	struct ref r;
	struct tc a, b;
	struct gen g;
	int32_t stop;
	uint32_t i;

	REQUIRE_DAEMON();
	ref_open(&r);
	ck_assert_uint_eq(ref_generate(&r, 0, prompt, PROMPT_N, &d, 25, want, &stop), 25);
	connect_qp(&a);
	ctx_a = open_prefill(&a, 0, prompt, PROMPT_N);
	connect_qp(&b);
	ck_assert_uint_ne(a.id, b.id);

	/* B guesses context ids: none of A's exist in B's namespace */
	for (id = 0; id <= a.regs->max_contexts + 2; id++) {
		static const uint8_t ops[] = { HC_OP_RESET_CONTEXT, HC_OP_CANCEL,
					       HC_OP_CONTEXT_CLOSE };

		e = tc_sync(&b, ops[id % 3], id);
		ck_assert_uint_eq(e.status, HC_STATUS_ERROR);
		ck_assert_uint_eq(e.reason, HC_REASON_BAD_CONTEXT);
	}
	e = tc_sync(&b, HC_OP_CONTEXT_CLOSE, 0xffffffffu);
	ck_assert_uint_eq(e.reason, HC_REASON_BAD_CONTEXT);

	/* B's own context may get the same number as A's; it is a different one */
	ctx_b = open_prefill(&b, 0, prompt, 2);
	e = tc_sync(&b, HC_OP_RESET_CONTEXT, ctx_b);
	ck_assert_uint_eq(e.status, HC_STATUS_OK);
	e = tc_sync(&b, HC_OP_CONTEXT_CLOSE, ctx_b);
	ck_assert_uint_eq(e.status, HC_STATUS_OK);

	/* offsets outside B's own data memory */
	{
		const uint64_t offs[] = { 0, 64, b.regs->data_offset - 4, b.mem_size,
					  b.mem_size - 4, ~0ull - 3, ~0ull & ~3ull,
					  b.regs->data_offset + 2 };
		struct hc_sqe s;

		ctx_b = tc_open(&b, 0);
		ck_assert_uint_ne(ctx_b, 0);
		for (i = 0; i < sizeof(offs) / sizeof(offs[0]); i++) {
			memset(&s, 0, sizeof(s));
			s.opcode = HC_OP_PREFILL;
			s.ctx_id = ctx_b;
			s.user_data = 500 + i;
			s.prefill.tokens_offset = offs[i];
			s.prefill.n_tokens = 2;
			tc_submit(&b, &s);
			ck_assert_int_eq(tc_cqe(&b, &e, TC_HANG_MS), 0);
			ck_assert_uint_eq(e.status, HC_STATUS_ERROR);
			ck_assert_uint_eq(e.reason, HC_REASON_BAD_OFFSET);

			memset(&s, 0, sizeof(s));
			s.opcode = HC_OP_DECODE;
			s.ctx_id = ctx_b;
			s.user_data = 600 + i;
			s.decode.stream_offset = offs[i];
			s.decode.stream_entries = 4;
			s.decode.max_tokens = 1;
			tc_submit(&b, &s);
			ck_assert_int_eq(tc_cqe(&b, &e, TC_HANG_MS), 0);
			ck_assert_uint_eq(e.reason, HC_REASON_BAD_OFFSET);
		}
		/* the tokenizer blob between the register page and data_offset is off limits */
		if (b.regs->caps & HC_CAP_TOKENIZER) {
			ck_assert_uint_ge(b.regs->data_offset,
					  b.regs->tokenizer_offset + b.regs->tokenizer_size);
			memset(&s, 0, sizeof(s));
			s.opcode = HC_OP_PREFILL;
			s.ctx_id = ctx_b;
			s.prefill.tokens_offset = b.regs->tokenizer_offset;
			s.prefill.n_tokens = 1;
			tc_submit(&b, &s);
			ck_assert_int_eq(tc_cqe(&b, &e, TC_HANG_MS), 0);
			ck_assert_uint_eq(e.reason, HC_REASON_BAD_OFFSET);
		}
		/* a token array that runs past the end */
		memset(&s, 0, sizeof(s));
		s.opcode = HC_OP_PREFILL;
		s.ctx_id = ctx_b;
		s.prefill.tokens_offset = b.mem_size - 8;
		s.prefill.n_tokens = 3;
		tc_submit(&b, &s);
		ck_assert_int_eq(tc_cqe(&b, &e, TC_HANG_MS), 0);
		ck_assert_uint_eq(e.reason, HC_REASON_BAD_OFFSET);
		/* token ids out of range */
		{
			int32_t bad[2] = { 1, (int32_t)r.vocab };

			tc_prefill(&b, ctx_b, bad, 2);
			ck_assert_int_eq(tc_cqe(&b, &e, TC_HANG_MS), 0);
			ck_assert_uint_eq(e.reason, HC_REASON_BAD_TOKEN);
		}
	}

	/* B's memory is its own object: another inode, sealed against resizing */
	ck_assert_int_eq(fstat(a.memfd, &sa), 0);
	ck_assert_int_eq(fstat(b.memfd, &sb), 0);
	ck_assert(sa.st_ino != sb.st_ino || sa.st_dev != sb.st_dev);
	ck_assert_int_ne(ftruncate(b.memfd, (off_t)b.mem_size * 2), 0);
	ck_assert_int_ne(ftruncate(b.memfd, 4096), 0);
	memset(b.mem + b.regs->data_offset, 0x5a, 4096);
	ck_assert_uint_ne(a.mem[a.regs->data_offset + 4095], 0x5a);

	/* and A's context is untouched by all of this */
	gen_start(&a, &g, ctx_a, 8, &d);
	pump(&a, &g, 1);
	ck_assert_uint_eq(g.n, 25);
	ck_assert_int_eq(memcmp(g.out, want, sizeof(want)), 0);
	tc_close(&a);
	tc_close(&b);
	ref_close(&r);
}
END_TEST

/*
 * Another process of the daemon's own user cannot map a client's card memory through
 * /proc/<hc-emud>/fd either (the daemon is not dumpable). Needs root to switch users.
 */
START_TEST(test_proc_fd_isolation)
{
	char dir[160], sock[200], log[200], path[300];
	const uid_t nobody = 65534;
	struct stat sa;
	struct tc a;
	pid_t pid, child;
	int st;

	REQUIRE_DAEMON();
	if (geteuid() != 0)
		HC_SKIP("needs root to run the daemon and a client as another user");
	snprintf(dir, sizeof(dir), "%s/nobody", emud.dir);
	snprintf(sock, sizeof(sock), "%s/emud.sock", dir);
	snprintf(log, sizeof(log), "%s/emud.log", dir);
	ck_assert_int_eq(mkdir(dir, 0777), 0);
	ck_assert_int_eq(chmod(dir, 0777), 0);
	ck_assert_int_eq(chmod(emud.dir, 0755), 0);
	ck_assert_int_eq(chmod(emud.rom, 0644), 0);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		int fd = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0644);

		if (fd < 0 || dup2(fd, 2) < 0 || setgid(nobody) || setuid(nobody))
			_exit(126);
		execl(emud_bin(), "hc-emud", "--rom", emud.rom, "--socket", sock, (char *)NULL);
		_exit(127);
	}
	{
		uint64_t t0 = tc_ms();
		int fd;

		int st;

		while ((fd = tc_sock_connect(sock)) < 0 && tc_ms() - t0 < TC_HANG_MS) {
			/* the build tree may be private (a 0700 temp dir): nobody cannot run it */
			if (waitpid(pid, &st, WNOHANG) == pid && WIFEXITED(st) &&
			    WEXITSTATUS(st) == 127)
				HC_SKIP("user nobody cannot execute %s here", emud_bin());
			tc_nap();
		}
		ck_assert_int_ge(fd, 0);
		close(fd);
	}
	ck_assert_int_eq(tc_connect(&a, sock, 0), 0);
	ck_assert_int_eq(fstat(a.memfd, &sa), 0);
	snprintf(path, sizeof(path), "/proc/%d/fd", (int)pid);

	child = fork();
	ck_assert_int_ge(child, 0);
	if (child == 0) {
		struct tc b;
		DIR *dp;
		struct dirent *de;
		int leaked = 0;

		if (setgid(nobody) || setuid(nobody) || tc_connect(&b, sock, 0))
			_exit(2);
		dp = opendir(path);
		if (!dp)
			_exit(errno == EACCES ? 0 : 3);
		while ((de = readdir(dp))) {
			char p2[600];
			struct stat sx;
			int fd;

			snprintf(p2, sizeof(p2), "%s/%s", path, de->d_name);
			fd = open(p2, O_RDWR);
			if (fd >= 0 && fstat(fd, &sx) == 0 && sx.st_ino == sa.st_ino &&
			    sx.st_dev == sa.st_dev)
				leaked = 1;
			if (fd >= 0)
				close(fd);
		}
		closedir(dp);
		_exit(leaked ? 1 : 0);
	}
	ck_assert_int_eq(waitpid(child, &st, 0), child);
	ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0,
		      "another process of the daemon's user reached client memory (status %d)", st);
	tc_close(&a);
	ck_assert_int_eq(tc_daemon_stop(pid), 0);
}
END_TEST

/*
 * ---- freezes (issue 14) ----
 * A client may do anything with the descriptors it was handed; the daemon must not depend
 * on their blocking mode or counters. Each attack gets a daemon of its own: a frozen one
 * ignores SIGTERM, so it must not be the shared one that every later test needs.
 */
#define FREEZE_MS 10000		/* a daemon answers a hello in milliseconds: frozen after this */

/* A daemon on @sock (and on the ivshmem socket @ivs, when given) for one attack. */
static pid_t freeze_daemon(const char *name, char *sock, size_t len, const char *ivs)
{
	const char *extra[] = { "-t", "2", "-v", ivs ? "--ivshmem" : NULL, ivs, "--ivshmem-mem",
				"4M", NULL };
	char log[200];
	pid_t pid;

	snprintf(sock, len, "%s/%s.sock", emud.dir, name);
	snprintf(log, sizeof(log), "%s/%s.log", emud.dir, name);
	pid = tc_daemon_start(emud.rom, sock, log, extra);
	ck_assert_msg(pid > 0, "hc-emud did not start (see %s)", log);
	return pid;
}

/* Does the daemon at @sock answer a hello within @ms? Waits on the socket only. */
static bool answers_hello(const char *sock, int ms)
{
	struct hc_emu_hello h = { .hdr = { .magic = HC_CARD_MAGIC, .type = HC_EMU_MSG_HELLO,
					   .size = sizeof(h) },
				  .version = HC_EMU_PROTO_VERSION };
	struct pollfd p = { .events = POLLIN };
	bool ok;

	/* connect() completes from the listen backlog even when the daemon is frozen */
	p.fd = tc_sock_connect(sock);
	if (p.fd < 0)
		return false;
	ok = write(p.fd, &h, sizeof(h)) == sizeof(h) && poll(&p, 1, ms) == 1;
	close(p.fd);
	return ok;
}

/* Fail the test if the daemon is frozen, killing it first (it would ignore SIGTERM). */
static void require_alive(pid_t pid, const char *sock, const char *what)
{
	bool alive = answers_hello(sock, FREEZE_MS);

	if (!alive) {
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
	}
	ck_assert_msg(alive, "hc-emud froze %s: no welcome within %d ms", what, FREEZE_MS);
}

/* A well-behaved client gets exactly the reference tokens. */
static void victim_decodes(const char *sock)
{
	struct tc_decode d = { .temperature = 0.7f, .seed = 41, .max_tokens = 20 };
	uint32_t want[20], ctx;
	struct ref r;
	struct tc b;
	struct gen g;
	int32_t stop;

	ref_open(&r);
	ck_assert_uint_eq(ref_generate(&r, 0, prompt, PROMPT_N, &d, 20, want, &stop), 20);
	ck_assert_int_eq(tc_connect(&b, sock, 0), 0);
	ck_assert_uint_eq(tc_qp_setup(&b, 0, 64, 64, 1), HC_QP_STATE_ENABLED);
	ctx = open_prefill(&b, 0, prompt, PROMPT_N);
	gen_start(&b, &g, ctx, 8, &d);
	pump(&b, &g, 1);
	ck_assert_uint_eq(g.cqe.status, HC_STATUS_DONE_MAX_TOKENS);
	ck_assert_uint_eq(g.n, 20);
	ck_assert_int_eq(memcmp(g.out, want, sizeof(want)), 0);
	tc_close(&b);
	ref_close(&r);
}

/* SIGTERM still stops it: wait on its pidfd, bounded; SIGKILL and fail if it does not. */
static void require_sigterm_stops(pid_t pid)
{
	struct pollfd p = { .fd = (int)syscall(SYS_pidfd_open, pid, 0), .events = POLLIN };
	bool gone;
	int st = -1;

	ck_assert_int_ge(p.fd, 0);
	kill(pid, SIGTERM);
	gone = poll(&p, 1, FREEZE_MS) == 1;
	close(p.fd);
	if (!gone)
		kill(pid, SIGKILL);
	ck_assert_int_eq(waitpid(pid, &st, 0), pid);
	ck_assert_msg(gone, "hc-emud ignored SIGTERM for %d ms", FREEZE_MS);
	ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0, "hc-emud exit status %d", st);
}

/*
 * Doorbell freeze: the client makes its doorbells blocking and rings each. A daemon that
 * shares the descriptor's file status flags blocks in its drain loop forever.
 */
START_TEST(test_doorbell_freeze)
{
	char sock[200];
	pid_t pid;
	struct tc a;
	uint32_t i;

	REQUIRE_DAEMON();
	pid = freeze_daemon("doorbell", sock, sizeof(sock), NULL);
	ck_assert_int_eq(tc_connect(&a, sock, 0), 0);
	for (i = 0; i < a.n_db; i++) {
		int fl = fcntl(a.db[i], F_GETFL);

		ck_assert_int_eq(fcntl(a.db[i], F_SETFL, fl & ~O_NONBLOCK), 0);
		tc_ring(&a, i);
	}
	require_alive(pid, sock, "after a client made its doorbells blocking");
	victim_decodes(sock);
	/* the attacker's doorbells closed before its socket: the daemon lets it go */
	tc_close(&a);
	require_alive(pid, sock, "after the client left");
	victim_decodes(sock);
	require_sigterm_stops(pid);
}
END_TEST

/*
 * Interrupt freeze: the client saturates its control interrupt (an eventfd counter at
 * 0xfffffffffffffffe blocks the next write of 1), makes it blocking, shrinks it (a pipe
 * takes F_SETPIPE_SZ from either end) and then has the daemon raise it far more often than
 * it could ever hold, never reading it. Whatever of this the descriptor allows is done.
 */
START_TEST(test_irq_freeze)
{
	struct hc_card_qp *q;
	uint64_t big = 0xfffffffffffffffeull;
	char sock[200];
	pid_t pid;
	struct tc a;
	uint32_t i, seq;
	int fl;

	REQUIRE_DAEMON();
	pid = freeze_daemon("irq", sock, sizeof(sock), NULL);
	ck_assert_int_eq(tc_connect(&a, sock, 0), 0);
	(void)!write(a.irq[HC_IRQ_CONTROL], &big, sizeof(big));
	fl = fcntl(a.irq[HC_IRQ_CONTROL], F_GETFL);
	ck_assert_int_eq(fcntl(a.irq[HC_IRQ_CONTROL], F_SETFL, fl & ~O_NONBLOCK), 0);
	(void)fcntl(a.irq[HC_IRQ_CONTROL], F_SETPIPE_SZ, 4096);
	q = &a.regs->qp[0];
	/* 600 control interrupts of 8 bytes: more than a one-page pipe holds */
	for (i = 0; i < 600; i++) {
		uint64_t t0 = tc_ms();

		seq = hc_ring_load(&q->ctrl_seq) + 1;
		hc_ring_store_release(&q->ctrl_seq, seq);
		tc_ring(&a, HC_DOORBELL_CONTROL);
		while (hc_ring_load_acquire(&q->ack_seq) != seq && tc_ms() - t0 < FREEZE_MS)
			tc_nap();
		if (hc_ring_load_acquire(&q->ack_seq) != seq)
			break;
	}
	require_alive(pid, sock, "raising a client's saturated interrupt");
	ck_assert_uint_eq(i, 600);
	victim_decodes(sock);
	tc_close(&a);
	require_alive(pid, sock, "after the client left");
	require_sigterm_stops(pid);
}
END_TEST

/*
 * The PCI transport must hand eventfds to its peer (ivshmem's protocol), and an eventfd's
 * O_NONBLOCK is shared with it. A hostile peer on the ivshmem socket makes every doorbell
 * and its control interrupt blocking, rings every doorbell, saturates the interrupt and
 * has the card raise it.
 */
START_TEST(test_pci_freeze)
{
	uint64_t big = 0xfffffffffffffffeull, t0;
	struct hc_card_qp *q;
	char sock[200], ivs[200];
	pid_t pid;
	struct tc g;
	uint32_t i, seq;

	REQUIRE_DAEMON();
	snprintf(ivs, sizeof(ivs), "%s/freeze-ivshmem.sock", emud.dir);
	pid = freeze_daemon("pci", sock, sizeof(sock), ivs);
	ck_assert_int_eq(tc_pci_connect(&g, ivs), 0);
	for (i = 0; i < g.n_db; i++) {
		ck_assert_int_eq(fcntl(g.db[i], F_SETFL, fcntl(g.db[i], F_GETFL) & ~O_NONBLOCK), 0);
		tc_ring(&g, i);
	}
	ck_assert_int_eq(fcntl(g.irq[HC_IRQ_CONTROL], F_SETFL,
			       fcntl(g.irq[HC_IRQ_CONTROL], F_GETFL) & ~O_NONBLOCK), 0);
	ck_assert_int_eq(write(g.irq[HC_IRQ_CONTROL], &big, sizeof(big)), sizeof(big));
	q = &g.regs->qp[0];
	seq = hc_ring_load(&q->ctrl_seq) + 1;
	hc_ring_store_release(&q->ctrl_seq, seq);
	tc_ring(&g, HC_DOORBELL_CONTROL);
	t0 = tc_ms();
	while (hc_ring_load_acquire(&q->ack_seq) != seq && tc_ms() - t0 < FREEZE_MS)
		tc_nap();
	require_alive(pid, sock, "after a PCI peer made its eventfds blocking");
	ck_assert_uint_eq(hc_ring_load_acquire(&q->ack_seq), seq);
	victim_decodes(sock);
	tc_close(&g);
	require_alive(pid, sock, "after the PCI peer left");
	require_sigterm_stops(pid);
}
END_TEST

/* Re-program queue pair @q of @c with its CQ at bus address @cq; the card's verdict. */
static uint32_t qp_move_cq(struct tc *c, uint32_t q, uint64_t cq)
{
	struct hc_card_qp *r = &c->regs->qp[q];
	uint32_t seq = r->ctrl_seq + 1;
	uint64_t t0 = tc_ms();

	r->cq_offset = cq;
	hc_ring_store_release(&r->ctrl_seq, seq);
	tc_ring(c, HC_DOORBELL_CONTROL);
	while (hc_ring_load_acquire(&r->ack_seq) != seq && tc_ms() - t0 < TC_HANG_MS)
		tc_wait_irq(c, HC_IRQ_CONTROL, 100);
	return hc_ring_load(&r->state);
}

/* A hello that must be refused, with @fds passed: the daemon answers it with an error. */
static void hello_refused(uint32_t flags, uint64_t host_size, const int *fds, int n_fds,
			  const char *what)
{
	struct tc c;
	int rc = tc_hello(&c, emud.sock, 0, flags, host_size, fds, n_fds);

	ck_assert_msg(rc < 0, "hello accepted: %s", what);
	tc_close(&c);
}

/*
 * Host memory (HC_CAP_HOST_MEMORY): hellos whose memfd could be truncated under the daemon
 * (SIGBUS) or is no memfd at all are refused; rings outside host memory are DMA faults; and
 * a CQ and stream in host memory give exactly the tokens card memory gives.
 */
START_TEST(test_host_memory)
{
	struct tc_decode d = { .temperature = 0.8f, .seed = 5, .max_tokens = 24 };
	const int all = F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL;
	struct tc h, m;
	struct gen gh, gm;
	struct hc_cqe e;
	uint32_t ch, cm;
	int fd, fd2, p[2];

	REQUIRE_DAEMON();
	fd = tc_memfd(1 << 20, 0);
	hello_refused(HC_EMU_HELLO_HOST_MEMORY, 1 << 20, NULL, 0, "no memfd");
	hello_refused(HC_EMU_HELLO_HOST_MEMORY, 1 << 20, &fd, 1, "unsealed memfd");
	close(fd);
	fd = tc_memfd(1 << 20, F_SEAL_SHRINK);
	hello_refused(HC_EMU_HELLO_HOST_MEMORY, 1 << 20, &fd, 1, "memfd without F_SEAL_SEAL");
	close(fd);
	fd = tc_memfd(1 << 20, all);
	hello_refused(HC_EMU_HELLO_HOST_MEMORY, 2 << 20, &fd, 1, "memfd shorter than announced");
	hello_refused(HC_EMU_HELLO_HOST_MEMORY, (1 << 20) + 1, &fd, 1, "size not page-aligned");
	hello_refused(0, 0, &fd, 1, "memfd without the flag");
	hello_refused(0, 1 << 20, NULL, 0, "host_mem_size without the flag");
	fd2 = tc_memfd(1 << 20, all);
	hello_refused(HC_EMU_HELLO_HOST_MEMORY, 1 << 20, (int[]){ fd, fd2 }, 2, "two memfds");
	close(fd2);
	close(fd);
	ck_assert_int_eq(pipe(p), 0);
	hello_refused(HC_EMU_HELLO_HOST_MEMORY, 4096, p, 1, "a pipe");
	close(p[0]);
	close(p[1]);

	ck_assert_int_eq(tc_connect_host(&h, emud.sock, 1 << 20), 0);
	ck_assert(h.regs->caps & HC_CAP_HOST_MEMORY);
	/* a CQ past the end of host memory: a DMA fault, not a write */
	ck_assert_uint_eq(tc_qp_setup(&h, 1, 16, 16, 1), HC_QP_STATE_ENABLED);
	ck_assert_uint_eq(qp_move_cq(&h, 1, h.host_size - 64), HC_QP_STATE_ERROR);
	ck_assert_uint_eq(h.regs->qp[1].error, HC_REASON_DMA_FAULT);
	ck_assert_uint_eq(qp_move_cq(&h, 1, 1ULL << 62), HC_QP_STATE_ERROR);
	ck_assert_uint_eq(h.regs->qp[1].error, HC_REASON_DMA_FAULT);
	ck_assert_uint_eq(tc_qp_setup(&h, 0, 64, 64, 1), HC_QP_STATE_ENABLED);
	ch = open_prefill(&h, 0, prompt, PROMPT_N);
	ck_assert_uint_ne(ch, 0);
	/* a stream straddling the end of host memory: a DMA fault too */
	tc_decode(&h, ch, h.host_size - 64, 64, &d);
	ck_assert_int_eq(tc_cqe(&h, &e, TC_HANG_MS), 0);
	ck_assert_uint_eq(e.status, HC_STATUS_ERROR);
	ck_assert_uint_eq(e.reason, HC_REASON_DMA_FAULT);
	/* the client cannot take the memory from under the daemon's mapping */
	ck_assert_int_ne(ftruncate(h.host_fd, 0), 0);

	/* the same decode in card memory, by a client without host memory */
	connect_qp(&m);
	ck_assert(!(m.regs->caps & HC_CAP_HOST_MEMORY));
	cm = open_prefill(&m, 0, prompt, PROMPT_N);
	/* which refuses host addresses outright */
	m.host_rings = 1;
	tc_decode(&m, cm, 4096, 64, &d);
	m.host_rings = 0;
	ck_assert_int_eq(tc_cqe(&m, &e, TC_HANG_MS), 0);
	ck_assert_uint_eq(e.reason, HC_REASON_BAD_DESCRIPTOR);
	gen_start(&h, &gh, ch, 8, &d);
	gen_start(&m, &gm, cm, 8, &d);
	pump(&h, &gh, 1);
	pump(&m, &gm, 1);
	ck_assert_uint_eq(gh.cqe.status, HC_STATUS_DONE_MAX_TOKENS);
	ck_assert_uint_eq(gh.n, 24);
	ck_assert_uint_eq(gm.n, 24);
	ck_assert_int_eq(memcmp(gh.out, gm.out, sizeof(gh.out[0]) * 24), 0);
	tc_close(&h);
	tc_close(&m);
}
END_TEST

static Suite *emud_hostile_suite(void)
{
	Suite *s = suite_create("emud_hostile");
	TCase *tc = hc_tcase(s, "card", 300);

	tcase_add_unchecked_fixture(tc, emud_fx_setup, emud_fx_teardown);
	tcase_add_test(tc, test_garbage_sqes);
	tcase_add_test(tc, test_bad_qp_config);
	tcase_add_test(tc, test_memory_chaos);
	tcase_add_test(tc, test_client_killed);
	tcase_add_test(tc, test_isolation);
	tcase_add_test(tc, test_proc_fd_isolation);
	tcase_add_test(tc, test_doorbell_freeze);
	tcase_add_test(tc, test_irq_freeze);
	tcase_add_test(tc, test_pci_freeze);
	tcase_add_test(tc, test_host_memory);
	return s;
}

HC_TEST_MAIN(emud_hostile_suite)
