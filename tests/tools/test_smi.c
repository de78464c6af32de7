// SPDX-License-Identifier: MIT
/*
 * hc-smi against a private hc-emud (synthetic tiny ROM): --json agrees with hc_card_info and
 * hc_card_telemetry, --query CSV (header, units, noheader, nounits, quoting), the table,
 * --details, counters that move after a generation through libhc, --loop stopped by SIGINT,
 * and the errors: unknown field or format (exit 2, naming it), unreachable card and no card
 * at all (exit 1, clear message).
 */
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include "hc/hc_version.h"
#include "hc_test.h"
#include "libhc_util.h"
#include "uapi/hc_card.h"

#define OUT_MAX (256 * 1024)

struct run {
	char out[OUT_MAX];
	char err[16384];
	int status;		/* exit status, or -signal */
};

static struct run *r_new(void)
{
	struct run *r = calloc(1, sizeof(*r));

	ck_assert_ptr_nonnull(r);
	return r;
}

/* Read both pipes until EOF (poll: never block on one while the other fills). */
/* Called after each read with the output so far: lets a test act on what hc-smi printed. */
typedef void (*smi_hook)(const struct run *r, pid_t pid, void *arg);

static int count_lines(const char *s)
{
	int n = 0;

	for (; *s; s++)
		n += *s == '\n';
	return n;
}

/* --loop: once @arg lines are out, ask it to stop like a user would */
static void sigint_after_lines(const struct run *r, pid_t pid, void *arg)
{
	int *lines = arg;

	if (*lines && count_lines(r->out) >= *lines) {
		kill(pid, SIGINT);
		*lines = 0;
	}
}

/* One read from @fd into @buf (@cap bytes, room kept for a NUL) at *@n; EOF clears *@open. */
static void read_some(int fd, char *buf, size_t cap, size_t *n, int *open)
{
	ssize_t k = read(fd, buf + *n, cap - 1 - *n);

	ck_assert_int_ge(k, 0);
	if (k == 0)
		*open = 0;
	*n += k;
	ck_assert_uint_lt(*n, cap - 1);
}

static void drain(int fo, int fe, struct run *r, smi_hook hook, void *arg, pid_t pid)
{
	size_t no = 0, ne = 0;
	int open_o = 1, open_e = 1;

	while (open_o || open_e) {
		struct pollfd p[2] = { { open_o ? fo : -1, POLLIN, 0 },
				       { open_e ? fe : -1, POLLIN, 0 } };

		ck_assert_int_ge(poll(p, 2, -1), 0);
		if (open_o && (p[0].revents & (POLLIN | POLLHUP)))
			read_some(fo, r->out, sizeof(r->out), &no, &open_o);
		if (open_e && (p[1].revents & (POLLIN | POLLHUP)))
			read_some(fe, r->err, sizeof(r->err), &ne, &open_e);
		r->out[no] = r->err[ne] = 0;
		if (hook)
			hook(r, pid, arg);
	}
}

/*
 * Run build/hc-smi with the NULL-terminated arguments @ap. @env_xdg non-NULL: run with no
 * HC_DEVICE and XDG_RUNTIME_DIR=@env_xdg. @hook: see smi_hook.
 */
static void smi_runv(struct run *r, const char *env_xdg, smi_hook hook, void *arg, va_list ap)
{
	char *argv[40];
	const char *a;
	int po[2], pe[2], st, n = 0;
	pid_t pid;

	argv[n++] = "build/hc-smi";
	while ((a = va_arg(ap, const char *)) && n < 39)
		argv[n++] = (char *)a;
	argv[n] = NULL;
	ck_assert_int_eq(pipe2(po, O_CLOEXEC), 0);
	ck_assert_int_eq(pipe2(pe, O_CLOEXEC), 0);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		dup2(po[1], 1);
		dup2(pe[1], 2);
		if (env_xdg) {
			unsetenv("HC_DEVICE");
			setenv("XDG_RUNTIME_DIR", env_xdg, 1);
		}
		execv(argv[0], argv);
		_exit(127);
	}
	close(po[1]);
	close(pe[1]);
	drain(po[0], pe[0], r, hook, arg, pid);
	close(po[0]);
	close(pe[0]);
	ck_assert_int_eq(waitpid(pid, &st, 0), pid);
	r->status = WIFEXITED(st) ? WEXITSTATUS(st) : -WTERMSIG(st);
	ck_assert_msg(r->status != 127, "cannot run build/hc-smi");
}

/* smi_runv; @sigint_after > 0: send SIGINT once that many lines are out (for --loop). */
static void smi_run(struct run *r, const char *env_xdg, int sigint_after, ...)
{
	va_list ap;

	va_start(ap, sigint_after);
	smi_runv(r, env_xdg, sigint_after ? sigint_after_lines : NULL, &sigint_after, ap);
	va_end(ap);
}

static void smi_run_hook(struct run *r, smi_hook hook, void *arg, ...)
{
	va_list ap;

	va_start(ap, arg);
	smi_runv(r, NULL, hook, arg, ap);
	va_end(ap);
}

static void start(struct t_emud *e, struct hc_card **card, struct hc_card_info *info)
{
	char rom[256];

	t_bake("tiny", 1, rom, sizeof(rom));
	t_emud_start(e, rom, NULL);
	ck_assert_int_eq(hc_open(e->uri, card), 0);
	ck_assert_int_eq(hc_card_info(*card, info), 0);
}

