/* SPDX-License-Identifier: MIT */
/*
 * The benchmarks' private hc-emud: start it on a socket and wait until it says it serves,
 * stop it. Readiness is hc-emud's own sd_notify READY=1 (what systemd waits for), sent to a
 * datagram socket of ours through NOTIFY_SOCKET: an event, not a poll of the socket.
 */
#ifndef HC_BENCH_EMUD_H
#define HC_BENCH_EMUD_H

#include <sys/types.h>

/* How long a benchmark waits for READY=1: the ROM is verified first (seconds for 110M). */
#define BENCH_EMUD_READY_MS 120000

/*
 * Run @argv (argv[0]: the hc-emud binary; its --socket among the arguments) with stderr to
 * /dev/null, and wait up to @timeout_ms for READY=1 (the ROM is verified first: seconds for
 * a large one). Return: the daemon's pid; -1 if it exited, did not get ready in time (then
 * it is stopped) or could not be started, with a reason on stderr.
 */
pid_t bench_emud_start(char *const argv[], int timeout_ms);

/* SIGTERM, then reap. */
void bench_emud_stop(pid_t pid);

#endif
