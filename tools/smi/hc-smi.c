// SPDX-License-Identifier: MIT
/*
 * hc-smi: what an operator needs to know about the HC cards of a machine (docs/hc-smi.md,
 * hc-smi(1)): an overview table, --details, a --json snapshot and nvidia-smi style
 * --query ... --format=csv, once or every -l SECONDS. Everything goes through libhc, so
 * emulated (hc-emud) and real (kernel driver) cards look the same.
 *
 * Exit status: 0 every card was read; 1 a card could not be read, or none was found;
 * 2 usage error (bad option, unknown field, bad format).
 */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include "smi.h"
#include "uapi/hc_card.h"

#define DEFAULT_SAMPLE_MS 200

enum out_mode { OUT_TABLE, OUT_DETAILS, OUT_JSON, OUT_CSV, OUT_PROM, OUT_CDI };

struct opts {
	const char *devs[SMI_MAX_CARDS];
	int n_devs;
	enum out_mode out;
	int n_modes;
	struct smi_csv csv;
	const char *query, *format;
	const char *output;		/* -o: write each snapshot here, atomically */
	int loop;
	double loop_s;
	unsigned sample_ms;
};

static volatile sig_atomic_t stop_requested;
static sigset_t sleep_mask;		/* signal mask while sleeping: SIGINT/SIGTERM let through */

static void on_signal(int sig)
{
	(void)sig;
	stop_requested = 1;
}

static void usage(FILE *f)
{
	fprintf(f,
		"usage: hc-smi [-d DEVICE]... [-q | --json | --query FIELDS [--format=FMT]]\n"
		"              [-l SECONDS] [--sample MS]\n"
		"Show the HC cards of this machine: by default a table, one row per card.\n"
		"  -d, --device DEV     card to show (repeatable): emu:/path/to/socket or\n"
		"                       /dev/accel/accelN (default: every card libhc discovers:\n"
		"                       $HC_DEVICE, /sys/class/accel, hc-emud's default sockets)\n"
		"  -q, --details        everything known about each card, grouped\n"
		"  -j, --json           one JSON snapshot (schema in hc-smi(1), docs/hc-smi.md)\n"
		"      --query FIELDS   comma-separated fields, one CSV line per card\n"
		"      --format=FMT     csv[,noheader][,nounits] (default csv)\n"
		"      --format=prometheus  Prometheus text format (metrics hc_*)\n"
		"      --cdi            a Container Device Interface spec for the cards (for\n"
		"                       /etc/cdi/hc.json; podman run --device hc/card=0)\n"
		"  -o, --output FILE    write each snapshot to FILE (replaced atomically), e.g.\n"
		"                       a node_exporter textfile: -l 15 -o DIR/hc.prom\n"
		"      --help-query     list the fields with their units\n"
		"  -l, --loop[=]SECONDS repeat every SECONDS (--loop alone: 1 s) until SIGINT\n"
		"      --sample MS      utilisation window of a single snapshot (default %d ms);\n"
		"                       0: average since the card started, no wait\n"
		"  -h, --help           this help\n"
		"  -V, --version        version\n"
		"Exit status: 0 ok, 1 a card could not be read or none was found, 2 usage error.\n",
		DEFAULT_SAMPLE_MS);
}

static int usage_error(const char *fmt, const char *arg)
{
	fprintf(stderr, "hc-smi: ");
	fprintf(stderr, fmt, arg);
	fprintf(stderr, "\nTry 'hc-smi --help'.\n");
	return 2;
}