static json_t *json_path(json_t *o, const char *group, const char *key)
{
	json_t *g = group ? json_object_get(o, group) : o, *v;

	ck_assert_msg(json_is_object(g), "no object %s", group);
	v = json_object_get(g, key);
	ck_assert_msg(v, "no key %s.%s", group ? group : "", key);
	return v;
}

static json_int_t json_int(json_t *o, const char *group, const char *key)
{
	json_t *v = json_path(o, group, key);

	ck_assert_msg(json_is_integer(v), "%s is not an integer", key);
	return json_integer_value(v);
}

static const char *json_str(json_t *o, const char *group, const char *key)
{
	json_t *v = json_path(o, group, key);

	ck_assert_msg(json_is_string(v), "%s is not a string", key);
	return json_string_value(v);
}

/* The only card of a --json snapshot. */
static json_t *json_card(const struct run *r, json_t **root)
{
	json_error_t jerr;
	json_t *cards;

	*root = json_loads(r->out, 0, &jerr);
	ck_assert_msg(*root, "hc-smi --json: %s at line %d\n%s", jerr.text, jerr.line, r->out);
	ck_assert_int_eq(json_integer_value(json_object_get(*root, "schema_version")), 1);
	ck_assert(json_is_string(json_object_get(*root, "timestamp")));
	cards = json_object_get(*root, "cards");
	ck_assert(json_is_array(cards));
	ck_assert_uint_eq(json_array_size(cards), 1);
	return json_array_get(cards, 0);
}

START_TEST(test_json_matches_card_info)
{
	static const char *const tel_keys[] = { "tokens_generated", "prompt_tokens",
		"jobs_completed", "jobs_failed", "busy_ns", "uptime_ns" };
	struct hc_card_info info;
	struct hc_card *card;
	struct t_emud e;
	struct run *r = r_new();
	json_t *root, *c, *caps;
	char hex[65];
	size_t i;

	start(&e, &card, &info);
	smi_run(r, NULL, 0, "-d", e.uri, "--json", NULL);
	ck_assert_msg(r->status == 0, "exit %d: %s", r->status, r->err);
	ck_assert_str_eq(r->err, "");
	c = json_card(r, &root);
	ck_assert_int_eq(json_int(c, NULL, "index"), 0);
	ck_assert_str_eq(json_str(c, NULL, "device"), e.uri);
	ck_assert_str_eq(json_str(c, NULL, "backend"), "emu");
	ck_assert_str_eq(json_str(c, NULL, "model_name"), info.model_name);
	ck_assert_str_eq(json_str(c, NULL, "identity"), hc_identity_hex(info.identity, hex));
	ck_assert_int_eq(json_int(c, NULL, "interface_version"), info.interface_version);
	ck_assert_str_eq(json_str(c, NULL, "status"), "ready");
	ck_assert_int_eq(json_int(c, NULL, "status_code"), info.status);
	ck_assert_int_eq(json_int(c, NULL, "capabilities_mask"), (json_int_t)info.capabilities);
	caps = json_path(c, NULL, "capabilities");
	ck_assert(json_is_array(caps));
	ck_assert_uint_eq(json_array_size(caps), __builtin_popcountll(info.capabilities));
	ck_assert_str_eq(json_string_value(json_array_get(caps, 0)), "transport_socket");
	ck_assert_int_eq(json_int(c, "shape", "vocab_size"), info.vocab_size);
	ck_assert_int_eq(json_int(c, "shape", "dim"), info.dim);
	ck_assert_int_eq(json_int(c, "shape", "n_layers"), info.n_layers);
	ck_assert_int_eq(json_int(c, "shape", "n_heads"), info.n_heads);
	ck_assert_int_eq(json_int(c, "shape", "n_kv_heads"), info.n_kv_heads);
	ck_assert_int_eq(json_int(c, "shape", "ffn_dim"), info.ffn_dim);
	ck_assert_int_eq(json_int(c, "shape", "model_max_ctx"), info.model_max_ctx);
	ck_assert_int_eq(json_int(c, "limits", "n_contexts"), info.n_contexts);
	ck_assert_int_eq(json_int(c, "limits", "max_ctx"), info.max_ctx);
	ck_assert_int_eq(json_int(c, "limits", "n_queue_pairs"), info.n_queue_pairs);
	ck_assert_int_eq(json_int(c, "limits", "max_queue_entries"), info.max_queue_entries);
	ck_assert_int_eq(json_int(c, "limits", "stream_mem_bytes"),
			 (json_int_t)info.stream_mem_bytes);
	for (i = 0; i < sizeof(tel_keys) / sizeof(tel_keys[0]); i++)
		ck_assert_int_ge(json_int(c, "counters", tel_keys[i]), 0);
	ck_assert_int_gt(json_int(c, "counters", "uptime_ns"), 0);
	/* the simulated idle card: 35 C, 20 W (docs/hc-emud.md) */
	ck_assert_int_ge(json_int(c, "sensors", "temperature_mC"), 30000);
	ck_assert_int_gt(json_int(c, "sensors", "power_uW"), 0);
	ck_assert_int_ge(json_int(c, "sensors", "energy_uJ"), 0);
	/* this test's handle and hc-smi's own */
	ck_assert_int_eq(json_int(c, "activity", "clients"), 2);
	ck_assert_int_eq(json_int(c, "activity", "contexts_in_use"), 0);
	ck_assert_str_eq(json_str(c, "activity", "utilization_window"), "sample");
	ck_assert_int_gt(json_int(c, "activity", "utilization_window_ns"), 0);
	ck_assert(json_is_number(json_path(c, "activity", "utilization_percent")));
	ck_assert(json_is_number(json_path(c, "activity", "tokens_per_second")));
	json_decref(root);

	/* --sample 0: no wait, averaged since the card started */
	smi_run(r, NULL, 0, "-d", e.uri, "--json", "--sample", "0", NULL);
	ck_assert_int_eq(r->status, 0);
	c = json_card(r, &root);
	ck_assert_str_eq(json_str(c, "activity", "utilization_window"), "since_start");
	ck_assert_int_eq(json_int(c, "activity", "utilization_window_ns"),
			 json_int(c, "counters", "uptime_ns"));
	ck_assert(json_is_null(json_path(c, "activity", "heartbeat_alive")));
	json_decref(root);

	hc_close(card);
	t_emud_stop(&e);
	free(r);
}
END_TEST

