// SPDX-License-Identifier: MIT
/*
 * hc-smi's field registry: one table names every value hc-smi reports, with its unit, so
 * --query, --json, --details and --help-query cannot drift apart. JSON keys carry their unit
 * in the name (temperature_mC, power_uW, busy_ns); --query accepts the same names plus a few
 * converted conveniences (temperature in C, power in W, ...).
 */
#include <stdio.h>
#include <string.h>
#include "smi.h"
#include "uapi/hc_card.h"

enum {
	F_TIMESTAMP, F_INDEX, F_DEVICE, F_BACKEND, F_MODEL_NAME, F_IDENTITY, F_IDENTITY_SHORT,
	F_INTERFACE_VERSION, F_FW_VERSION, F_DRIVER_VERSION, F_LIBHC_VERSION, F_STATUS,
	F_STATUS_CODE, F_ERROR_CODE, F_CAPS, F_CAPS_MASK,
	F_VOCAB, F_DIM, F_LAYERS, F_HEADS, F_KV_HEADS, F_FFN, F_MODEL_MAX_CTX,
	F_N_CONTEXTS, F_MAX_CTX, F_N_QP, F_MAX_QE, F_STREAM_MEM,
	F_CTX_IN_USE, F_CLIENTS, F_UTIL, F_UTIL_WINDOW, F_UTIL_WINDOW_NS, F_TOK_S,
	F_HEARTBEAT, F_ALIVE,
	F_TOKENS, F_PROMPT, F_JOBS_OK, F_JOBS_FAILED, F_BUSY_NS, F_BUSY_S, F_UPTIME_NS, F_UPTIME_S,
	F_TEMP_MC, F_TEMP_C, F_POWER_UW, F_POWER_W, F_ENERGY_UJ, F_ENERGY_J,
};

#define Q   SMI_F_QUERY
#define J   SMI_F_JSON
#define D   SMI_F_DETAILS
#define C   SMI_F_CARD

const char *const smi_groups[] = { "card", "shape", "limits", "activity", "counters", "sensors",
				   NULL };

