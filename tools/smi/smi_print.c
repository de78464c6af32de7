// SPDX-License-Identifier: MIT
/* hc-smi's output formats: the overview table, --details, --json and --query CSV. */
#include <errno.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include "smi.h"
#include "uapi/hc_card.h"

/* ---- table ---- */

enum { COL_IDX, COL_DEV, COL_MODEL, COL_ID, COL_STATUS, COL_CTX, COL_TOK, COL_PROMPT, COL_JOBS,
       COL_BUSY, COL_TOKS, COL_TEMP, COL_POWER, N_COLS };

static const struct {
	const char *title;
	int right;		/* right-aligned (numbers) */
} cols[N_COLS] = {
	{ "#", 1 }, { "Device", 0 }, { "Model", 0 }, { "Identity", 0 }, { "Status", 0 },
	{ "Ctx used/max", 1 }, { "Tokens gen", 1 }, { "Prompt tok", 1 }, { "Jobs ok/fail", 1 },
	{ "Busy%", 1 }, { "Tok/s", 1 }, { "Temp C", 1 }, { "Power W", 1 },
};

#define CELL 300

static void window_text(const struct smi_snapshot *s, char *buf, size_t len)
{
	if (s->mode == SMI_WIN_SAMPLE)
		snprintf(buf, len, "Busy%% and Tok/s over the last %.3g s", s->mode_ns / 1e9);
	else
		snprintf(buf, len, "Busy%% and Tok/s averaged since each card started");
}

/* Fill one row; returns 1 when the card's window differs from the snapshot's (footnote). */
static int table_row(const struct smi_snapshot *s, const struct smi_card *c, char (*row)[CELL])
{
	const struct hc_telemetry *t = &c->t;
	char hex[65];
	int i, mark = 0;

	for (i = 0; i < N_COLS; i++)
		snprintf(row[i], CELL, "-");
	snprintf(row[COL_IDX], CELL, "%d", c->index);
	snprintf(row[COL_DEV], CELL, "%s", c->uri);
	if (!c->h) {
		snprintf(row[COL_STATUS], CELL, "unreachable");
		return 0;
	}
	snprintf(row[COL_MODEL], CELL, "%s", c->info.model_name);
	hc_identity_hex(c->info.identity, hex);
	snprintf(row[COL_ID], CELL, "%.12s", hex);
	if (c->alive == 0 && !c->tel_err)
		snprintf(row[COL_STATUS], CELL, "stalled");
	else if (c->info.status == HC_CARD_STATUS_ERROR)
		snprintf(row[COL_STATUS], CELL, "error(%u)", c->info.error_code);
	else
		snprintf(row[COL_STATUS], CELL, "%s", smi_status_name(c->info.status));
	if (c->tel_err) {
		snprintf(row[COL_CTX], CELL, "-/%u", c->info.n_contexts);
		return 0;
	}
	snprintf(row[COL_CTX], CELL, "%llu/%u", (unsigned long long)t->contexts_in_use,
		 c->info.n_contexts);
	snprintf(row[COL_TOK], CELL, "%llu", (unsigned long long)t->tokens_generated);
	snprintf(row[COL_PROMPT], CELL, "%llu", (unsigned long long)t->prompt_tokens);
	snprintf(row[COL_JOBS], CELL, "%llu/%llu", (unsigned long long)t->jobs_completed,
		 (unsigned long long)t->jobs_failed);
	if (c->window != SMI_WIN_NONE) {
		mark = c->window != s->mode;
		snprintf(row[COL_BUSY], CELL, "%.1f%s", c->util_pct, mark ? "*" : "");
		snprintf(row[COL_TOKS], CELL, "%.1f%s", c->tok_per_s, mark ? "*" : "");
	}
	snprintf(row[COL_TEMP], CELL, "%.1f", t->temperature_mc / 1e3);
	snprintf(row[COL_POWER], CELL, "%.1f", t->power_uw / 1e6);
	return mark;
}

static void print_row(FILE *f, char (*row)[CELL], const int *w)
{
	int i;

	for (i = 0; i < N_COLS; i++) {
		if (cols[i].right)
			fprintf(f, "%*s", w[i], row[i]);
		else if (i == N_COLS - 1)
			fprintf(f, "%s", row[i]);
		else
			fprintf(f, "%-*s", w[i], row[i]);
		fputs(i == N_COLS - 1 ? "\n" : "  ", f);
	}
}

/*
 * Under the table: libhc's version, then per card the card interface's, the firmware's and
 * (behind the kernel driver) the driver's; "-" where unknown (or the card is unreachable).
 */
