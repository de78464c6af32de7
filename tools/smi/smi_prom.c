// SPDX-License-Identifier: MIT
/*
 * hc-smi --format=prometheus: the Prometheus text exposition format (0.0.4), for a
 * node_exporter textfile (-o FILE, rewritten atomically each --loop) or any scraper that
 * runs a command. Every numeric --json field becomes a metric family named hc_<field>, with
 * one sample per card labelled card="INDEX" and device="URI"; the "counters" group are
 * counters (suffix _total), the rest gauges. hc_card_info carries the strings as labels
 * (the firmware's and driver's versions only when known).
 */
#include <string.h>
#include "smi.h"

/* A label value: backslash, double quote and newline escaped, as the format requires. */
static void label(FILE *f, const char *name, const char *val, int first)
{
	fprintf(f, "%s%s=\"", first ? "" : ",", name);
	for (; *val; val++) {
		if (*val == '\\' || *val == '"')
			fputc('\\', f);
		if (*val == '\n')
			fputs("\\n", f);
		else
			fputc(*val, f);
	}
	fputc('"', f);
}

static void card_labels(FILE *f, const struct smi_card *c)
{
	char idx[16];

	snprintf(idx, sizeof(idx), "%d", c->index);
	label(f, "card", idx, 1);
	label(f, "device", c->uri, 0);
}

static int numeric(const struct smi_val *v)
{
	return v->kind == SMI_V_U64 || v->kind == SMI_V_HEX || v->kind == SMI_V_DBL ||
	       v->kind == SMI_V_BOOL;
}

void smi_print_prometheus(FILE *f, const struct smi_snapshot *s)
{
	int i;

	fprintf(f, "# HELP hc_smi_info hc-smi and the libhc it runs with.\n"
		   "# TYPE hc_smi_info gauge\nhc_smi_info{");
	label(f, "version", HC_VERSION_STRING, 1);
	label(f, "libhc", hc_version(), 0);
	fprintf(f, "} 1\n");

	fprintf(f, "# HELP hc_card_up 1 when the card could be opened and read.\n"
		   "# TYPE hc_card_up gauge\n");
	for (i = 0; i < s->n; i++) {
		fprintf(f, "hc_card_up{");
		card_labels(f, &s->cards[i]);
		fprintf(f, "} %d\n", s->cards[i].h && !s->cards[i].tel_err);
	}

	fprintf(f, "# HELP hc_card_info The card's model, ROM identity, interface, firmware and "
		   "driver versions.\n# TYPE hc_card_info gauge\n");
	for (i = 0; i < s->n; i++) {
		const struct smi_card *c = &s->cards[i];
		char id[65], ver[16], fw[32];

		if (!c->h)
			continue;
		for (int b = 0; b < 32; b++)
			snprintf(id + 2 * b, 3, "%02x", c->info.identity[b]);
		snprintf(ver, sizeof(ver), "%u", c->info.interface_version);
		fprintf(f, "hc_card_info{");
		card_labels(f, c);
		label(f, "model", c->info.model_name, 0);
		label(f, "identity", id, 0);
		label(f, "interface_version", ver, 0);
		if (smi_fw_version_text(c->ver.fw_version, fw, sizeof(fw)))
			label(f, "firmware_version", fw, 0);
		if (c->ver.driver_version[0])
			label(f, "driver_version", c->ver.driver_version, 0);
		fprintf(f, "} 1\n");
	}

	for (unsigned k = 0; k < smi_n_fields; k++) {
		const struct smi_field *x = &smi_fields[k];
		const int counter = x->group && !strcmp(x->group, "counters");
		int header = 0;

		if (!(x->flags & SMI_F_JSON) || !x->group)
			continue;
		for (i = 0; i < s->n; i++) {
			const struct smi_card *c = &s->cards[i];
			struct smi_val v;

			if (!c->h && (x->flags & SMI_F_CARD))
				continue;
			smi_field_value(x, s, c, &v);
			if (!numeric(&v))
				continue;
			if (!header) {
				fprintf(f, "# HELP hc_%s%s %s\n# TYPE hc_%s%s %s\n", x->name,
					counter ? "_total" : "", x->help, x->name,
					counter ? "_total" : "", counter ? "counter" : "gauge");
				header = 1;
			}
			fprintf(f, "hc_%s%s{", x->name, counter ? "_total" : "");
			card_labels(f, c);
			if (v.kind == SMI_V_DBL)
				fprintf(f, "} %.*f\n", v.prec > 0 ? v.prec : 3, v.d);
			else
				fprintf(f, "} %llu\n", (unsigned long long)v.u);
		}
	}
}
