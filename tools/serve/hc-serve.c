// SPDX-License-Identifier: MIT
/*
 * hc-serve: HC cards behind an OpenAI-compatible HTTP API (docs/hc-serve.md, hc-serve(1)).
 *   hc-serve [-d DEVICE]... [--listen ADDR:PORT] [--api-key-file FILE] [--max-queue N]
 *            [--queue-timeout SECONDS]
 * The main thread parses the command line, starts the card threads (serve_sched.c) and the
 * HTTP daemon (serve_http.c), then waits for SIGINT/SIGTERM and shuts down in order.
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "serve.h"

static void usage(FILE *f)
{
	fprintf(f,
		"usage: hc-serve [-d DEVICE]... [--listen ADDR:PORT] [--api-key-file FILE]\n"
		"                [--max-queue N] [--queue-timeout SECONDS] [--max-body BYTES]\n"
		"                [--max-connections N]\n"
		"Serve HC cards over an OpenAI-compatible HTTP API: /v1/models, /v1/completions,\n"
		"/v1/chat/completions (stream or not), /health, /metrics.\n"
		"  -d, --device DEV       card to serve (repeatable): emu:/path/to/socket or\n"
		"                         /dev/accel/accelN (default: every card libhc finds)\n"
		"  -l, --listen ADDR:PORT address to listen on (default 127.0.0.1:8080;\n"
		"                         [::1]:8080 for IPv6; port 0 picks a free one)\n"
		"      --port-file FILE   write the port listened on to FILE once ready\n"
		"      --api-key-file FILE  require \"Authorization: Bearer KEY\" on /v1/*, KEY\n"
		"                         being the first line of FILE\n"
		"      --max-queue N      requests that may wait for a free context (default 64);\n"
		"                         beyond that: 429 with Retry-After\n"
		"      --queue-timeout SECONDS  longest wait for a context, also one that other\n"
		"                         programs hold (default 30; 0: no bound); then 429\n"
		"      --max-body BYTES   largest request body (default 1048576); larger: 413\n"
		"      --max-connections N  simultaneous connections (default 1024)\n"
		"  -h, --help             this text\n"
		"  -V, --version          version\n"
		"SIGINT or SIGTERM: running generations are ended, then the server exits.\n");
}

static int parse_count(const char *s, const char *what, unsigned long long max,
		       unsigned long long *out)
{
	char *end;

	errno = 0;
	*out = strtoull(s, &end, 10);
	if (errno || end == s || *end || *s == '-' || *out > max) {
		fprintf(stderr, "hc-serve: %s: '%s' is not an integer in [0, %llu]\n", what, s, max);
		return -1;
	}
	return 0;
}

static int read_key(const char *path, struct serve_config *cfg)
{
	FILE *f = fopen(path, "r");
	char *line = NULL;
	size_t cap = 0;
	ssize_t n;

	if (!f) {
		fprintf(stderr, "hc-serve: --api-key-file %s: %s\n", path, strerror(errno));
		return -1;
	}
	n = getline(&line, &cap, f);
	fclose(f);
	while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r' || line[n - 1] == ' '))
		line[--n] = 0;
	if (n <= 0) {
		fprintf(stderr, "hc-serve: --api-key-file %s: no key on its first line\n", path);
		free(line);
		return -1;
	}
	cfg->api_key = line;
	cfg->api_key_len = (size_t)n;
	return 0;
}

enum { OPT_KEY = 256, OPT_QUEUE, OPT_QUEUE_TIMEOUT, OPT_BODY, OPT_CONNS, OPT_PORT_FILE };

/* Seconds, a decimal number in [0, 86400]. */
static int parse_seconds(const char *s, const char *what, double *out)
{
	char *end;

	errno = 0;
	*out = strtod(s, &end);
	if (errno || end == s || *end || !(*out >= 0 && *out <= 86400)) {
		fprintf(stderr, "hc-serve: %s: '%s' is not a number of seconds in [0, 86400]\n",
			what, s);
		return -1;
	}
	return 0;
}