static void print_versions(FILE *f, const struct smi_snapshot *s)
{
	char fw[32];
	int wi = 1, wf = strlen("Firmware"), i, n;

	for (i = 0; i < s->n; i++) {
		const struct smi_card *c = &s->cards[i];

		n = snprintf(fw, sizeof(fw), "%d", c->index);
		if (n > wi)
			wi = n;
		if (c->h && smi_fw_version_text(c->ver.fw_version, fw, sizeof(fw)) &&
		    (n = strlen(fw)) > wf)
			wf = n;
	}
	fprintf(f, "\nVersions  libhc %s\n", hc_version());
	fprintf(f, "%*s  Interface  %-*s  Driver\n", wi, "#", wf, "Firmware");
	for (i = 0; i < s->n; i++) {
		const struct smi_card *c = &s->cards[i];
		const char *fwt = NULL, *drv = "-";
		char iface[16] = "-";

		if (c->h) {
			snprintf(iface, sizeof(iface), "%u", c->info.interface_version);
			fwt = smi_fw_version_text(c->ver.fw_version, fw, sizeof(fw));
			if (c->ver.driver_version[0])
				drv = c->ver.driver_version;
		}
		fprintf(f, "%*d  %9s  %-*s  %s\n", wi, c->index, iface, wf, fwt ? fwt : "-", drv);
	}
}

void smi_print_table(FILE *f, const struct smi_snapshot *s)
{
	char (*rows)[N_COLS][CELL];
	char win[96];
	int w[N_COLS], i, j, marks = 0, total = 0;

	rows = calloc(s->n + 1, sizeof(*rows));
	if (!rows) {
		fprintf(stderr, "hc-smi: out of memory\n");
		return;
	}
	for (j = 0; j < N_COLS; j++)
		snprintf(rows[0][j], CELL, "%s", cols[j].title);
	for (i = 0; i < s->n; i++)
		marks |= table_row(s, &s->cards[i], rows[i + 1]);
	for (j = 0; j < N_COLS; j++) {
		w[j] = 0;
		for (i = 0; i <= s->n; i++)
			if ((int)strlen(rows[i][j]) > w[j])
				w[j] = strlen(rows[i][j]);
		total += w[j] + 2;
	}
	window_text(s, win, sizeof(win));
	fprintf(f, "hc-smi  %s  %s\n", s->timestamp, win);
	print_row(f, rows[0], w);
	for (i = 0; i < total - 2; i++)
		fputc('-', f);
	fputc('\n', f);
	for (i = 1; i <= s->n; i++)
		print_row(f, rows[i], w);
	if (marks)
		fprintf(f, "* averaged since the card started (it was (re)opened during this sample)\n");
	free(rows);
	print_versions(f, s);
}

/* ---- details ---- */

void smi_print_details(FILE *f, const struct smi_snapshot *s)
{
	char buf[CELL];
	int i, g;
	unsigned k;

	fprintf(f, "hc-smi  %s  libhc %s\n", s->timestamp, hc_version());
	for (i = 0; i < s->n; i++) {
		const struct smi_card *c = &s->cards[i];

		fprintf(f, "\nCard %d  %s\n", c->index, c->uri);
		if (!c->h) {
			fprintf(f, "    %-24s: cannot open: %s\n", "Error", hc_strerror(c->open_err));
			continue;
		}
		if (c->tel_err)
			fprintf(f, "    %-24s: telemetry unavailable: %s\n", "Error",
				hc_strerror(c->tel_err));
		for (g = 0; smi_groups[g]; g++) {
			fprintf(f, "  %c%s\n", smi_groups[g][0] - 'a' + 'A', smi_groups[g] + 1);
			for (k = 0; k < smi_n_fields; k++) {
				const struct smi_field *x = &smi_fields[k];
				struct smi_val v;

				if (!(x->flags & SMI_F_DETAILS) || !x->group ||
				    strcmp(x->group, smi_groups[g]))
					continue;
				smi_field_value(x, s, c, &v);
				smi_val_text(&v, buf, sizeof(buf));
				fprintf(f, "    %-24s: %s", x->label, buf);
				if (x->unit && v.kind != SMI_V_NA)
					fprintf(f, " %s", x->unit);
				fputc('\n', f);
			}
		}
	}
}

/* ---- JSON ---- */

