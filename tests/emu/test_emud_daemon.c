// SPDX-License-Identifier: MIT
/*
 * The hc-emud process and its transports: command lines and ROMs it refuses at startup, its
 * socket (permissions, one daemon per socket, a garbage hello, a client that vanishes),
 * clean shutdown on SIGTERM with a client still connected, and the PCI transport, where a
 * fake QEMU speaks the ivshmem protocol and one guest at a time gets the card. Then the
 * daemon as a systemd service: socket activation, readiness and stopping notifications,
 * SIGHUP, and the socket bound (and its errors reported) before the ROM is verified. Each
 * test starts its own daemon on the fixture's ROM (emud_fixture.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>
#include "emud_fixture.h"
#include "hc_test.h"

/* Does file @path contain @what? */
static bool file_has(const char *path, const char *what);

START_TEST(test_hello_and_shutdown)
{
	char sock[160], log[160];
	unsigned char junk[64];
	struct hc_emu_welcome w;
	struct stat st;
	struct tc a;
	pid_t pid;
	int fd;

	REQUIRE_DAEMON();
	snprintf(sock, sizeof(sock), "%s/shut.sock", emud.dir);
	snprintf(log, sizeof(log), "%s/shut.log", emud.dir);
	pid = tc_daemon_start(emud.rom, sock, log, NULL);
	ck_assert_int_gt(pid, 0);
	ck_assert_int_eq(stat(sock, &st), 0);
	ck_assert_uint_eq(st.st_mode & 0777, 0660);
	/* a second daemon refuses to take over a live socket: exits 1 */
	{
		char log2[170];
		pid_t p2;
		int st;

		snprintf(log2, sizeof(log2), "%s/shut2.log", emud.dir);
		p2 = fork();
		ck_assert_int_ge(p2, 0);
		if (p2 == 0) {
			fd = open(log2, O_WRONLY | O_CREAT | O_TRUNC, 0644);
			dup2(fd, 2);
			execl(emud_bin(), "hc-emud", "--rom", emud.rom, "--socket", sock,
			      (char *)NULL);
			_exit(127);
		}
		ck_assert_int_eq(waitpid(p2, &st, 0), p2);
		ck_assert(WIFEXITED(st));
		ck_assert_int_eq(WEXITSTATUS(st), 1);
	}
	/* garbage hello: rejected with -EPROTO, daemon unaffected */
	fd = tc_sock_connect(sock);
	ck_assert_int_ge(fd, 0);
	memset(junk, 0xa5, sizeof(junk));
	ck_assert_int_eq(write(fd, junk, sizeof(junk)), sizeof(junk));
	ck_assert_int_eq(read(fd, &w, sizeof(w)), sizeof(w));
	ck_assert_int_eq(w.status, -EPROTO);
	close(fd);
	/* connect and vanish without a word */
	fd = tc_sock_connect(sock);
	close(fd);
	/* a client with an open context when SIGTERM arrives */
	ck_assert_int_eq(tc_connect(&a, sock, 0), 0);
	ck_assert_uint_eq(tc_qp_setup(&a, 0, 16, 16, 1), HC_QP_STATE_ENABLED);
	ck_assert_uint_ne(open_prefill(&a, 0, prompt, PROMPT_N), 0);
	ck_assert_int_eq(tc_daemon_stop(pid), 0);
	ck_assert_int_ne(access(sock, F_OK), 0);
	tc_close(&a);
	/* no -t: a worker for each CPU it may run on */
	{
		char want[32];
		cpu_set_t set;

		ck_assert_int_eq(sched_getaffinity(0, sizeof(set), &set), 0);
		snprintf(want, sizeof(want), ", %d threads,", CPU_COUNT(&set));
		ck_assert_msg(file_has(log, want), "%s: no '%s'", log, want);
	}
}
END_TEST

