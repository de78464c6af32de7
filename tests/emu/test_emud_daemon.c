// SPDX-License-Identifier: MIT
/*
 * The hc-emud process and its transports: command lines and ROMs it refuses at startup, its
 * socket (permissions, one daemon per socket, a garbage hello, a client that vanishes),
 * clean shutdown on SIGTERM with a client still connected, and the PCI transport, where a
 * fake QEMU speaks the ivshmem protocol and one guest at a time gets the card. Each test
 * starts its own daemon on the fixture's ROM (emud_fixture.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include "emud_fixture.h"
#include "hc_test.h"

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
	ck_assert_int_ne(access(sock, F_OK), 0);
}
END_TEST

static Suite *emud_daemon_suite(void)
{
	Suite *s = suite_create("emud_daemon");
	TCase *tc = hc_tcase(s, "card", 300);

	tcase_add_unchecked_fixture(tc, emud_fx_setup, emud_fx_teardown);
	tcase_add_test(tc, test_hello_and_shutdown);
	tcase_add_test(tc, test_bad_startup);
	tcase_add_test(tc, test_pci_transport);
	return s;
}

HC_TEST_MAIN(emud_daemon_suite)