const struct smi_field smi_fields[] = {
	{ "timestamp", NULL, NULL, "Timestamp",
	  "time of the snapshot, ISO 8601 UTC (JSON: top level, not per card)", Q, F_TIMESTAMP },
	{ "libhc_version", NULL, NULL, "libhc version",
	  "version of the libhc hc-smi runs with (JSON: top level, not per card)", Q,
	  F_LIBHC_VERSION },
	{ "index", NULL, "card", "Index",
	  "position in hc-smi's card list (-d order, else discovery order)", Q | J, F_INDEX },
	{ "device", NULL, "card", "Device", "device URI (emu:PATH or /dev/accel/accelN)",
	  Q | J | D, F_DEVICE },
	{ "backend", NULL, "card", "Backend", "emu (hc-emud socket) or kernel (hc driver)",
	  Q | J | D, F_BACKEND },
	{ "model_name", NULL, "card", "Model name", "model baked into the card", Q | J | D | C,
	  F_MODEL_NAME },
	{ "identity", NULL, "card", "Identity",
	  "SHA-256 of the baked ROM, 64 hex digits (the card's silicon revision)", Q | J | D | C,
	  F_IDENTITY },
	{ "identity_short", NULL, "card", "Identity (short)", "first 12 hex digits of identity",
	  Q | C, F_IDENTITY_SHORT },
	{ "interface_version", NULL, "card", "Interface version", "card interface version",
	  Q | J | D | C, F_INTERFACE_VERSION },
	{ "firmware_version", NULL, "card", "Firmware version",
	  "the card firmware's version (hc-emud: its own); unknown if the card does not say",
	  Q | J | D | C, F_FW_VERSION },
	{ "driver_version", NULL, "card", "Driver version",
	  "the kernel driver's version (hc_accel module); unknown (JSON null) on emu: cards",
	  Q | J | D | C, F_DRIVER_VERSION },
	{ "status", NULL, "card", "Status",
	  "card status: offline, ready, resetting or error (\"stalled\" in the table when the "
	  "heartbeat stops)", Q | J | D | C, F_STATUS },
	{ "status_code", NULL, "card", "Status code", "card status register (1 = ready)",
	  Q | J | C, F_STATUS_CODE },
	{ "error_code", NULL, "card", "Error code",
	  "card error register when status is error (1 internal, 2 out of memory)",
	  Q | J | D | C, F_ERROR_CODE },
	{ "capabilities", NULL, "card", "Capabilities",
	  "capability names, space separated (JSON: array)", Q | J | D | C, F_CAPS },
	{ "capabilities_mask", NULL, "card", "Capability bits",
	  "capability bits (HC_CAP_*), hex (JSON: integer)",
	  Q | J | D | C, F_CAPS_MASK },

	{ "vocab_size", "tokens", "shape", "Vocabulary", "vocabulary size", Q | J | D | C,
	  F_VOCAB },
	{ "dim", NULL, "shape", "Embedding dim", "model dimension", Q | J | D | C, F_DIM },
	{ "n_layers", NULL, "shape", "Layers", "transformer layers", Q | J | D | C, F_LAYERS },
	{ "n_heads", NULL, "shape", "Attention heads", "attention heads", Q | J | D | C,
	  F_HEADS },
	{ "n_kv_heads", NULL, "shape", "KV heads", "key/value heads", Q | J | D | C, F_KV_HEADS },
	{ "ffn_dim", NULL, "shape", "FFN dim", "feed-forward hidden dimension", Q | J | D | C,
	  F_FFN },
	{ "model_max_ctx", "tokens", "shape", "Model context", "the model's longest context",
	  Q | J | D | C, F_MODEL_MAX_CTX },

	{ "n_contexts", NULL, "limits", "Contexts (KV slots)",
	  "contexts one client may hold open (hc_card_info n_contexts)", Q | J | D | C,
	  F_N_CONTEXTS },
	{ "max_ctx", "tokens", "limits", "Max context", "longest context the card accepts",
	  Q | J | D | C, F_MAX_CTX },
	{ "n_queue_pairs", NULL, "limits", "Queue pairs", "queue pairs per client",
	  Q | J | D | C, F_N_QP },
	{ "max_queue_entries", NULL, "limits", "Max queue entries",
	  "largest submission queue", Q | J | D | C, F_MAX_QE },
	{ "stream_mem_bytes", "B", "limits", "Stream memory",
	  "card memory for rings and streams of this handle (per client on hc-emud)",
	  Q | J | D | C, F_STREAM_MEM },

	{ "contexts_in_use", NULL, "activity", "Contexts in use",
	  "KV slots in use, card-wide (all clients)", Q | J | D | C, F_CTX_IN_USE },
	{ "clients", NULL, "activity", "Clients",
	  "connected clients, hc-smi included (emulator); 1 on PCI", Q | J | D | C, F_CLIENTS },
	{ "utilization_percent", "%", "activity", "Utilization",
	  "busy share of utilization_window_ns (busy_ns delta / uptime_ns delta)",
	  Q | J | D | C, F_UTIL },
	{ "utilization_window", NULL, "activity", "Utilization window",
	  "sample (deltas over --sample or the loop interval) or since_start", Q | J | D | C,
	  F_UTIL_WINDOW },
	{ "utilization_window_ns", "ns", "activity", "Window length",
	  "length of the utilization window", Q | J | D | C, F_UTIL_WINDOW_NS },
	{ "tokens_per_second", "tok/s", "activity", "Generation rate",
	  "tokens generated per second over the utilization window", Q | J | D | C, F_TOK_S },
	{ "heartbeat", NULL, "activity", "Heartbeat", "card heartbeat counter", Q | J | D | C,
	  F_HEARTBEAT },
	{ "heartbeat_alive", NULL, "activity", "Heartbeat advancing",
	  "yes/no: the heartbeat moved during the window; unknown without a window of at least "
	  "200 ms (JSON: true/false/null)", Q | J | D | C, F_ALIVE },

	{ "tokens_generated", "tokens", "counters", "Tokens generated",
	  "tokens produced by decode jobs, card-wide", Q | J | D | C, F_TOKENS },
	{ "prompt_tokens", "tokens", "counters", "Prompt tokens",
	  "prompt tokens consumed by prefill jobs, card-wide", Q | J | D | C, F_PROMPT },
	{ "jobs_completed", NULL, "counters", "Jobs completed",
	  "jobs that ended without error, card-wide", Q | J | D | C, F_JOBS_OK },
	{ "jobs_failed", NULL, "counters", "Jobs failed",
	  "jobs and submissions that ended with an error, card-wide", Q | J | D | C,
	  F_JOBS_FAILED },
	{ "busy_ns", "ns", "counters", "Busy time (ns)", "time spent running the model",
	  Q | J | C, F_BUSY_NS },
	{ "busy", "s", "counters", "Busy time", "busy_ns in seconds", Q | D | C, F_BUSY_S },
	{ "uptime_ns", "ns", "counters", "Uptime (ns)", "time since the card became ready",
	  Q | J | C, F_UPTIME_NS },
	{ "uptime", "s", "counters", "Uptime", "uptime_ns in seconds", Q | D | C, F_UPTIME_S },

	{ "temperature_mC", "mC", "sensors", "Temperature (mC)",
	  "die temperature, millidegrees Celsius (simulated on the emulator)", Q | J | C,
	  F_TEMP_MC },
	{ "temperature", "C", "sensors", "Temperature", "temperature_mC in degrees Celsius",
	  Q | D | C, F_TEMP_C },
	{ "power_uW", "uW", "sensors", "Power (uW)",
	  "board power, microwatts (simulated on the emulator)", Q | J | C, F_POWER_UW },
	{ "power", "W", "sensors", "Power", "power_uW in watts", Q | D | C, F_POWER_W },
	{ "energy_uJ", "uJ", "sensors", "Energy (uJ)", "energy since the card started, microjoules",
	  Q | J | C, F_ENERGY_UJ },
	{ "energy", "J", "sensors", "Energy", "energy_uJ in joules", Q | D | C, F_ENERGY_J },
};