/* The PCI transport: a fake QEMU speaks the ivshmem protocol; the card behaves the same. */
START_TEST(test_pci_transport)
{
	char sock[160], ivs[160], log[160];
	const char *extra[] = { "--ivshmem", ivs, "--ivshmem-mem", "4M", NULL };
	struct tc_decode d = { .temperature = 0.8f, .top_p = 0.9f, .seed = 77, .max_tokens = 30 };
	uint32_t want[30], ctx;
	struct tc g1, g2, cl;
	struct gen g;
	struct ref r;
	int32_t stop;
	int64_t v;
	pid_t pid;
	int fd, t;

	REQUIRE_DAEMON();
	ref_open(&r);
	ck_assert_uint_eq(ref_generate(&r, 0, prompt, PROMPT_N, &d, 30, want, &stop), 30);
	snprintf(sock, sizeof(sock), "%s/pci-emu.sock", emud.dir);
	snprintf(ivs, sizeof(ivs), "%s/ivshmem.sock", emud.dir);
	snprintf(log, sizeof(log), "%s/pci.log", emud.dir);
	pid = tc_daemon_start(emud.rom, sock, log, extra);
	ck_assert_int_gt(pid, 0);

	for (t = 0; t < 2; t++) {	/* the second guest finds a clean card */
		ck_assert_int_eq(tc_pci_connect(&g1, ivs), 0);
		ck_assert_uint_eq(g1.mem_size, 4 << 20);
		ck_assert_uint_eq(g1.regs->magic, HC_CARD_MAGIC);
		ck_assert(g1.regs->caps & HC_CAP_TRANSPORT_PCI);
		ck_assert_uint_eq(g1.regs->fn_id, 0);
		ck_assert_uint_eq(g1.regs->fn_contexts_in_use, 0);
		ck_assert_uint_eq(g1.regs->qp[0].state, HC_QP_STATE_DISABLED);
		ck_assert_uint_eq(g1.n_db, 1 + g1.regs->n_queue_pairs);
		/* one card, one guest: a second QEMU is turned away */
		fd = tc_sock_connect(ivs);
		ck_assert_int_ge(fd, 0);
		{ int f2; ck_assert_int_ne(tc_iv_recv(fd, &v, &f2), 0); }
		close(fd);

		ck_assert_uint_eq(tc_qp_setup(&g1, 0, 32, 32, 1), HC_QP_STATE_ENABLED);
		ctx = open_prefill(&g1, 0, prompt, PROMPT_N);
		gen_start(&g1, &g, ctx, 8, &d);
		pump(&g1, &g, 1);
		ck_assert_uint_eq(g.cqe.status, HC_STATUS_DONE_MAX_TOKENS);
		ck_assert_int_eq(memcmp(g.out, want, sizeof(want)), 0);
		ck_assert_uint_ne(open_prefill(&g1, 0, prompt, 3), 0);

		/* a socket client shares the card: it sees the guest's two KV slots */
		ck_assert_int_eq(tc_connect(&cl, sock, 0), 0);
		WAIT_TELE_EQ(&cl, contexts_in_use, 2);
		/* the guest goes away (QEMU quits): its contexts are freed */
		tc_close(&g1);
		WAIT_TELE_EQ(&cl, contexts_in_use, 0);
		tc_close(&cl);
	}
	(void)g2;
	ck_assert_int_eq(tc_daemon_stop(pid), 0);
	ck_assert_int_ne(access(ivs, F_OK), 0);
	ref_close(&r);
}
END_TEST

/* Run hc-emud with @argv to completion; its exit status, its stderr in @out. */
static int run_emud(const char *const *argv, char *out, size_t len)
{
	char log[200];
	pid_t pid;
	int st, fd;
	ssize_t n;

	snprintf(log, sizeof(log), "%s/args.log", emud.dir);
	pid = fork();
	if (pid == 0) {
		fd = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0644);
		dup2(fd, 2);
		execv(emud_bin(), (char *const *)argv);
		_exit(127);
	}
	if (pid < 0 || waitpid(pid, &st, 0) != pid || !WIFEXITED(st))
		return -1;
	fd = open(log, O_RDONLY);
	n = fd >= 0 ? read(fd, out, len - 1) : -1;
	out[n > 0 ? n : 0] = 0;
	if (fd >= 0)
		close(fd);
	return WEXITSTATUS(st);
}