static int parse_args(int argc, char **argv, struct serve_config *cfg)
{
	static const struct option opts[] = {
		{ "device", required_argument, NULL, 'd' },
		{ "listen", required_argument, NULL, 'l' },
		{ "port-file", required_argument, NULL, OPT_PORT_FILE },
		{ "api-key-file", required_argument, NULL, OPT_KEY },
		{ "max-queue", required_argument, NULL, OPT_QUEUE },
		{ "queue-timeout", required_argument, NULL, OPT_QUEUE_TIMEOUT },
		{ "max-body", required_argument, NULL, OPT_BODY },
		{ "max-connections", required_argument, NULL, OPT_CONNS },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ 0 }
	};
	unsigned long long v;
	int ch;

	cfg->listen = "127.0.0.1:8080";
	cfg->max_queue = 64;
	cfg->queue_timeout = 30;
	cfg->max_body = 1 << 20;
	cfg->max_connections = 1024;
	while ((ch = getopt_long(argc, argv, "d:l:hV", opts, NULL)) != -1) {
		switch (ch) {
		case 'd':
			if (cfg->n_devices == SERVE_MAX_CARDS) {
				fprintf(stderr, "hc-serve: at most %d cards\n", SERVE_MAX_CARDS);
				return -1;
			}
			cfg->devices[cfg->n_devices++] = optarg;
			break;
		case 'l': cfg->listen = optarg; break;
		case OPT_PORT_FILE: cfg->port_file = optarg; break;
		case OPT_KEY:
			if (read_key(optarg, cfg))
				return -1;
			break;
		case OPT_QUEUE:
			if (parse_count(optarg, "--max-queue", 1 << 20, &v))
				return -1;
			cfg->max_queue = (uint32_t)v;
			break;
		case OPT_QUEUE_TIMEOUT:
			if (parse_seconds(optarg, "--queue-timeout", &cfg->queue_timeout))
				return -1;
			break;
		case OPT_BODY:
			if (parse_count(optarg, "--max-body", 1u << 30, &v) || v < 64) {
				fprintf(stderr, "hc-serve: --max-body: at least 64 bytes\n");
				return -1;
			}
			cfg->max_body = (size_t)v;
			break;
		case OPT_CONNS:
			if (parse_count(optarg, "--max-connections", 1 << 16, &v) || !v)
				return -1;
			cfg->max_connections = (unsigned)v;
			break;
		case 'h': usage(stdout); exit(0);
		case 'V':
			printf("hc-serve " HC_VERSION_STRING "\n");
			exit(0);
		default: usage(stderr); return -1;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "hc-serve: unexpected argument '%s'\n", argv[optind]);
		return -1;
	}
	return 0;
}

int main(int argc, char **argv)
{
	struct serve_server *srv = calloc(1, sizeof(*srv));
	char err[512];
	sigset_t set;
	int sig, ret = 1;

	if (!srv)
		return 1;
	if (parse_args(argc, argv, &srv->cfg))
		return 2;
	pthread_mutex_init(&srv->lock, NULL);
	pthread_mutex_init(&srv->metrics.lock, NULL);
	srv->queue_tail = &srv->queue;
	/* a client that hangs up must not kill us; the signals are for sigwait() alone, so
	 * block them before any thread starts */
	signal(SIGPIPE, SIG_IGN);
	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &set, NULL);

	if (serve_cards_open(srv, err, sizeof(err)) ||
	    serve_http_start(srv, err, sizeof(err))) {
		fprintf(stderr, "hc-serve: %s\n", err);
		goto out;
	}
	for (unsigned i = 0; i < srv->n_cards; i++)
		fprintf(stderr, "hc-serve: card %u: %s, model %s (%.16s...), %u contexts\n", i,
			srv->cards[i].uri, srv->cards[i].info.model_name,
			srv->cards[i].identity_hex, srv->cards[i].capacity);
	fprintf(stderr, "hc-serve: listening on %s (port %u)%s\n", srv->cfg.listen, srv->port,
		srv->cfg.api_key ? ", API key required" : "");
	if (srv->cfg.port_file) {
		char tmp[4096];
		FILE *f;

		/* written whole then renamed: a reader never sees half a number */
		snprintf(tmp, sizeof(tmp), "%s.tmp", srv->cfg.port_file);
		f = fopen(tmp, "w");
		if (!f || fprintf(f, "%u\n", srv->port) < 0 || fclose(f) ||
		    rename(tmp, srv->cfg.port_file)) {
			fprintf(stderr, "hc-serve: --port-file %s: %s\n", srv->cfg.port_file,
				strerror(errno));
			goto out;
		}
	}
	while (sigwait(&set, &sig) == 0 && sig != SIGINT && sig != SIGTERM)
		;
	fprintf(stderr, "hc-serve: signal %d, shutting down\n", sig);
	ret = 0;
out:
	serve_cards_close(srv);
	serve_http_stop(srv);
	serve_cards_free(srv);
	free(srv->cfg.api_key);
	free(srv);
	return ret;
}