const unsigned smi_n_fields = sizeof(smi_fields) / sizeof(smi_fields[0]);

const struct smi_field *smi_field_find(const char *name)
{
	unsigned i;

	for (i = 0; i < smi_n_fields; i++)
		if ((smi_fields[i].flags & SMI_F_QUERY) && !strcmp(smi_fields[i].name, name))
			return &smi_fields[i];
	return NULL;
}

const char *smi_fw_version_text(uint32_t fw_version, char *buf, size_t len)
{
	if (!fw_version)
		return NULL;
	snprintf(buf, len, "%u.%u.%u", fw_version >> 16, (fw_version >> 8) & 0xff,
		 fw_version & 0xff);
	return buf;
}

const char *smi_status_name(uint32_t status)
{
	switch (status) {
	case HC_CARD_STATUS_OFFLINE:
		return "offline";
	case HC_CARD_STATUS_READY:
		return "ready";
	case HC_CARD_STATUS_RESETTING:
		return "resetting";
	case HC_CARD_STATUS_ERROR:
		return "error";
	default:
		return "unknown";
	}
}

const char *smi_window_name(enum smi_window w)
{
	switch (w) {
	case SMI_WIN_SAMPLE:
		return "sample";
	case SMI_WIN_SINCE_START:
		return "since_start";
	default:
		return "none";
	}
}

static void v_u64(struct smi_val *v, uint64_t u)
{
	v->kind = SMI_V_U64;
	v->u = u;
}

static void v_dbl(struct smi_val *v, double d, int prec)
{
	v->kind = SMI_V_DBL;
	v->d = d;
	v->prec = prec;
}

static void v_str(struct smi_val *v, const char *s)
{
	v->kind = SMI_V_STR;
	v->s = s;
}