/* Bad command lines and bad ROMs: one clear line, a non-zero exit, no socket left behind. */
START_TEST(test_bad_startup)
{
	char out[1024], bad[160], sock[160];
	const char *no_rom[] = { "hc-emud", NULL };
	const char *missing[] = { "hc-emud", "--rom", "/nonexistent/x.rom", "--socket", sock, NULL };
	const char *garbage[] = { "hc-emud", "--rom", bad, "--socket", sock, NULL };
	const char *zero[] = { "hc-emud", "--rom", emud.rom, "--contexts", "0", NULL };
	const char *pow2[] = { "hc-emud", "--rom", emud.rom, "--ivshmem-mem", "3M", NULL };
	const char *path[] = { "hc-emud", "--rom", emud.rom, "--path", "avx3", NULL };
	FILE *f;

	REQUIRE_DAEMON();
	snprintf(bad, sizeof(bad), "%s/garbage.rom", emud.dir);
	snprintf(sock, sizeof(sock), "%s/bad.sock", emud.dir);
	f = fopen(bad, "w");
	ck_assert_ptr_nonnull(f);
	fputs("not a rom at all, but long enough to be read as a header? no.\n", f);
	fclose(f);
	ck_assert_int_eq(run_emud(no_rom, out, sizeof(out)), 2);
	ck_assert_ptr_nonnull(strstr(out, "--rom"));
	ck_assert_int_eq(run_emud(missing, out, sizeof(out)), 1);
	ck_assert_ptr_nonnull(strstr(out, "/nonexistent/x.rom"));
	ck_assert_int_eq(run_emud(garbage, out, sizeof(out)), 1);
	ck_assert_ptr_nonnull(strstr(out, bad));
	ck_assert_int_eq(run_emud(zero, out, sizeof(out)), 2);
	ck_assert_ptr_nonnull(strstr(out, "--contexts"));
	ck_assert_int_eq(run_emud(pow2, out, sizeof(out)), 2);
	ck_assert_ptr_nonnull(strstr(out, "power of two"));
	ck_assert_int_eq(run_emud(path, out, sizeof(out)), 2);
	ck_assert_ptr_nonnull(strstr(out, "'avx3' is not auto, avx2, generic or reference"));
	ck_assert_int_ne(access(sock, F_OK), 0);
}
END_TEST

/* A greedy-ish decode of 12 tokens on a fresh connection to @sock equals the reference. */
static void decode_check(const char *sock)
{
	struct tc_decode d = { .temperature = 0.8f, .top_p = 0.9f, .seed = 5, .max_tokens = 12 };
	uint32_t want[12], ctx;
	struct tc c;
	struct gen g;
	struct ref r;
	int32_t stop;

	ref_open(&r);
	ck_assert_uint_eq(ref_generate(&r, 0, prompt, PROMPT_N, &d, 12, want, &stop), 12);
	ref_close(&r);
	ck_assert_int_eq(tc_connect(&c, sock, 0), 0);
	ck_assert_uint_eq(tc_qp_setup(&c, 0, 16, 16, 1), HC_QP_STATE_ENABLED);
	ctx = open_prefill(&c, 0, prompt, PROMPT_N);
	gen_start(&c, &g, ctx, 16, &d);
	pump(&c, &g, 1);
	ck_assert_uint_eq(g.cqe.status, HC_STATUS_DONE_MAX_TOKENS);
	ck_assert_uint_eq(g.n, 12);
	ck_assert_int_eq(memcmp(g.out, want, sizeof(want)), 0);
	tc_close(&c);
}

/*
 * --path: the daemon runs the kernel table asked for (its start line names it), and its
 * tokens are the reference's whatever the table.
 */
START_TEST(test_kernel_paths)
{
	static const struct {
		const char *path, *kernels;
	} paths[] = {
		{ "reference", "reference kernels" },
		{ "generic", "generic kernels" },
		{ "avx2", "avx2 kernels" },
	};

	REQUIRE_DAEMON();
	for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++) {
		const char *extra[] = { "--path", paths[i].path, "--threads", "2", NULL };
		char sock[160], log[160];
		pid_t pid;

#if defined(__x86_64__)
		__builtin_cpu_init();
		if (!strcmp(paths[i].path, "avx2") && !__builtin_cpu_supports("avx2"))
			continue;
#else
		if (!strcmp(paths[i].path, "avx2"))
			continue;
#endif
		snprintf(sock, sizeof(sock), "%s/path-%s.sock", emud.dir, paths[i].path);
		snprintf(log, sizeof(log), "%s/path-%s.log", emud.dir, paths[i].path);
		pid = tc_daemon_start(emud.rom, sock, log, extra);
		ck_assert_int_gt(pid, 0);
		decode_check(sock);
		ck_assert_int_eq(tc_daemon_stop(pid), 0);
		ck_assert_msg(file_has(log, paths[i].kernels), "%s: no '%s' in the log", log,
			      paths[i].kernels);
	}
}
END_TEST

