// SPDX-License-Identifier: MIT
/*
 * The benchmarks' private hc-emud (bench_emud.h). The notify socket is autobound (an abstract
 * name the kernel picks, so parallel runs never collide), the daemon's exit is a pidfd: one
 * poll(2) waits for whichever comes first, READY=1, the exit or the deadline.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stddef.h>
#include <sys/pidfd.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include "bench_emud.h"

static long long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* An unbound datagram socket with an abstract name of the kernel's choosing, as "@name". */
static int notify_socket(char *env, size_t len)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	socklen_t sl = sizeof(sa);
	int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return -1;
	/* only the family: autobind (unix(7)) */
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa.sun_family)) < 0 ||
	    getsockname(fd, (struct sockaddr *)&sa, &sl) < 0 ||
	    sl <= offsetof(struct sockaddr_un, sun_path) + 1) {
		close(fd);
		return -1;
	}
	snprintf(env, len, "NOTIFY_SOCKET=@%.*s", (int)(sl - offsetof(struct sockaddr_un, sun_path) - 1),
		 sa.sun_path + 1);
	return fd;
}

/* Does one notify datagram say READY=1 (its own line)? */
static int says_ready(int fd)
{
	char msg[1024];
	ssize_t n = recv(fd, msg, sizeof(msg) - 1, MSG_DONTWAIT);
	const char *p;

	if (n <= 0)
		return 0;
	msg[n] = 0;
	for (p = msg; (p = strstr(p, "READY=1")); p++)
		if ((p == msg || p[-1] == '\n') && (p[7] == 0 || p[7] == '\n'))
			return 1;
	return 0;
}

pid_t bench_emud_start(char *const argv[], int timeout_ms)
{
	char env[128];
	int nfd = notify_socket(env, sizeof(env)), pfd = -1;
	long long deadline = now_ms() + timeout_ms;
	pid_t pid;

	if (nfd < 0) {
		fprintf(stderr, "hc-emud: notify socket: %s\n", strerror(errno));
		return -1;
	}
	pid = fork();
	if (pid == 0) {
		int fd = open("/dev/null", O_WRONLY);

		if (fd >= 0)
			dup2(fd, 2);
		prctl(PR_SET_PDEATHSIG, SIGTERM);	/* never outlive the benchmark */
		putenv(env);
		execv(argv[0], argv);
		_exit(127);
	}
	if (pid > 0)
		pfd = pidfd_open(pid, 0);
	if (pid < 0 || pfd < 0) {
		fprintf(stderr, "hc-emud: start %s: %s\n", argv[0], strerror(errno));
		if (pid > 0)
			bench_emud_stop(pid);
		close(nfd);
		return -1;
	}
	for (;;) {
		struct pollfd p[2] = { { .fd = nfd, .events = POLLIN }, { .fd = pfd, .events = POLLIN } };
		long long left = deadline - now_ms();

		if (left <= 0 || poll(p, 2, (int)left) == 0) {
			fprintf(stderr, "hc-emud: not ready within %d ms\n", timeout_ms);
			bench_emud_stop(pid);
			pid = -1;
			break;
		}
		if ((p[0].revents & POLLIN) && says_ready(nfd))
			break;
		if (p[1].revents & POLLIN) {
			int st = 0;

			waitpid(pid, &st, 0);
			fprintf(stderr, "hc-emud: %s exited at start (status %d)\n", argv[0], st);
			pid = -1;
			break;
		}
	}
	close(pfd);
	close(nfd);
	return pid;
}

void bench_emud_stop(pid_t pid)
{
	if (pid <= 0)
		return;
	kill(pid, SIGTERM);
	waitpid(pid, NULL, 0);
}
