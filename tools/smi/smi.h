/* SPDX-License-Identifier: MIT */
/*
 * hc-smi internals (docs/hc-smi.md): one snapshot per card, the field registry shared by
 * --query, --json and --details, and the printers.
 */
#ifndef HC_TOOLS_SMI_H
#define HC_TOOLS_SMI_H

#include <stdint.h>
#include <stdio.h>
#include "hc/hc.h"
#include "hc/hc_version.h"

#define SMI_MAX_CARDS 64

/* How utilisation and throughput were computed for a card. */
enum smi_window {
	SMI_WIN_NONE = 0,	/* unknown: no telemetry, or the card reports no uptime */
	SMI_WIN_SINCE_START,	/* busy_ns / uptime_ns: average since the card became ready */
	SMI_WIN_SAMPLE,		/* deltas between two reads (--sample or the loop interval) */
};

struct smi_card {
	int index;
	char uri[HC_URI_MAX];
	uint32_t backend;		/* enum hc_backend */
	struct hc_card *h;		/* NULL while it cannot be opened */
	int open_err;			/* hc_open() result when h is NULL */
	int tel_err;			/* hc_card_telemetry() result (0: telemetry valid) */
	struct hc_card_info info;
	struct hc_card_versions ver;	/* hc_card_versions() */
	struct hc_telemetry t;
	uint64_t mono_ns;		/* CLOCK_MONOTONIC when t was read */
	struct hc_telemetry prev;	/* previous read through the same handle */
	uint64_t prev_mono_ns;
	int have_prev;
	/* derived from t (and prev) */
	enum smi_window window;
	uint64_t window_ns;
	double util_pct;		/* busy share of the window, 0..100 */
	double tok_per_s;		/* tokens generated per second over the window */
	int alive;			/* heartbeat moved: 1, did not over a long window: 0, -1 unknown */
};

struct smi_snapshot {
	struct smi_card *cards;
	int n;
	char timestamp[40];		/* ISO 8601 UTC, milliseconds */
	enum smi_window mode;		/* how this snapshot was meant to be sampled */
	uint64_t mode_ns;		/* the nominal window for SMI_WIN_SAMPLE */
};

/* Field registry (smi_fields.c). */
/* SMI_V_HEX: an integer in JSON, 0x... in text */
enum smi_vkind { SMI_V_NA = 0, SMI_V_STR, SMI_V_U64, SMI_V_HEX, SMI_V_DBL, SMI_V_BOOL, SMI_V_CAPS };

struct smi_val {
	enum smi_vkind kind;
	uint64_t u;
	double d;
	int prec;			/* decimals for SMI_V_DBL */
	const char *s;			/* SMI_V_STR: points into the card or a static string */
	char buf[80];			/* storage for formatted strings */
};

#define SMI_F_QUERY   (1u << 0)	/* selectable with --query */
#define SMI_F_JSON    (1u << 1)	/* present in --json */
#define SMI_F_DETAILS (1u << 2)	/* shown by --details */
#define SMI_F_CARD    (1u << 3)	/* needs an open card (else [N/A]) */

struct smi_field {
	const char *name;		/* --query name and JSON key (units in the name) */
	const char *unit;		/* CSV unit, or NULL */
	const char *group;		/* JSON object inside the card / --details section; NULL top */
	const char *label;		/* --details label */
	const char *help;		/* --help-query text */
	unsigned flags;
	int id;
};

extern const struct smi_field smi_fields[];
extern const unsigned smi_n_fields;
extern const char *const smi_groups[];		/* NULL-terminated, details/JSON order */

const struct smi_field *smi_field_find(const char *name);
/* Value of a field for a card (SMI_V_NA when unknown for this card). */
void smi_field_value(const struct smi_field *f, const struct smi_snapshot *s,
		     const struct smi_card *c, struct smi_val *v);
/* Plain text of a value (no unit); "[N/A]" when unknown. */
const char *smi_val_text(struct smi_val *v, char *buf, size_t len);
const char *smi_status_name(uint32_t status);
/* "MAJOR.MINOR.PATCH" of a packed firmware version in @buf; NULL when it is 0 (unknown). */
const char *smi_fw_version_text(uint32_t fw_version, char *buf, size_t len);
const char *smi_window_name(enum smi_window w);
/* Name of capability bit @b ("bitN" in @buf when unknown). */
const char *smi_cap_name(int b, char *buf, size_t len);
void smi_print_fields(FILE *f);

/* Printers (smi_print.c). */
struct smi_csv {
	int header, units;
	const struct smi_field *fields[128];
	unsigned n;
};
void smi_print_table(FILE *f, const struct smi_snapshot *s);
void smi_print_details(FILE *f, const struct smi_snapshot *s);
/* Returns 0, or -ENOMEM when jansson cannot build the document. */
int smi_print_json(FILE *f, const struct smi_snapshot *s, int compact);
void smi_print_csv(FILE *f, const struct smi_snapshot *s, const struct smi_csv *q,
		   int with_header);
/* A CDI spec for the cards (smi_cdi.c); -ENOMEM when it cannot be built. */
int smi_print_cdi(FILE *f, const struct smi_snapshot *s);
/* Prometheus text format (smi_prom.c). */
void smi_print_prometheus(FILE *f, const struct smi_snapshot *s);

#endif