/* A daemon on the fixture's ROM with @extra options, and @c connected to it with queue
 * pair 0 enabled; the daemon's pid. */
static pid_t start_connected(const char *sock, const char *log, const char *const *extra,
			     struct tc *c)
{
	pid_t pid = tc_daemon_start(emud.rom, sock, log, extra);

	ck_assert_int_gt(pid, 0);
	ck_assert_int_eq(tc_connect(c, sock, 0), 0);
	ck_assert_uint_eq(tc_qp_setup(c, 0, 16, 16, 1), HC_QP_STATE_ENABLED);
	return pid;
}

/*
 * Context @ctx's prompt of @n tokens as the -v log tells it: *@passes forward passes,
 * *@shared of them with other contexts' tokens.
 */
static void log_passes(const char *log, uint32_t ctx, uint32_t n, unsigned *passes,
		       unsigned *shared)
{
	char buf[65536], want[64];
	const char *at;
	ssize_t k;
	int fd = open(log, O_RDONLY | O_CLOEXEC);

	ck_assert_int_ge(fd, 0);
	k = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	buf[k > 0 ? k : 0] = 0;
	snprintf(want, sizeof(want), "context %u: prefilled %u tokens in ", ctx, n);
	at = strstr(buf, want);
	ck_assert_msg(at, "%s: no '%s'", log, want);
	ck_assert_int_eq(sscanf(at + strlen(want), "%u passes, %u shared", passes, shared), 2);
}

/*
 * A prompt's forward passes, from the -v log: 128 tokens each while no context decodes,
 * 32 while one has a DECODE (one paused on a full stream waits all the same; one decoding
 * rides in them), and an explicit --prefill-chunk always.
 */
START_TEST(test_prefill_passes)
{
	const char *dflt[] = { "-v", NULL }, *three[] = { "-v", "--prefill-chunk", "3", NULL };
	const struct tc_decode d = { .max_tokens = 64 }, long_d = { .max_tokens = 100 };
	char sock[160], log[160];
	unsigned passes, shared;
	uint32_t a, b, r, e;
	int32_t p[300];
	struct hc_cqe cqe;
	struct tc c;
	uint64_t ud;
	pid_t pid;

	REQUIRE_DAEMON();
	for (int i = 0; i < 300; i++)
		p[i] = (i * 37 + 5) % 512;	/* the tiny ROM's vocabulary */
	snprintf(sock, sizeof(sock), "%s/passes.sock", emud.dir);
	snprintf(log, sizeof(log), "%s/passes.log", emud.dir);
	pid = start_connected(sock, log, dflt, &c);
	a = open_prefill(&c, 0, p, 300);
	log_passes(log, a, 300, &passes, &shared);
	ck_assert_uint_eq(passes, 3);
	ck_assert_uint_eq(shared, 0);
	tc_decode(&c, a, tc_stream(&c, 4), 4, &d);	/* 4 tokens, then it waits */
	b = open_prefill(&c, 0, p, 300);
	log_passes(log, b, 300, &passes, &shared);	/* the first may carry a's last tokens */
	ck_assert_uint_eq(passes, 10);
	/* a decode of 100 tokens and a prompt published at once: all but the first of the
	 * prompt's 10 passes carry the decoder's token too */
	r = open_prefill(&c, 0, p, 20);
	e = tc_open(&c, 0);
	ck_assert_uint_ne(e, 0);
	c.hold = true;
	tc_decode(&c, r, tc_stream(&c, 256), 256, &long_d);
	ud = tc_prefill(&c, e, p, 300);
	tc_release(&c);
	do
		ck_assert_int_eq(tc_cqe(&c, &cqe, TC_HANG_MS), 0);
	while (cqe.user_data != ud);
	ck_assert_uint_eq(cqe.status, HC_STATUS_OK);
	log_passes(log, e, 300, &passes, &shared);
	ck_assert_uint_eq(passes, 10);
	ck_assert_uint_ge(shared, 9);
	ck_assert_int_eq(tc_daemon_stop(pid), 0);
	tc_close(&c);

	snprintf(log, sizeof(log), "%s/passes3.log", emud.dir);
	pid = start_connected(sock, log, three, &c);
	a = open_prefill(&c, 0, p, 300);
	log_passes(log, a, 300, &passes, &shared);
	ck_assert_uint_eq(passes, 100);
	ck_assert_uint_eq(shared, 0);
	ck_assert_int_eq(tc_daemon_stop(pid), 0);
	tc_close(&c);
}
END_TEST