/*
 * One version everywhere, as hc-smi shows it: the libhc it runs with, the card interface's
 * version and the card firmware's (hc-emud's own, the project's); no driver on the socket
 * transport. In --json, the table, --details, --query and the Prometheus labels.
 */
START_TEST(test_versions)
{
	struct hc_card_info info;
	struct hc_card *card;
	struct t_emud e;
	struct run *r = r_new();
	json_t *root, *c;
	char want[256];

	start(&e, &card, &info);
	smi_run(r, NULL, 0, "-d", e.uri, "--json", "--sample", "0", NULL);
	ck_assert_msg(r->status == 0, "exit %d: %s", r->status, r->err);
	c = json_card(r, &root);
	ck_assert_str_eq(json_str(root, NULL, "libhc_version"), HC_VERSION_STRING);
	ck_assert_int_eq(json_int(c, NULL, "interface_version"), HC_CARD_VERSION);
	ck_assert_str_eq(json_str(c, NULL, "firmware_version"), HC_VERSION_STRING);
	ck_assert(json_is_null(json_path(c, NULL, "driver_version")));
	json_decref(root);

	/* the table: the versions under it, libhc's then each card's */
	smi_run(r, NULL, 0, "-d", e.uri, "--sample", "0", NULL);
	ck_assert_msg(r->status == 0, "exit %d: %s", r->status, r->err);
	ck_assert_msg(strstr(r->out, "\nVersions  libhc " HC_VERSION_STRING "\n"), "%s", r->out);
	snprintf(want, sizeof(want), "\n#  Interface  Firmware  Driver\n0  %9u  %-8s  -\n",
		 HC_CARD_VERSION, HC_VERSION_STRING);
	ck_assert_msg(strstr(r->out, want), "no '%s' in:\n%s", want, r->out);

	smi_run(r, NULL, 0, "-d", e.uri, "-q", "--sample", "0", NULL);
	ck_assert_msg(r->status == 0, "exit %d: %s", r->status, r->err);
	ck_assert_msg(!strncmp(r->out, "hc-smi  ", 8) &&
		      strstr(r->out, "  libhc " HC_VERSION_STRING "\n"), "%s", r->out);
	snprintf(want, sizeof(want), "Interface version       : %u\n", HC_CARD_VERSION);
	ck_assert_msg(strstr(r->out, want), "%s", r->out);
	ck_assert_msg(strstr(r->out, "Firmware version        : " HC_VERSION_STRING "\n"), "%s",
		      r->out);
	ck_assert_msg(strstr(r->out, "Driver version          : [N/A]\n"), "%s", r->out);

	smi_run(r, NULL, 0, "-d", e.uri, "--query",
		"libhc_version,interface_version,firmware_version,driver_version",
		"--format=csv,noheader", "--sample", "0", NULL);
	ck_assert_msg(r->status == 0, "exit %d: %s", r->status, r->err);
	snprintf(want, sizeof(want), "%s, %u, %s, [N/A]\n", HC_VERSION_STRING, HC_CARD_VERSION,
		 HC_VERSION_STRING);
	ck_assert_str_eq(r->out, want);

	smi_run(r, NULL, 0, "-d", e.uri, "--format=prometheus", "--sample", "0", NULL);
	ck_assert_msg(r->status == 0, "exit %d: %s", r->status, r->err);
	ck_assert(strstr(r->out, "hc_smi_info{version=\"" HC_VERSION_STRING "\",libhc=\""
			 HC_VERSION_STRING "\"} 1\n"));
	snprintf(want, sizeof(want), ",interface_version=\"%u\",firmware_version=\"%s\"} 1\n",
		 HC_CARD_VERSION, HC_VERSION_STRING);
	ck_assert_msg(strstr(r->out, want), "no '%s' in:\n%s", want, r->out);
	ck_assert_ptr_null(strstr(r->out, "driver_version="));

	hc_close(card);
	t_emud_stop(&e);
	free(r);
}
END_TEST

/*
 * --format=prometheus: the text exposition format (every family's HELP and TYPE before its
 * samples, counters named _total, label values quoted), values equal to --json's, and
 * -o FILE writes the same atomically.
 */