static int parse_query(struct opts *o)
{
	char *list = strdup(o->query), *tok, *save = NULL;
	int ret = 0;

	if (!list) {
		fprintf(stderr, "hc-smi: out of memory\n");
		return 1;
	}
	o->csv.n = 0;
	for (tok = strtok_r(list, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		const struct smi_field *f;
		char *end;

		while (*tok == ' ')
			tok++;
		end = tok + strlen(tok);
		while (end > tok && end[-1] == ' ')
			*--end = 0;
		f = smi_field_find(tok);
		if (!f) {
			ret = usage_error(*tok ? "--query: unknown field '%s' (see --help-query)"
					       : "--query: empty field name%s", tok);
			break;
		}
		if (o->csv.n == sizeof(o->csv.fields) / sizeof(o->csv.fields[0])) {
			ret = usage_error("--query: too many fields%s", "");
			break;
		}
		o->csv.fields[o->csv.n++] = f;
	}
	if (!ret && !o->csv.n)
		ret = usage_error("--query: no fields given%s", "");
	free(list);
	return ret;
}

static int parse_format(struct opts *o)
{
	char *list = strdup(o->format ? o->format : "csv"), *tok, *save = NULL;
	int ret = 0, csv = 0;

	if (!list) {
		fprintf(stderr, "hc-smi: out of memory\n");
		return 1;
	}
	o->csv.header = 1;
	o->csv.units = 1;
	for (tok = strtok_r(list, ", ", &save); tok; tok = strtok_r(NULL, ", ", &save)) {
		if (!strcmp(tok, "csv"))
			csv = 1;
		else if (!strcmp(tok, "noheader"))
			o->csv.header = 0;
		else if (!strcmp(tok, "nounits"))
			o->csv.units = 0;
		else {
			ret = usage_error("--format: unknown format '%s' "
					  "(expected csv[,noheader][,nounits])", tok);
			break;
		}
	}
	if (!ret && !csv)
		ret = usage_error("--format: '%s' does not say csv (expected "
				  "csv[,noheader][,nounits])", o->format);
	free(list);
	return ret;
}

static int parse_seconds(const char *s, double *out)
{
	char *end;
	double v;

	errno = 0;
	v = strtod(s, &end);
	if (errno || end == s || *end || !(v >= 0.01 && v <= 86400))
		return usage_error("-l/--loop: '%s' is not a number of seconds in [0.01, 86400]", s);
	*out = v;
	return 0;
}

static int parse_args(int argc, char **argv, struct opts *o)
{
	enum { OPT_QUERY = 256, OPT_FORMAT, OPT_HELP_QUERY, OPT_SAMPLE, OPT_CDI };
	static const struct option lopts[] = {
		{ "device", required_argument, NULL, 'd' },
		{ "details", no_argument, NULL, 'q' },
		{ "json", no_argument, NULL, 'j' },
		{ "query", required_argument, NULL, OPT_QUERY },
		{ "format", required_argument, NULL, OPT_FORMAT },
		{ "help-query", no_argument, NULL, OPT_HELP_QUERY },
		{ "loop", optional_argument, NULL, 'l' },
		{ "sample", required_argument, NULL, OPT_SAMPLE },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ "output", required_argument, NULL, 'o' },
		{ "cdi", no_argument, NULL, OPT_CDI },
		{ 0 }
	};
	char *end;
	unsigned long ms;
	int ch, r;

	o->sample_ms = DEFAULT_SAMPLE_MS;
	opterr = 0;
	while ((ch = getopt_long(argc, argv, ":d:qjl:hVo:", lopts, NULL)) != -1) {
		switch (ch) {
		case 'd':
			if (o->n_devs == SMI_MAX_CARDS)
				return usage_error("-d: at most %s devices", "64");
			o->devs[o->n_devs++] = optarg;
			break;
		case 'q':
			o->out = OUT_DETAILS;
			o->n_modes++;
			break;
		case 'j':
			o->out = OUT_JSON;
			o->n_modes++;
			break;
		case OPT_QUERY:
			o->out = OUT_CSV;
			o->n_modes++;
			o->query = optarg;
			break;
		case OPT_FORMAT:
			o->format = optarg;
			if (!strcmp(optarg, "prometheus")) {
				o->out = OUT_PROM;
				o->n_modes++;
			}
			break;
		case 'o':
			o->output = optarg;
			break;
		case OPT_CDI:
			o->out = OUT_CDI;
			o->n_modes++;
			break;
		case OPT_HELP_QUERY:
			smi_print_fields(stdout);
			exit(0);
		case 'l':
			o->loop = 1;
			o->loop_s = 1;
			if (optarg && (r = parse_seconds(optarg, &o->loop_s)))
				return r;
			break;
		case OPT_SAMPLE:
			errno = 0;
			ms = strtoul(optarg, &end, 10);
			if (errno || end == optarg || *end || optarg[0] == '-' || ms > 60000)
				return usage_error("--sample: '%s' is not a number of milliseconds "
						   "in [0, 60000]", optarg);
			o->sample_ms = ms;
			break;
		case 'h':
			usage(stdout);
			exit(0);
		case 'V':
			printf("hc-smi " HC_VERSION_STRING "\n");
			exit(0);
		case ':':
			return usage_error("option '%s' needs an argument", argv[optind - 1]);
		default:
			if (optopt) {
				char opt[3] = { '-', (char)optopt, 0 };

				return usage_error("unknown option '%s'", opt);
			}
			return usage_error("unknown option '%s'", argv[optind - 1]);
		}
	}
	if (optind < argc)
		return usage_error("unexpected argument '%s'", argv[optind]);
	if (o->n_modes > 1)
		return usage_error("choose one of -q, --json, --query, --format=prometheus and "
				   "--cdi%s", "");
	if (o->format && o->out != OUT_CSV && o->out != OUT_PROM)
		return usage_error("--format needs --query (or is --format=prometheus)%s", "");
	if (o->out == OUT_CSV && ((r = parse_query(o)) || (r = parse_format(o))))
		return r;
	return 0;
}