/* Values that come from telemetry are unknown when the card could not report it. */
static void telemetry_value(int id, const struct smi_card *c, struct smi_val *v)
{
	const struct hc_telemetry *t = &c->t;
	int windowed = c->window != SMI_WIN_NONE;

	switch (id) {
	case F_CTX_IN_USE: v_u64(v, t->contexts_in_use); break;
	case F_CLIENTS: v_u64(v, t->clients); break;
	case F_UTIL: if (windowed) v_dbl(v, c->util_pct, 1); break;
	case F_UTIL_WINDOW: v_str(v, smi_window_name(c->window)); break;
	case F_UTIL_WINDOW_NS: if (windowed) v_u64(v, c->window_ns); break;
	case F_TOK_S: if (windowed) v_dbl(v, c->tok_per_s, 1); break;
	case F_HEARTBEAT: v_u64(v, t->heartbeat); break;
	case F_ALIVE:
		if (c->alive >= 0) {
			v->kind = SMI_V_BOOL;
			v->u = c->alive;
		}
		break;
	case F_TOKENS: v_u64(v, t->tokens_generated); break;
	case F_PROMPT: v_u64(v, t->prompt_tokens); break;
	case F_JOBS_OK: v_u64(v, t->jobs_completed); break;
	case F_JOBS_FAILED: v_u64(v, t->jobs_failed); break;
	case F_BUSY_NS: v_u64(v, t->busy_ns); break;
	case F_BUSY_S: v_dbl(v, t->busy_ns / 1e9, 3); break;
	case F_UPTIME_NS: v_u64(v, t->uptime_ns); break;
	case F_UPTIME_S: v_dbl(v, t->uptime_ns / 1e9, 3); break;
	case F_TEMP_MC: v_u64(v, t->temperature_mc); break;
	case F_TEMP_C: v_dbl(v, t->temperature_mc / 1e3, 3); break;
	case F_POWER_UW: v_u64(v, t->power_uw); break;
	case F_POWER_W: v_dbl(v, t->power_uw / 1e6, 3); break;
	case F_ENERGY_UJ: v_u64(v, t->energy_uj); break;
	case F_ENERGY_J: v_dbl(v, t->energy_uj / 1e6, 3); break;
	}
}

void smi_field_value(const struct smi_field *f, const struct smi_snapshot *s,
		     const struct smi_card *c, struct smi_val *v)
{
	const struct hc_card_info *in = &c->info;
	char hex[65];

	memset(v, 0, sizeof(*v));
	switch (f->id) {
	case F_TIMESTAMP: v_str(v, s->timestamp); return;
	case F_INDEX: v_u64(v, c->index); return;
	case F_DEVICE: v_str(v, c->uri); return;
	case F_BACKEND: v_str(v, c->backend == HC_BACKEND_KERNEL ? "kernel" : "emu"); return;
	case F_LIBHC_VERSION: v_str(v, hc_version()); return;
	}
	if (!c->h)
		return;
	switch (f->id) {
	case F_MODEL_NAME: v_str(v, in->model_name); return;
	case F_IDENTITY:
	case F_IDENTITY_SHORT:
		hc_identity_hex(in->identity, hex);
		if (f->id == F_IDENTITY_SHORT)
			hex[12] = 0;
		snprintf(v->buf, sizeof(v->buf), "%s", hex);
		v_str(v, v->buf);
		return;
	case F_INTERFACE_VERSION: v_u64(v, in->interface_version); return;
	case F_FW_VERSION:
		if (smi_fw_version_text(c->ver.fw_version, v->buf, sizeof(v->buf)))
			v_str(v, v->buf);
		return;
	case F_DRIVER_VERSION:
		if (c->ver.driver_version[0])
			v_str(v, c->ver.driver_version);
		return;
	case F_STATUS: v_str(v, smi_status_name(in->status)); return;
	case F_STATUS_CODE: v_u64(v, in->status); return;
	case F_ERROR_CODE: v_u64(v, in->error_code); return;
	case F_CAPS:
		v->kind = SMI_V_CAPS;
		v->u = in->capabilities;
		return;
	case F_CAPS_MASK:
		v->kind = SMI_V_HEX;
		v->u = in->capabilities;
		return;
	case F_VOCAB: v_u64(v, in->vocab_size); return;
	case F_DIM: v_u64(v, in->dim); return;
	case F_LAYERS: v_u64(v, in->n_layers); return;
	case F_HEADS: v_u64(v, in->n_heads); return;
	case F_KV_HEADS: v_u64(v, in->n_kv_heads); return;
	case F_FFN: v_u64(v, in->ffn_dim); return;
	case F_MODEL_MAX_CTX: v_u64(v, in->model_max_ctx); return;
	case F_N_CONTEXTS: v_u64(v, in->n_contexts); return;
	case F_MAX_CTX: v_u64(v, in->max_ctx); return;
	case F_N_QP: v_u64(v, in->n_queue_pairs); return;
	case F_MAX_QE: v_u64(v, in->max_queue_entries); return;
	case F_STREAM_MEM: v_u64(v, in->stream_mem_bytes); return;
	}
	if (!c->tel_err)
		telemetry_value(f->id, c, v);
}

