// SPDX-License-Identifier: MIT
/*
 * hc-emud as a service: log lines with priorities, systemd's socket activation and readiness
 * notification (emu/daemon/systemd/, docs/hc-emud.md "Running as a service").
 *
 * Nothing here depends on running under systemd: without LISTEN_FDS hc-emud binds its own
 * socket, without NOTIFY_SOCKET sd_notify() does nothing, and without JOURNAL_STREAM the log
 * is the usual time-stamped text.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <systemd/sd-daemon.h>
#include "emud.h"

static bool log_journal;	/* stderr is connected to journald */
static int log_verbose;

static const char *const level_word[] = {
	[LOG_EMERG] = "emerg", [LOG_ALERT] = "alert", [LOG_CRIT] = "crit", [LOG_ERR] = "error",
	[LOG_WARNING] = "warning", [LOG_NOTICE] = "notice", [LOG_INFO] = "info",
	[LOG_DEBUG] = "debug",
};

/*
 * systemd sets JOURNAL_STREAM=DEV:INODE for a service whose stderr goes to the journal. It is
 * inherited by children whose stderr may be redirected elsewhere, so it only counts if it
 * names our stderr (systemd.exec(5)).
 */
static bool stderr_is_journal(void)
{
	const char *js = getenv("JOURNAL_STREAM");
	unsigned long long dev, ino;
	struct stat st;

	if (!js || sscanf(js, "%llu:%llu", &dev, &ino) != 2 || fstat(STDERR_FILENO, &st) < 0)
		return false;
	return (unsigned long long)st.st_dev == dev && (unsigned long long)st.st_ino == ino;
}

void emud_service_init(int verbose)
{
	log_journal = stderr_is_journal();
	log_verbose = verbose;
}

void emud_logp(int prio, const char *fmt, ...)
{
	char buf[512];
	struct timespec ts;
	struct tm tm;
	va_list ap;

	if (prio == LOG_DEBUG && !log_verbose)
		return;
	if (prio < LOG_EMERG || prio > LOG_DEBUG)
		prio = LOG_INFO;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	/* the journal adds time, unit and pid itself and reads the priority off "<N>" */
	if (log_journal) {
		fprintf(stderr, "<%d>%s\n", prio, buf);
		return;
	}
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	fprintf(stderr, "hc-emud %02d:%02d:%02d.%03ld %s: %s\n", tm.tm_hour, tm.tm_min, tm.tm_sec,
		ts.tv_nsec / 1000000, level_word[prio], buf);
}

int emud_service_listen_fd(void)
{
	int n = sd_listen_fds(1);	/* 1: unset LISTEN_* so nothing we start inherits them */

	if (n < 0) {
		emud_err("socket activation: %s", strerror(-n));
		return n;
	}
	if (n == 0)
		return -ENOENT;
	/* hc-emud.socket has one ListenStream=; anything else is a unit we do not understand */
	if (n != 1) {
		emud_err("socket activation: %d sockets passed, expected 1 (one ListenStream=)", n);
		return -EINVAL;
	}
	if (sd_is_socket_unix(SD_LISTEN_FDS_START, SOCK_STREAM, 1, NULL, 0) <= 0) {
		emud_err("socket activation: fd %d is not a listening AF_UNIX stream socket",
			 SD_LISTEN_FDS_START);
		return -EINVAL;
	}
	return SD_LISTEN_FDS_START;
}

void emud_service_notify(const char *fmt, ...)
{
	char buf[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	/* 0: not under a service manager; < 0: the manager went away. Neither stops the card */
	sd_notify(0, buf);
}