/* ---- cards ---- */

static uint64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + ts.tv_nsec;
}

/* Sleep @ns, returning early when a stop was requested (signals only arrive in here). */
static void smi_sleep(uint64_t ns)
{
	uint64_t end = mono_ns() + ns, now;

	while (!stop_requested && (now = mono_ns()) < end) {
		struct timespec ts = { (end - now) / 1000000000u, (end - now) % 1000000000u };

		ppoll(NULL, 0, &ts, &sleep_mask);
	}
}

static int card_open(struct smi_card *c)
{
	struct hc_telemetry t;
	int r, i;

	r = hc_open(c->uri, &c->h);
	if (r) {
		c->h = NULL;
		c->open_err = r;
		return r;
	}
	c->open_err = 0;
	c->have_prev = 0;
	/* hc-emud mirrors telemetry into a new client's register page within a few ms; wait
	   for the first mirror rather than report zeros */
	for (i = 0; i < 2 * HC_CARD_HEARTBEAT_MAX_MS; i++) {
		if (hc_card_telemetry(c->h, &t) || t.heartbeat || t.uptime_ns)
			break;
		usleep(1000);
	}
	return 0;
}

static void card_read(struct smi_card *c)
{
	if (!c->h && card_open(c))
		return;
	hc_card_info(c->h, &c->info);
	hc_card_versions(c->h, &c->ver);
	c->tel_err = hc_card_telemetry(c->h, &c->t);
	c->mono_ns = mono_ns();
}

static uint64_t delta(uint64_t now, uint64_t before)
{
	return now > before ? now - before : 0;
}

/* Utilisation and rate: over the window since the previous read, else since start. */
static void card_derive(struct smi_card *c)
{
	const struct hc_telemetry *t = &c->t, *p = &c->prev;
	uint64_t wall;

	c->window = SMI_WIN_NONE;
	c->window_ns = 0;
	c->util_pct = c->tok_per_s = 0;
	c->alive = -1;
	if (!c->h || c->tel_err)
		return;
	if (c->have_prev) {
		wall = delta(c->mono_ns, c->prev_mono_ns);
		/* the card's own clock, like busy_ns; a card whose clock stopped: ours */
		c->window_ns = delta(t->uptime_ns, p->uptime_ns);
		if (!c->window_ns)
			c->window_ns = wall;
		if (c->window_ns) {
			c->window = SMI_WIN_SAMPLE;
			c->util_pct = 100.0 * delta(t->busy_ns, p->busy_ns) / c->window_ns;
			c->tok_per_s = 1e9 * delta(t->tokens_generated, p->tokens_generated) /
				       c->window_ns;
		}
		if (t->heartbeat != p->heartbeat)
			c->alive = 1;
		else if (wall >= 2ull * HC_CARD_HEARTBEAT_MAX_MS * 1000000)
			c->alive = 0;
	} else if (t->uptime_ns) {
		c->window = SMI_WIN_SINCE_START;
		c->window_ns = t->uptime_ns;
		c->util_pct = 100.0 * t->busy_ns / t->uptime_ns;
		c->tok_per_s = 1e9 * t->tokens_generated / t->uptime_ns;
	}
	/* busy time is counted when a forward pass ends, so a short window may exceed 100% */
	if (c->util_pct > 100)
		c->util_pct = 100;
}

static void keep_prev(struct smi_card *c)
{
	c->prev = c->t;
	c->prev_mono_ns = c->mono_ns;
	c->have_prev = c->h && !c->tel_err;
}