static json_t *json_value(struct smi_val *v)
{
	json_t *a;
	char buf[16];
	int b;

	switch (v->kind) {
	case SMI_V_STR:
		return json_string(v->s);
	case SMI_V_U64:
	case SMI_V_HEX:
		return json_integer((json_int_t)v->u);
	case SMI_V_DBL:
		return json_real(v->d);
	case SMI_V_BOOL:
		return json_boolean(v->u);
	case SMI_V_CAPS:
		a = json_array();
		for (b = 0; a && b < 64; b++)
			if ((v->u & (1ULL << b)) &&
			    json_array_append_new(a, json_string(smi_cap_name(b, buf, sizeof(buf)))))
				break;
		return a;
	default:
		return json_null();
	}
}

static json_t *json_card(const struct smi_snapshot *s, const struct smi_card *c)
{
	json_t *card = json_object(), *obj;
	unsigned k;
	int g, bad = !card;

	for (g = 0; !bad && smi_groups[g]; g++) {
		int top = !strcmp(smi_groups[g], "card");

		obj = top ? card : json_object();
		if (!obj)
			return json_decref(card), NULL;
		for (k = 0; k < smi_n_fields; k++) {
			const struct smi_field *x = &smi_fields[k];
			struct smi_val v;

			if (!(x->flags & SMI_F_JSON) || strcmp(x->group, smi_groups[g]))
				continue;
			if (!c->h && (x->flags & SMI_F_CARD))
				continue;
			smi_field_value(x, s, c, &v);
			bad |= json_object_set_new(obj, x->name, json_value(&v));
		}
		if (top && !c->h) {
			bad |= json_object_set_new(card, "error", json_string(hc_strerror(c->open_err)));
			bad |= json_object_set_new(card, "errno", json_integer(-c->open_err));
		}
		if (top && c->h && c->tel_err) {
			bad |= json_object_set_new(card, "telemetry_error",
						   json_string(hc_strerror(c->tel_err)));
		}
		if (!top) {
			if (c->h)
				bad |= json_object_set_new(card, smi_groups[g], obj);
			else
				json_decref(obj);
		}
	}
	if (bad) {
		json_decref(card);
		return NULL;
	}
	return card;
}

int smi_print_json(FILE *f, const struct smi_snapshot *s, int compact)
{
	json_t *root = json_object(), *cards = json_array();
	int i, bad = !root || !cards;

	if (!bad) {
		bad |= json_object_set_new(root, "schema_version", json_integer(1));
		bad |= json_object_set_new(root, "timestamp", json_string(s->timestamp));
		bad |= json_object_set_new(root, "libhc_version", json_string(hc_version()));
		bad |= json_object_set(root, "cards", cards);
	}
	for (i = 0; !bad && i < s->n; i++) {
		json_t *c = json_card(s, &s->cards[i]);

		bad |= !c || json_array_append_new(cards, c);
	}
	json_decref(cards);
	if (bad) {
		json_decref(root);
		return -ENOMEM;
	}
	json_dumpf(root, f, (compact ? JSON_COMPACT : JSON_INDENT(2)) | JSON_PRESERVE_ORDER);
	fputc('\n', f);
	json_decref(root);
	return 0;
}

/* ---- CSV (--query) ---- */

/* RFC 4180 quoting, only when needed (device paths and model names are free text). */
static void csv_cell(FILE *f, const char *s)
{
	const char *p;

	if (!strpbrk(s, ",\"\n\r") && s[0] != ' ') {
		fputs(s, f);
		return;
	}
	fputc('"', f);
	for (p = s; *p; p++) {
		if (*p == '"')
			fputc('"', f);
		fputc(*p, f);
	}
	fputc('"', f);
}

void smi_print_csv(FILE *f, const struct smi_snapshot *s, const struct smi_csv *q,
		   int with_header)
{
	char buf[CELL + 16];
	unsigned k;
	int i;

	if (with_header && q->header) {
		for (k = 0; k < q->n; k++) {
			const struct smi_field *x = q->fields[k];

			if (q->units && x->unit)
				snprintf(buf, sizeof(buf), "%s [%s]", x->name, x->unit);
			else
				snprintf(buf, sizeof(buf), "%s", x->name);
			fputs(k ? ", " : "", f);
			csv_cell(f, buf);
		}
		fputc('\n', f);
	}
	for (i = 0; i < s->n; i++) {
		for (k = 0; k < q->n; k++) {
			const struct smi_field *x = q->fields[k];
			struct smi_val v;
			size_t n;

			smi_field_value(x, s, &s->cards[i], &v);
			smi_val_text(&v, buf, CELL);
			n = strlen(buf);
			if (q->units && x->unit && v.kind != SMI_V_NA)
				snprintf(buf + n, sizeof(buf) - n, " %s", x->unit);
			fputs(k ? ", " : "", f);
			csv_cell(f, buf);
		}
		fputc('\n', f);
	}
}