START_TEST(test_prometheus)
{
	struct hc_card_info info;
	struct hc_card *card;
	struct t_emud e;
	struct run *r = r_new();
	char family[128] = "", want[256], path[] = "/tmp/hc-smi-prom-XXXXXX", file[300];
	char *line, *save = NULL;
	int samples = 0, fd;
	FILE *f;

	start(&e, &card, &info);
	smi_run(r, NULL, 0, "-d", e.uri, "--format=prometheus", "--sample", "0", NULL);
	ck_assert_msg(r->status == 0, "exit %d: %s", r->status, r->err);
	snprintf(want, sizeof(want), "hc_vocab_size{card=\"0\",device=\"%s\"} %u\n", e.uri,
		 info.vocab_size);
	ck_assert_msg(strstr(r->out, want), "no '%s' in:\n%s", want, r->out);
	ck_assert(strstr(r->out, "hc_card_up{card=\"0\","));
	ck_assert(strstr(r->out, "# TYPE hc_tokens_generated_total counter\n"));
	ck_assert(strstr(r->out, "hc_smi_info{version=\"" HC_VERSION_STRING "\""));
	for (line = strtok_r(r->out, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char name[128], type[16];

		if (sscanf(line, "# TYPE %127s %15s", name, type) == 2) {
			ck_assert_msg(!strcmp(type, "gauge") || !strcmp(type, "counter"), "%s", line);
			ck_assert_msg(!strcmp(type, "gauge") ||
				      strstr(name, "_total") == name + strlen(name) - 6, "%s", line);
			snprintf(family, sizeof(family), "%s{", name);
			continue;
		}
		if (line[0] == '#')
			continue;
		/* a sample of the family whose TYPE came last, with a number after the labels */
		ck_assert_msg(family[0] && !strncmp(line, family, strlen(family)),
			      "sample '%s' outside its family '%s'", line, family);
		ck_assert_msg(strstr(line, "} ") && strspn(strstr(line, "} ") + 2, "0123456789.") ==
			      strlen(strstr(line, "} ") + 2), "bad value in '%s'", line);
		samples++;
	}
	ck_assert_int_gt(samples, 20);

	fd = mkstemp(path);
	ck_assert_int_ge(fd, 0);
	close(fd);
	snprintf(file, sizeof(file), "%s.prom", path);
	smi_run(r, NULL, 0, "-d", e.uri, "--format=prometheus", "--sample", "0", "-o", file, NULL);
	ck_assert_msg(r->status == 0, "exit %d: %s", r->status, r->err);
	ck_assert_str_eq(r->out, "");
	f = fopen(file, "r");
	ck_assert_ptr_nonnull(f);
	ck_assert_int_gt(fread(r->out, 1, sizeof(r->out) - 1, f), 100);
	fclose(f);
	unlink(file);
	unlink(path);
	hc_close(card);
	t_emud_stop(&e);
	free(r);
}
END_TEST

/* --cdi: a CDI spec naming each card: a socket bind-mounted, a node passed, HC_DEVICE set. */
START_TEST(test_cdi)
{
	struct run *r = r_new();
	json_error_t je;
	json_t *root, *d0, *d1;

	smi_run(r, NULL, 0, "-d", "emu:/run/hc/emud.sock", "-d", "/dev/accel/accel3", "--cdi",
		NULL);
	ck_assert_msg(r->status == 0, "exit %d: %s", r->status, r->err);
	root = json_loads(r->out, 0, &je);
	ck_assert_msg(root, "not JSON (%s): %s", je.text, r->out);
	ck_assert_str_eq(json_string_value(json_object_get(root, "cdiVersion")), "0.6.0");
	ck_assert_str_eq(json_string_value(json_object_get(root, "kind")), "hc/card");
	ck_assert_uint_eq(json_array_size(json_object_get(root, "devices")), 2);
	d0 = json_array_get(json_object_get(root, "devices"), 0);
	d1 = json_array_get(json_object_get(root, "devices"), 1);
	ck_assert_str_eq(json_string_value(json_object_get(d0, "name")), "0");
	ck_assert_str_eq(json_string_value(json_object_get(d1, "name")), "1");
	d0 = json_object_get(d0, "containerEdits");
	d1 = json_object_get(d1, "containerEdits");
	ck_assert_str_eq(json_string_value(json_array_get(json_object_get(d0, "env"), 0)),
			 "HC_DEVICE=emu:/run/hc/emud.sock");
	ck_assert_str_eq(json_string_value(json_object_get(json_array_get(
		json_object_get(d0, "mounts"), 0), "hostPath")), "/run/hc/emud.sock");
	ck_assert_str_eq(json_string_value(json_object_get(json_array_get(
		json_object_get(d1, "deviceNodes"), 0), "path")), "/dev/accel/accel3");
	ck_assert_str_eq(json_string_value(json_array_get(json_object_get(d1, "env"), 0)),
			 "HC_DEVICE=/dev/accel/accel3");
	json_decref(root);
	free(r);
}
END_TEST

START_TEST(test_query_csv)
{
	struct hc_card_info info;
	struct hc_card *card;
	struct t_emud e;
	struct run *r = r_new();
	char want[1024], hex[65], *line2;
	double temp;

	start(&e, &card, &info);
	hc_identity_hex(info.identity, hex);

	smi_run(r, NULL, 0, "-d", e.uri, "--query",
		"index,device,model_name,identity,identity_short,n_contexts,vocab_size,status,"
		"contexts_in_use,backend", "--format=csv,noheader", NULL);
	ck_assert_msg(r->status == 0, "exit %d: %s", r->status, r->err);
	snprintf(want, sizeof(want), "0, %s, %s, %s, %.12s, %u, %u tokens, ready, 0, emu\n",
		 e.uri, info.model_name, hex, hex, info.n_contexts, info.vocab_size);
	ck_assert_str_eq(r->out, want);

	/* header with units, values with units */
	smi_run(r, NULL, 0, "-d", e.uri, "--query", "index, vocab_size ,temperature,power_uW",
		"--format=csv", NULL);
	ck_assert_int_eq(r->status, 0);
	line2 = strchr(r->out, '\n');
	ck_assert_ptr_nonnull(line2);
	*line2++ = 0;
	ck_assert_str_eq(r->out, "index, vocab_size [tokens], temperature [C], power_uW [uW]");
	snprintf(want, sizeof(want), "0, %u tokens, ", info.vocab_size);
	ck_assert_msg(!strncmp(line2, want, strlen(want)), "%s", line2);
	ck_assert_msg(strstr(line2, " C, ") && strstr(line2, " uW\n"), "%s", line2);

	/* nounits: bare numbers; the header names stay */
	smi_run(r, NULL, 0, "-d", e.uri, "--query", "vocab_size,temperature,temperature_mC",
		"--format=csv,nounits", NULL);
	ck_assert_int_eq(r->status, 0);
	{
		unsigned vocab;
		unsigned long long mc;

		ck_assert_msg(sscanf(r->out, "vocab_size, temperature, temperature_mC\n%u, %lf, %llu",
				     &vocab, &temp, &mc) == 3, "%s", r->out);
		ck_assert_uint_eq(vocab, info.vocab_size);
		ck_assert_msg(temp > 20 && temp < 120, "%f", temp);
	}

	/* --help-query lists every field with its unit */
	smi_run(r, NULL, 0, "--help-query", NULL);
	ck_assert_int_eq(r->status, 0);
	ck_assert_ptr_nonnull(strstr(r->out, "temperature_mC [mC]"));
	ck_assert_ptr_nonnull(strstr(r->out, "power_uW [uW]"));
	ck_assert_ptr_nonnull(strstr(r->out, "busy_ns [ns]"));
	ck_assert_ptr_nonnull(strstr(r->out, "utilization_percent [%]"));

	hc_close(card);
	t_emud_stop(&e);
	free(r);
}
END_TEST

START_TEST(test_table_and_details)
{
	struct hc_card_info info;
	struct hc_card *card;
	struct hc_ctx *ctx;
	struct t_emud e;
	struct run *r = r_new();
	char hex[65], want[256], *row;

	start(&e, &card, &info);
	hc_identity_hex(info.identity, hex);
	ck_assert_int_eq(hc_ctx_create(card, &ctx), 0);

	smi_run(r, NULL, 0, "-d", e.uri, NULL);
	ck_assert_msg(r->status == 0, "exit %d: %s", r->status, r->err);
	ck_assert_msg(!strncmp(r->out, "hc-smi  ", 8), "%s", r->out);
	ck_assert_ptr_nonnull(strstr(r->out, "over the last 0.2 s"));
	ck_assert_ptr_nonnull(strstr(r->out, e.uri));

	/* --sample 0 says the average is since start. The row is checked here: without a
	   window the status is the card's register, whatever the machine's load */
	smi_run(r, NULL, 0, "-d", e.uri, "--sample", "0", NULL);
	ck_assert_int_eq(r->status, 0);
	ck_assert_ptr_nonnull(strstr(r->out, "since each card started"));
	ck_assert_ptr_nonnull(strstr(r->out, "#  Device"));
	ck_assert_ptr_nonnull(strstr(r->out, "Busy%"));
	ck_assert_ptr_nonnull(strstr(r->out, "Temp C"));
	row = strstr(r->out, "\n0  ");
	ck_assert_msg(row, "no row for card 0:\n%s", r->out);
	ck_assert_ptr_nonnull(strstr(row, e.uri));
	ck_assert_ptr_nonnull(strstr(row, info.model_name));
	snprintf(want, sizeof(want), " %.12s ", hex);
	ck_assert_ptr_nonnull(strstr(row, want));
	ck_assert_ptr_nonnull(strstr(row, " ready "));
	snprintf(want, sizeof(want), " 1/%u ", info.n_contexts);	/* our context */
	ck_assert_msg(strstr(row, want), "%s", row);

	smi_run(r, NULL, 0, "-d", e.uri, "-q", NULL);
	ck_assert_int_eq(r->status, 0);
	snprintf(want, sizeof(want), "Identity                : %s\n", hex);
	ck_assert_msg(strstr(r->out, want), "%s", r->out);
	snprintf(want, sizeof(want), "Model name              : %s\n", info.model_name);
	ck_assert_ptr_nonnull(strstr(r->out, want));
	snprintf(want, sizeof(want), "Vocabulary              : %u tokens\n", info.vocab_size);
	ck_assert_ptr_nonnull(strstr(r->out, want));
	ck_assert_ptr_nonnull(strstr(r->out, "Contexts in use         : 1\n"));
	ck_assert_ptr_nonnull(strstr(r->out, "  Sensors\n"));

	hc_ctx_destroy(ctx);
	hc_close(card);
	t_emud_stop(&e);
	free(r);
}
END_TEST

/* Wait (bounded) until the heartbeat thread has mirrored @tokens generated tokens. */
static void wait_tokens(struct hc_card *card, uint64_t tokens, struct hc_telemetry *t)
{
	int i;

	for (i = 0; i < 3000; i++) {
		ck_assert_int_eq(hc_card_telemetry(card, t), 0);
		if (t->tokens_generated >= tokens)
			break;
		usleep(10000);
	}
	ck_assert_uint_eq(t->tokens_generated, tokens);
	/* one more mirror, so every counter of the finished jobs is in */
	{
		uint64_t hb = t->heartbeat;

		for (i = 0; i < 3000 && t->heartbeat < hb + 2; i++) {
			usleep(10000);
			ck_assert_int_eq(hc_card_telemetry(card, t), 0);
		}
	}
}

/* One sample of hc-smi's job counters for @uri, as plain numbers. */
static void smi_counters(struct run *r, const char *uri, unsigned long long *tok,
			 unsigned long long *pr, unsigned long long *ok, unsigned long long *failed,
			 unsigned long long *inuse, unsigned long long *busy)
{
	smi_run(r, NULL, 0, "-d", uri, "--query",
		"tokens_generated,prompt_tokens,jobs_completed,jobs_failed,contexts_in_use,busy_ns",
		"--format=csv,noheader,nounits", "--sample", "0", NULL);
	ck_assert_int_eq(r->status, 0);
	ck_assert_int_eq(sscanf(r->out, "%llu, %llu, %llu, %llu, %llu, %llu", tok, pr, ok,
				failed, inuse, busy), 6);
}

START_TEST(test_counters_move)
{
	static const int32_t prompt[] = { 1, 17, 42, 99, 7 };
	const uint32_t n_prompt = sizeof(prompt) / sizeof(prompt[0]);
	struct hc_decode_params dp = { .max_tokens = 24 };
	struct hc_telemetry before, after;
	struct hc_card_info info;
	struct hc_card *card;
	struct hc_stream *s;
	struct hc_ctx *ctx;
	struct t_emud e;
	struct run *r = r_new();
	unsigned long long tok, pr, ok, failed, inuse, busy;
	uint32_t ids[64];
	int n, got = 0;

	start(&e, &card, &info);
	wait_tokens(card, 0, &before);
	smi_counters(r, e.uri, &tok, &pr, &ok, &failed, &inuse, &busy);
	ck_assert_uint_eq(tok, before.tokens_generated);
	ck_assert_uint_eq(pr, before.prompt_tokens);
	ck_assert_uint_eq(inuse, 0);

	/* generate through libhc, keep the context open */
	ck_assert_int_eq(hc_ctx_create(card, &ctx), 0);
	ck_assert_int_eq(hc_ctx_prefill_tokens(ctx, prompt, n_prompt), 0);
	ck_assert_int_eq(hc_ctx_decode(ctx, &dp, &s), 0);
	while ((n = hc_stream_read(s, ids, 64)) > 0)
		got += n;
	ck_assert_int_eq(n, 0);
	ck_assert_int_eq(got, dp.max_tokens);
	hc_stream_free(s);
	wait_tokens(card, before.tokens_generated + got, &after);
	ck_assert_uint_ge(after.prompt_tokens, before.prompt_tokens + n_prompt);
	ck_assert_uint_gt(after.busy_ns, before.busy_ns);

	smi_counters(r, e.uri, &tok, &pr, &ok, &failed, &inuse, &busy);
	/* the card is idle: hc-smi reports exactly what libhc reads */
	ck_assert_uint_eq(tok, before.tokens_generated + got);
	ck_assert_uint_eq(pr, after.prompt_tokens);
	ck_assert_uint_eq(ok, after.jobs_completed);
	ck_assert_uint_gt(ok, before.jobs_completed);
	ck_assert_uint_eq(failed, 0);
	ck_assert_uint_eq(inuse, 1);
	ck_assert_uint_eq(busy, after.busy_ns);

	/* the since-start rate is the generated tokens over the uptime: > 0 now */
	smi_run(r, NULL, 0, "-d", e.uri, "--query", "tokens_per_second,utilization_window",
		"--format=csv,noheader,nounits", "--sample", "0", NULL);
	ck_assert_int_eq(r->status, 0);
	{
		double rate;
		char win[32];

		ck_assert_int_eq(sscanf(r->out, "%lf, %31s", &rate, win), 2);
		ck_assert_msg(rate > 0, "%s", r->out);
		ck_assert_str_eq(win, "since_start");
	}

	hc_ctx_destroy(ctx);
	hc_close(card);
	t_emud_stop(&e);
	free(r);
}
END_TEST

START_TEST(test_loop_stops_on_sigint)
{
	struct hc_card_info info;
	struct hc_card *card;
	struct t_emud e;
	struct run *r = r_new();
	char *p;
	int lines = 0;

	start(&e, &card, &info);
	/* header once, then one line per second; SIGINT after two snapshots */
	smi_run(r, NULL, 3, "-d", e.uri, "--query", "index,heartbeat_alive,model_name",
		"--format=csv", "-l", "0.05", NULL);
	ck_assert_msg(r->status == 0, "exit %d: %s", r->status, r->err);
	ck_assert_str_eq(r->err, "");
	ck_assert(!strncmp(r->out, "index, heartbeat_alive, model_name\n", 35));
	for (p = r->out; *p; p++)
		lines += *p == '\n';
	ck_assert_int_ge(lines, 3);
	ck_assert_ptr_null(strstr(r->out + 35, "index"));	/* header printed once */
	ck_assert_ptr_nonnull(strstr(r->out, info.model_name));

	/* --json in a loop: one compact document per line */
	smi_run(r, NULL, 2, "-d", e.uri, "--json", "--loop=0.05", NULL);
	ck_assert_int_eq(r->status, 0);
	p = strchr(r->out, '\n');
	ck_assert_ptr_nonnull(p);
	*p = 0;
	{
		json_error_t jerr;
		json_t *root = json_loads(r->out, 0, &jerr);

		ck_assert_msg(root, "%s: %s", jerr.text, r->out);
		json_decref(root);
	}

	hc_close(card);
	t_emud_stop(&e);
	free(r);
}
END_TEST

START_TEST(test_several_cards)
{
	struct hc_card_info info1, info2;
	struct hc_card *card1, *card2;
	struct t_emud e1, e2;
	struct run *r = r_new();
	json_t *root, *cards;
	char rom2[256], hex[65], *row;

	start(&e1, &card1, &info1);
	t_bake("tiny", 2, rom2, sizeof(rom2));
	t_emud_start(&e2, rom2, "--contexts", "8", NULL);
	ck_assert_int_eq(hc_open(e2.uri, &card2), 0);
	ck_assert_int_eq(hc_card_info(card2, &info2), 0);
	ck_assert(memcmp(info1.identity, info2.identity, 32));	/* another ROM */

	/* in -d order; the unreachable one in the middle is reported and makes the status 1 */
	smi_run(r, NULL, 0, "-d", e1.uri, "-d", "emu:/nonexistent/hc.sock", "-d", e2.uri,
		"--json", NULL);
	ck_assert_int_eq(r->status, 1);
	ck_assert_msg(strstr(r->err, "card 1 (emu:/nonexistent/hc.sock): cannot open: "),
		      "%s", r->err);
	ck_assert_ptr_null(strstr(r->err, "card 0"));
	root = json_loads(r->out, 0, NULL);
	ck_assert_ptr_nonnull(root);
	cards = json_object_get(root, "cards");
	ck_assert_uint_eq(json_array_size(cards), 3);
	ck_assert_str_eq(json_str(json_array_get(cards, 0), NULL, "identity"),
			 hc_identity_hex(info1.identity, hex));
	ck_assert_str_eq(json_str(json_array_get(cards, 2), NULL, "identity"),
			 hc_identity_hex(info2.identity, hex));
	ck_assert_int_eq(json_int(json_array_get(cards, 2), NULL, "index"), 2);
	ck_assert_str_eq(json_str(json_array_get(cards, 2), NULL, "device"), e2.uri);
	ck_assert_int_eq(json_int(json_array_get(cards, 1), NULL, "errno"), ENOENT);
	json_decref(root);

	smi_run(r, NULL, 0, "-d", e1.uri, "-d", e2.uri, NULL);
	ck_assert_int_eq(r->status, 0);
	row = strstr(r->out, "\n1  ");
	ck_assert_msg(row && strstr(row, e2.uri) && strstr(row, " 0/8 "), "%s", r->out);
	hex[12] = 0;	/* the table shows 12 digits; hex still holds card 2's identity */
	ck_assert_ptr_nonnull(strstr(row, hex));
	row = strstr(r->out, "\n0  ");
	ck_assert_msg(row && strstr(row, e1.uri) && row < strstr(r->out, "\n1  "), "%s", r->out);

	/* HC_DEVICE is the first card discovery finds */
	setenv("HC_DEVICE", e2.uri, 1);
	smi_run(r, NULL, 0, "--query", "index,device", "--format=csv,noheader", NULL);
	unsetenv("HC_DEVICE");
	ck_assert_msg(!strncmp(r->out, "0, ", 3) && !strncmp(r->out + 3, e2.uri, strlen(e2.uri)),
		      "%s", r->out);

	hc_close(card1);
	hc_close(card2);
	t_emud_stop(&e1);
	t_emud_stop(&e2);
	free(r);
}
END_TEST

/* Stop the daemon once the loop shows it alive; resume it when hc-smi notices; stop the loop
   once the card is back. Never leaves the daemon stopped past a bounded number of lines. */
struct stall {
	pid_t daemon;
	int state, mark;
	int saw_no, saw_back;
};

static void stall_hook(const struct run *r, pid_t pid, void *arg)
{
	struct stall *st = arg;
	int lines = count_lines(r->out);
	const char *p;
	int i;

	switch (st->state) {
	case 0:		/* two live snapshots */
		if (lines >= 2 && strstr(r->out, "yes, ready")) {
			kill(st->daemon, SIGSTOP);
			st->state = 1;
			st->mark = lines;
		}
		break;
	case 1:		/* a later line must say the heartbeat stopped */
		for (p = r->out, i = 0; *p && i < st->mark; p++)
			i += *p == '\n';
		if (strstr(p, "no, ")) {
			st->saw_no = 1;
		} else if (lines < st->mark + 40) {
			break;
		}
		kill(st->daemon, SIGCONT);
		st->state = 2;
		st->mark = lines;
		if (!st->saw_no) {
			kill(pid, SIGINT);
			st->state = 3;
		}
		break;
	case 2:		/* reopened, alive again */
		for (p = r->out, i = 0; *p && i < st->mark; p++)
			i += *p == '\n';
		if (strstr(p, "yes, ready")) {
			st->saw_back = 1;
			kill(pid, SIGINT);
			st->state = 3;
		} else if (lines >= st->mark + 40) {
			kill(pid, SIGINT);
			st->state = 3;
		}
		break;
	}
}

START_TEST(test_loop_sees_stalled_card)
{
	struct hc_card_info info;
	struct hc_card *card;
	struct t_emud e;
	struct run *r = r_new();
	struct stall st = { 0 };

	start(&e, &card, &info);
	hc_close(card);
	st.daemon = e.pid;
	smi_run_hook(r, stall_hook, &st, "-d", e.uri, "--query", "heartbeat_alive,status",
		     "--format=csv,noheader", "-l", "0.25", NULL);
	kill(e.pid, SIGCONT);
	ck_assert_msg(r->status == 0, "exit %d: %s", r->status, r->err);
	ck_assert_msg(st.saw_no, "heartbeat_alive never said no with the daemon stopped:\n%s",
		      r->out);
	ck_assert_msg(st.saw_back, "the card never came back after SIGCONT:\n%s", r->out);
	t_emud_stop(&e);
	free(r);
}
END_TEST

START_TEST(test_usage_errors)
{
	struct run *r = r_new();

	smi_run(r, NULL, 0, "-d", "emu:/nonexistent", "--query", "index,bogus_field",
		NULL);
	ck_assert_int_eq(r->status, 2);
	ck_assert_msg(strstr(r->err, "unknown field 'bogus_field'"), "%s", r->err);
	ck_assert_str_eq(r->out, "");

	smi_run(r, NULL, 0, "-d", "emu:/nonexistent", "--query", "index",
		"--format=csv,xml", NULL);
	ck_assert_int_eq(r->status, 2);
	ck_assert_msg(strstr(r->err, "'xml'"), "%s", r->err);

	smi_run(r, NULL, 0, "--format=csv", NULL);
	ck_assert_int_eq(r->status, 2);
	ck_assert_msg(strstr(r->err, "--format needs --query"), "%s", r->err);

	smi_run(r, NULL, 0, "--json", "-q", NULL);
	ck_assert_int_eq(r->status, 2);

	smi_run(r, NULL, 0, "--frobnicate", NULL);
	ck_assert_int_eq(r->status, 2);
	ck_assert_msg(strstr(r->err, "--frobnicate"), "%s", r->err);

	smi_run(r, NULL, 0, "-l", "soon", NULL);
	ck_assert_int_eq(r->status, 2);
	ck_assert_msg(strstr(r->err, "'soon'"), "%s", r->err);

	smi_run(r, NULL, 0, "-d", "tcp://host:1", NULL);
	ck_assert_int_eq(r->status, 2);
	ck_assert_msg(strstr(r->err, "'tcp://host:1': not a device URI"), "%s", r->err);

	smi_run(r, NULL, 0, "--help", NULL);
	ck_assert_int_eq(r->status, 0);
	ck_assert_ptr_nonnull(strstr(r->out, "--query"));
	free(r);
}
END_TEST

START_TEST(test_no_card)
{
	char dir[] = "/tmp/hc-smi-XXXXXX", want[256];
	struct hc_device_desc d[4];
	struct run *r = r_new();
	const char *old;
	size_t n = 0;

	/* an unreachable device: exit 1, naming it and why */
	smi_run(r, NULL, 0, "-d", "emu:/nonexistent/hc.sock", NULL);
	ck_assert_int_eq(r->status, 1);
	ck_assert_msg(strstr(r->err, "emu:/nonexistent/hc.sock") &&
		      strstr(r->err, "cannot open"), "%s", r->err);
	ck_assert_ptr_nonnull(strstr(r->out, "unreachable"));
	smi_run(r, NULL, 0, "-d", "emu:/nonexistent/hc.sock", "--json", NULL);
	ck_assert_int_eq(r->status, 1);
	{
		json_t *root = json_loads(r->out, 0, NULL), *c;

		ck_assert_ptr_nonnull(root);
		c = json_array_get(json_object_get(root, "cards"), 0);
		ck_assert(json_is_string(json_object_get(c, "error")));
		ck_assert_int_eq(json_integer_value(json_object_get(c, "errno")), ENOENT);
		ck_assert_ptr_null(json_object_get(c, "model_name"));
		json_decref(root);
	}

	/* CSV quoting of free text (RFC 4180); values of a card that cannot be read are [N/A] */
	smi_run(r, NULL, 0, "-d", "emu:/nonexistent/a,\"b", "--query", "index,device,model_name",
		"--format=csv,noheader", NULL);
	ck_assert_int_eq(r->status, 1);
	ck_assert_str_eq(r->out, "0, \"emu:/nonexistent/a,\"\"b\", [N/A]\n");

	/* nothing discovered: exit 1 and say where it looked */
	ck_assert_ptr_nonnull(mkdtemp(dir));
	old = getenv("XDG_RUNTIME_DIR");
	setenv("XDG_RUNTIME_DIR", dir, 1);
	unsetenv("HC_DEVICE");
	ck_assert_int_eq(hc_list_devices(d, 4, &n), 0);
	if (old)
		setenv("XDG_RUNTIME_DIR", old, 1);
	if (n) {
		rmdir(dir);
		free(r);
		HC_SKIP("this machine has a card (%s); cannot test discovery finding none", d[0].uri);
	}
	smi_run(r, dir, 0, NULL);
	rmdir(dir);
	ck_assert_int_eq(r->status, 1);
	ck_assert_str_eq(r->out, "");
	snprintf(want, sizeof(want), "hc-smi: no HC card found (checked HC_DEVICE, "
		 "/sys/class/accel, default emulator sockets %s/hc-emud.sock and "
		 "/run/hc/emud.sock)\n", dir);
	ck_assert_str_eq(r->err, want);
	free(r);
}
END_TEST

static Suite *smi_suite(void)
{
	Suite *s = suite_create("hc-smi");
	TCase *tc = hc_tcase(s, "smi", 300);

	tcase_add_test(tc, test_usage_errors);
	tcase_add_test(tc, test_no_card);
	tcase_add_test(tc, test_json_matches_card_info);
	tcase_add_test(tc, test_versions);
	tcase_add_test(tc, test_query_csv);
	tcase_add_test(tc, test_prometheus);
	tcase_add_test(tc, test_cdi);
	tcase_add_test(tc, test_table_and_details);
	tcase_add_test(tc, test_counters_move);
	tcase_add_test(tc, test_loop_stops_on_sigint);
	tcase_add_test(tc, test_several_cards);
	tcase_add_test(tc, test_loop_sees_stalled_card);
	return s;
}

HC_TEST_MAIN(smi_suite)