static const char *const cap_names[] = {
	"transport_socket", "transport_pci", "fault_injection", "coalesce", "tokenizer",
	"wakeup_delay", "host_memory",
};

/* Capability names separated by spaces; unknown bits as bitN. */
static void caps_text(uint64_t caps, char *buf, size_t len)
{
	size_t n = 0;
	int b;

	buf[0] = 0;
	for (b = 0; b < 64 && n < len; b++) {
		if (!(caps & (1ULL << b)))
			continue;
		if (b < (int)(sizeof(cap_names) / sizeof(cap_names[0])))
			n += snprintf(buf + n, len - n, "%s%s", n ? " " : "", cap_names[b]);
		else
			n += snprintf(buf + n, len - n, "%sbit%d", n ? " " : "", b);
	}
	if (!caps)
		snprintf(buf, len, "none");
}

/* For JSON: name of capability bit @b. */
const char *smi_cap_name(int b, char *buf, size_t len)
{
	if (b < (int)(sizeof(cap_names) / sizeof(cap_names[0])))
		return cap_names[b];
	snprintf(buf, len, "bit%d", b);
	return buf;
}

const char *smi_val_text(struct smi_val *v, char *buf, size_t len)
{
	switch (v->kind) {
	case SMI_V_STR:
		snprintf(buf, len, "%s", v->s);
		break;
	case SMI_V_U64:
		snprintf(buf, len, "%llu", (unsigned long long)v->u);
		break;
	case SMI_V_HEX:
		snprintf(buf, len, "0x%llx", (unsigned long long)v->u);
		break;
	case SMI_V_DBL:
		snprintf(buf, len, "%.*f", v->prec, v->d);
		break;
	case SMI_V_BOOL:
		snprintf(buf, len, "%s", v->u ? "yes" : "no");
		break;
	case SMI_V_CAPS:
		caps_text(v->u, buf, len);
		break;
	default:
		snprintf(buf, len, "[N/A]");
		break;
	}
	return buf;
}

void smi_print_fields(FILE *f)
{
	unsigned i;

	fprintf(f, "Fields for --query (comma separated; units as printed by --format=csv):\n\n");
	for (i = 0; i < smi_n_fields; i++) {
		const struct smi_field *x = &smi_fields[i];
		char name[64];

		if (!(x->flags & SMI_F_QUERY))
			continue;
		snprintf(name, sizeof(name), "%s%s%s%s", x->name, x->unit ? " [" : "",
			 x->unit ? x->unit : "", x->unit ? "]" : "");
		fprintf(f, "  %-30s %s\n", name, x->help);
	}
	fprintf(f, "\nThe same names (those not derived from another field) are the keys of --json.\n"
		"Unknown values print as [N/A].\n");
}