static void timestamp(char *buf, size_t len)
{
	struct timespec ts;
	struct tm tm;
	char s[32];

	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	strftime(s, sizeof(s), "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(buf, len, "%.20s.%03dZ", s, (int)(ts.tv_nsec / 1000000));
}

/* ---- discovery ---- */

static void no_card_message(void)
{
	const char *xdg = getenv("XDG_RUNTIME_DIR");

	if (xdg && *xdg && strlen(xdg) < 200)
		fprintf(stderr, "hc-smi: no HC card found (checked HC_DEVICE, /sys/class/accel, "
			"default emulator sockets %s/%s and %s)\n", xdg, HC_EMU_SOCKET_BASENAME,
			HC_DEFAULT_EMU_SOCKET);
	else
		fprintf(stderr, "hc-smi: no HC card found (checked HC_DEVICE, /sys/class/accel, "
			"default emulator socket %s)\n", HC_DEFAULT_EMU_SOCKET);
}

static int collect_cards(const struct opts *o, struct smi_card *cards, int *n_cards)
{
	struct hc_device_desc descs[SMI_MAX_CARDS];
	const char *env = getenv(HC_DEVICE_ENV);
	enum hc_backend be;
	size_t n = 0, i;
	int r;

	if (o->n_devs) {
		for (i = 0; i < (size_t)o->n_devs; i++) {
			r = hc_parse_uri(o->devs[i], &be, NULL, 0);
			if (r == -ENAMETOOLONG)
				return usage_error("-d '%s': path too long", o->devs[i]);
			if (r)
				return usage_error("-d '%s': not a device URI (expected emu:PATH or "
						   "/dev/accel/accelN)", o->devs[i]);
			cards[i].backend = be;
			snprintf(cards[i].uri, sizeof(cards[i].uri), "%s", o->devs[i]);
			cards[i].index = i;
		}
		*n_cards = o->n_devs;
		return 0;
	}
	if (env && *env && hc_parse_uri(env, NULL, NULL, 0))
		fprintf(stderr, "hc-smi: ignoring %s='%s': not a device URI (expected emu:PATH or "
			"/dev/accel/accelN)\n", HC_DEVICE_ENV, env);
	r = hc_list_devices(descs, SMI_MAX_CARDS, &n);
	if (r == -ENOSPC) {
		fprintf(stderr, "hc-smi: %zu cards found, showing the first %d\n", n,
			SMI_MAX_CARDS);
		n = SMI_MAX_CARDS;
	} else if (r) {
		fprintf(stderr, "hc-smi: cannot list cards: %s\n", hc_strerror(r));
		return 1;
	}
	if (!n) {
		no_card_message();
		return 1;
	}
	for (i = 0; i < n; i++) {
		cards[i].index = i;
		cards[i].backend = descs[i].backend;
		snprintf(cards[i].uri, sizeof(cards[i].uri), "%.*s", HC_URI_MAX - 1, descs[i].uri);
	}
	*n_cards = n;
	return 0;
}

/* Report cards that could not be read; in a loop only when that changes. */
static int report_errors(struct smi_card *cards, int n, int *last_err)
{
	int i, bad = 0, e;

	for (i = 0; i < n; i++) {
		const struct smi_card *c = &cards[i];

		e = !c->h ? c->open_err : c->tel_err;
		if (e) {
			bad = 1;
			if (e != last_err[i])
				fprintf(stderr, "hc-smi: card %d (%s): %s: %s\n", c->index, c->uri,
					!c->h ? "cannot open" : "telemetry unavailable",
					hc_strerror(e));
		}
		last_err[i] = e;
	}
	return bad;
}

/* -o FILE: each snapshot goes to FILE.tmp, then replaces FILE, so a reader (node_exporter)
 * never sees half of one. */
static FILE *output_open(const char *path, char *tmp, size_t len)
{
	FILE *f;

	if ((size_t)snprintf(tmp, len, "%s.tmp", path) >= len) {
		fprintf(stderr, "hc-smi: -o %s: path too long\n", path);
		return NULL;
	}
	f = fopen(tmp, "w");
	if (!f)
		fprintf(stderr, "hc-smi: -o %s: %s\n", tmp, strerror(errno));
	return f;
}

static int output_close(FILE *f, const char *tmp, const char *path)
{
	if (fflush(f) || ferror(f) | fclose(f) || rename(tmp, path)) {
		fprintf(stderr, "hc-smi: -o %s: %s\n", path, strerror(errno));
		unlink(tmp);
		return -1;
	}
	return 0;
}

static void setup_signals(void)
{
	struct sigaction sa;
	sigset_t block;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	/* blocked except while sleeping, so a stop never interrupts a libhc call midway */
	sigemptyset(&block);
	sigaddset(&block, SIGINT);
	sigaddset(&block, SIGTERM);
	sigprocmask(SIG_BLOCK, &block, &sleep_mask);
	sigdelset(&sleep_mask, SIGINT);
	sigdelset(&sleep_mask, SIGTERM);
}

int main(int argc, char **argv)
{
	static struct smi_card cards[SMI_MAX_CARDS];
	int last_err[SMI_MAX_CARDS] = { 0 };
	struct smi_snapshot snap = { .cards = cards };
	struct opts o = { 0 };
	char tmp[4096];
	FILE *out;
	int i, r, iter, bad = 0;

	r = parse_args(argc, argv, &o);
	if (r)
		return r;
	r = collect_cards(&o, cards, &snap.n);
	if (r)
		return r;
	if (o.out == OUT_CDI) {
		/* the cards' addresses only: a spec is written before containers start, and
		   does not need the cards to answer now */
		out = stdout;
		if (o.output && !(out = output_open(o.output, tmp, sizeof(tmp))))
			return 1;
		if (smi_print_cdi(out, &snap)) {
			fprintf(stderr, "hc-smi: out of memory building the CDI spec\n");
			return 1;
		}
		return o.output ? (output_close(out, tmp, o.output) ? 1 : 0) : (fflush(stdout) != 0);
	}
	if (o.loop)
		setup_signals();
	else
		sigprocmask(SIG_SETMASK, NULL, &sleep_mask);

	if (o.sample_ms) {
		for (i = 0; i < snap.n; i++) {
			card_read(&cards[i]);
			keep_prev(&cards[i]);
		}
		smi_sleep(o.sample_ms * 1000000ull);
	}
	for (iter = 0; !stop_requested; iter++) {
		for (i = 0; i < snap.n; i++) {
			card_read(&cards[i]);
			card_derive(&cards[i]);
		}
		timestamp(snap.timestamp, sizeof(snap.timestamp));
		snap.mode = (iter == 0 && !o.sample_ms) ? SMI_WIN_SINCE_START : SMI_WIN_SAMPLE;
		snap.mode_ns = iter == 0 ? o.sample_ms * 1000000ull : (uint64_t)llround(o.loop_s * 1e9);
		out = stdout;
		if (o.output && !(out = output_open(o.output, tmp, sizeof(tmp)))) {
			bad = 1;
			break;
		}
		if (iter && !o.output && (o.out == OUT_TABLE || o.out == OUT_DETAILS))
			putchar('\n');
		switch (o.out) {
		case OUT_TABLE:
			smi_print_table(out, &snap);
			break;
		case OUT_DETAILS:
			smi_print_details(out, &snap);
			break;
		case OUT_JSON:
			if (smi_print_json(out, &snap, o.loop)) {
				fprintf(stderr, "hc-smi: out of memory building JSON\n");
				bad = 1;
			}
			break;
		case OUT_CSV:
			smi_print_csv(out, &snap, &o.csv, iter == 0 || o.output);
			break;
		case OUT_PROM:
			smi_print_prometheus(out, &snap);
			break;
		case OUT_CDI:
			break;	/* handled before the loop */
		}
		if (o.output && output_close(out, tmp, o.output)) {
			bad = 1;
			break;
		}
		fflush(stdout);
		bad = report_errors(cards, snap.n, last_err) || bad;
		if (!o.loop)
			break;
		for (i = 0; i < snap.n; i++) {
			keep_prev(&cards[i]);
			/* a card whose heartbeat stopped may come back (a restarted hc-emud, a
			   driver reset): open it afresh next time */
			if (cards[i].alive == 0) {
				hc_close(cards[i].h);
				cards[i].h = NULL;
				cards[i].have_prev = 0;
			}
		}
		smi_sleep(llround(o.loop_s * 1e9));
		if (!stop_requested)
			bad = 0;	/* the status reflects the last snapshot */
	}
	for (i = 0; i < snap.n; i++)
		hc_close(cards[i].h);
	if (fflush(stdout) || ferror(stdout)) {
		fprintf(stderr, "hc-smi: error writing output: %s\n", strerror(errno));
		return 1;
	}
	return bad ? 1 : 0;
}