/* A listening AF_UNIX stream socket at @path, as systemd makes it for a socket unit. */
static int listen_at(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	ck_assert_int_ge(fd, 0);
	ck_assert_uint_lt(strlen(path), sizeof(sa.sun_path));
	strcpy(sa.sun_path, path);
	unlink(path);
	ck_assert_int_eq(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	ck_assert_int_eq(listen(fd, 16), 0);
	return fd;
}

/* Does file @path contain @what? */
static bool file_has(const char *path, const char *what)
{
	char buf[16384];
	ssize_t n;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return false;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	buf[n > 0 ? n : 0] = 0;
	return strstr(buf, what) != NULL;
}

/*
 * Socket activation: the socket comes as fd 3 with LISTEN_FDS=1 and LISTEN_PID, as from
 * hc-emud.socket. The daemon serves it (a client that connected before the daemon even
 * started is served too), does not unlink it on exit (it belongs to systemd), and the next
 * daemon given the same socket serves it again.
 */
START_TEST(test_socket_activation)
{
	const char *argv[] = { emud_bin(), "--rom", emud.rom, "-t", "2", NULL };
	char sock[160], log[160], notify[64];
	struct stat st;
	pid_t pid;
	int lfd, nfd, early, round;

	REQUIRE_DAEMON();
	snprintf(sock, sizeof(sock), "%s/activated.sock", emud.dir);
	snprintf(log, sizeof(log), "%s/activated.log", emud.dir);
	lfd = listen_at(sock);
	/* the connection that made systemd start the service: queued in the backlog */
	early = tc_sock_connect(sock);
	ck_assert_int_ge(early, 0);
	for (round = 0; round < 2; round++) {
		nfd = tc_notify_open(notify, sizeof(notify));
		ck_assert_int_ge(nfd, 0);
		pid = tc_daemon_spawn(argv, log, notify, lfd);
		ck_assert_int_gt(pid, 0);
		ck_assert_int_eq(tc_notify_wait(nfd, pid, "READY=1", TC_HANG_MS), 0);
		close(nfd);
		if (early >= 0) {
			struct hc_emu_welcome w;
			unsigned char junk[sizeof(struct hc_emu_hello)];

			/* accepted by the daemon, so a garbage hello gets its answer */
			memset(junk, 0x5a, sizeof(junk));
			ck_assert_int_eq(write(early, junk, sizeof(junk)), sizeof(junk));
			ck_assert_int_eq(read(early, &w, sizeof(w)), sizeof(w));
			ck_assert_int_eq(w.status, -EPROTO);
			close(early);
			early = -1;
		}
		decode_check(sock);
		ck_assert_int_eq(tc_daemon_stop(pid), 0);
		/* systemd's socket stays: the next connection starts the next daemon */
		ck_assert_int_eq(stat(sock, &st), 0);
		ck_assert(S_ISSOCK(st.st_mode));
	}
	ck_assert(file_has(log, "listening on "));
	ck_assert(file_has(log, sock));
	close(lfd);
	unlink(sock);
}
END_TEST

/*
 * Readiness: NOTIFY_SOCKET gets STATUS (verifying), then READY=1 only once the card answers
 * hellos, then STOPPING=1 on SIGTERM. The default log is quiet about clients; -v is not.
 */
START_TEST(test_notify_and_quiet_log)
{
	char sock[160], log[160], notify[64], vlog[160];
	const char *argv[] = { emud_bin(), "--rom", emud.rom, "--socket", sock, NULL };
	const char *vargv[] = { emud_bin(), "--rom", emud.rom, "--socket", sock, "-v", NULL };
	struct tc c;
	pid_t pid;
	int nfd, verbose;

	REQUIRE_DAEMON();
	snprintf(sock, sizeof(sock), "%s/notify.sock", emud.dir);
	for (verbose = 0; verbose < 2; verbose++) {
		snprintf(log, sizeof(log), "%s/notify%d.log", emud.dir, verbose);
		if (verbose)
			snprintf(vlog, sizeof(vlog), "%s", log);
		nfd = tc_notify_open(notify, sizeof(notify));
		ck_assert_int_ge(nfd, 0);
		pid = tc_daemon_spawn(verbose ? vargv : argv, log, notify, -1);
		ck_assert_int_gt(pid, 0);
		ck_assert_int_eq(tc_notify_wait(nfd, pid, "READY=1", TC_HANG_MS), 0);
		/* ready means a hello is answered now, not merely that connect() works */
		ck_assert_int_eq(tc_connect(&c, sock, 0), 0);
		ck_assert_uint_eq(tc_qp_setup(&c, 0, 16, 16, 1), HC_QP_STATE_ENABLED);
		tc_close(&c);
		ck_assert_int_eq(kill(pid, SIGTERM), 0);
		ck_assert_int_eq(tc_notify_wait(nfd, pid, "STOPPING=1", TC_HANG_MS), 0);
		close(nfd);
		ck_assert_int_eq(tc_daemon_stop(pid), 0);
		/* a level word on every line outside the journal */
		ck_assert(file_has(log, " info: listening on "));
		ck_assert_int_eq(file_has(log, "connected (pid"), verbose);
	}
	ck_assert(file_has(vlog, "debug: client 1: connected (pid"));
	/* stderr is the journal (JOURNAL_STREAM names it): sd-daemon <N> prefixes, no time */
	{
		char jlog[160], js[64];
		struct stat st;
		pid_t p;
		int fd, status;

		snprintf(jlog, sizeof(jlog), "%s/journal.log", emud.dir);
		fd = open(jlog, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
		ck_assert_int_ge(fd, 0);
		ck_assert_int_eq(fstat(fd, &st), 0);
		snprintf(js, sizeof(js), "%llu:%llu", (unsigned long long)st.st_dev,
			 (unsigned long long)st.st_ino);
		p = fork();
		ck_assert_int_ge(p, 0);
		if (p == 0) {
			dup2(fd, 2);
			setenv("JOURNAL_STREAM", js, 1);
			/* a ROM that does not exist: one error line, exit 1 */
			execl(emud_bin(), "hc-emud", "--rom", "/nonexistent/j.rom", "--socket", sock,
			      (char *)NULL);
			_exit(127);
		}
		close(fd);
		ck_assert_int_eq(waitpid(p, &status, 0), p);
		ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 1);
		ck_assert(file_has(jlog, "<3>"));
		ck_assert(!file_has(jlog, "hc-emud "));
	}
}
END_TEST

/* SIGHUP neither kills the daemon nor disturbs a client in the middle of its session. */
START_TEST(test_sighup)
{
	char sock[160], log[160];
	struct tc c;
	pid_t pid;
	int i;

	REQUIRE_DAEMON();
	snprintf(sock, sizeof(sock), "%s/hup.sock", emud.dir);
	snprintf(log, sizeof(log), "%s/hup.log", emud.dir);
	pid = tc_daemon_start(emud.rom, sock, log, NULL);
	ck_assert_int_gt(pid, 0);
	ck_assert_int_eq(tc_connect(&c, sock, 0), 0);
	ck_assert_uint_eq(tc_qp_setup(&c, 0, 16, 16, 1), HC_QP_STATE_ENABLED);
	for (i = 0; i < 3; i++)
		ck_assert_int_eq(kill(pid, SIGHUP), 0);
	/* the same connection still gets work done, and new ones are served */
	ck_assert_uint_ne(open_prefill(&c, 0, prompt, PROMPT_N), 0);
	tc_close(&c);
	decode_check(sock);
	ck_assert_int_eq(waitpid(pid, NULL, WNOHANG), 0);
	ck_assert(file_has(log, "SIGHUP ignored"));
	ck_assert_int_eq(tc_daemon_stop(pid), 0);
	ck_assert_int_ne(access(sock, F_OK), 0);
}
END_TEST

/*
 * The socket comes before the ROM: with a corrupt ROM (its hash would fail after reading
 * every byte) and a socket in a directory that does not exist, the error is the socket's.
 * With a good socket and the corrupt ROM, the ROM error, and the early socket is removed.
 * --socket-group: the socket goes to that group; an unknown group fails at once.
 */
START_TEST(test_bind_before_rom)
{
	char out[1024], bad[160], sock[160], nodir[160], gid[16];
	const char *nosock[] = { emud_bin(), "--rom", bad, "--socket", nodir, NULL };
	const char *badrom[] = { emud_bin(), "--rom", bad, "--socket", sock, NULL };
	const char *nogrp[] = { emud_bin(), "--rom", bad, "--socket", sock, "--socket-group",
				"no-such-group-hc", NULL };
	const char *grp[] = { "--socket-group", gid, NULL };
	unsigned char buf[65536];
	struct stat st;
	ssize_t n;
	int in, outfd;
	pid_t pid;

	REQUIRE_DAEMON();
	/* the fixture's ROM with its last byte flipped: only the full SHA-256 check sees it */
	snprintf(bad, sizeof(bad), "%s/corrupt.rom", emud.dir);
	in = open(emud.rom, O_RDONLY | O_CLOEXEC);
	outfd = open(bad, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	ck_assert_int_ge(in, 0);
	ck_assert_int_ge(outfd, 0);
	while ((n = read(in, buf, sizeof(buf))) > 0)
		ck_assert_int_eq(write(outfd, buf, (size_t)n), n);
	ck_assert_int_eq(fstat(outfd, &st), 0);
	ck_assert_int_eq(pread(in, buf, 1, st.st_size - 1), 1);
	buf[0] ^= 0xff;
	ck_assert_int_eq(pwrite(outfd, buf, 1, st.st_size - 1), 1);
	close(in);
	close(outfd);
	snprintf(nodir, sizeof(nodir), "%s/no/such/dir/emud.sock", emud.dir);
	snprintf(sock, sizeof(sock), "%s/early.sock", emud.dir);

	ck_assert_int_eq(run_emud(nosock, out, sizeof(out)), 1);
	ck_assert_msg(strstr(out, nodir) && strstr(out, "No such file or directory"), "%s", out);
	ck_assert_msg(!strstr(out, bad), "the ROM was looked at first: %s", out);

	ck_assert_int_eq(run_emud(badrom, out, sizeof(out)), 1);
	ck_assert_msg(strstr(out, bad), "%s", out);
	ck_assert_int_ne(access(sock, F_OK), 0);

	ck_assert_int_eq(run_emud(nogrp, out, sizeof(out)), 1);
	ck_assert_msg(strstr(out, "no-such-group-hc") && !strstr(out, bad), "%s", out);
	ck_assert_int_ne(access(sock, F_OK), 0);

	/* a group we may give it to: our own (root may name any, but ours always works) */
	snprintf(gid, sizeof(gid), "%u", (unsigned)getgid());
	snprintf(out, sizeof(out), "%s/group.log", emud.dir);
	pid = tc_daemon_start(emud.rom, sock, out, grp);
	ck_assert_int_gt(pid, 0);
	ck_assert_int_eq(stat(sock, &st), 0);
	ck_assert_uint_eq(st.st_gid, getgid());
	ck_assert_uint_eq(st.st_mode & 0777, 0660);
	ck_assert_int_eq(tc_daemon_stop(pid), 0);
}
END_TEST

static Suite *emud_daemon_suite(void)
{
	Suite *s = suite_create("emud_daemon");
	TCase *tc = hc_tcase(s, "card", 300);

	tcase_add_unchecked_fixture(tc, emud_fx_setup, emud_fx_teardown);
	tcase_add_test(tc, test_hello_and_shutdown);
	tcase_add_test(tc, test_bad_startup);
	tcase_add_test(tc, test_kernel_paths);
	tcase_add_test(tc, test_prefill_passes);
	tcase_add_test(tc, test_pci_transport);
	tcase_add_test(tc, test_socket_activation);
	tcase_add_test(tc, test_notify_and_quiet_log);
	tcase_add_test(tc, test_sighup);
	tcase_add_test(tc, test_bind_before_rom);
	return s;
}

HC_TEST_MAIN(emud_daemon_suite)
