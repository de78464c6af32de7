// SPDX-License-Identifier: MIT
/*
 * libhc through its kernel backend (hc_open("/dev/accel/accelN"), on 6.1 "/dev/dri/renderDN"),
 * found by hc_list_devices: card info and the ROM
 * tokenizer arrive through the driver, a decode yields exactly the host reference's tokens
 * (the same libhc code, hc-emud's socket transport on the host), several streams at once via
 * hc_stream_wait, cancel, telemetry. Linked statically with build/libhc.a.
 */
#include <hc/hc.h>
#include "ktest.h"
#include "decode_case.h"

static uint32_t expect[DECODE_CASE_TOKENS];

static int decode(struct hc_ctx *ctx, struct hc_stream **s)
{
	struct hc_decode_params p = { 0 };
	int rc = hc_ctx_prefill_tokens(ctx, decode_case_prompt, DECODE_CASE_PROMPT_LEN);

	p.max_tokens = DECODE_CASE_TOKENS;
	p.ring_entries = DECODE_CASE_RING;
	return rc ? rc : hc_ctx_decode(ctx, &p, s);
}

int main(void)
{
	char dev[256], sysdir[512];
	struct hc_card *card;
	struct hc_card_info info;
	struct hc_telemetry t0, t1;
	struct hc_ctx *ctx[3];
	struct hc_stream *s[3];
	struct hc_stream_status st;
	uint32_t ids[3][DECODE_CASE_TOKENS];
	unsigned got[3] = { 0 };
	int32_t toks[16];
	size_t n_tok = 0;
	int rc, i, done = 0;
	FILE *f = fopen("/etc/expected-decode.txt", "r");

	for (i = 0; f && i < DECODE_CASE_TOKENS; i++)
		if (fscanf(f, "%u", &expect[i]) != 1)
			break;
	if (f)
		fclose(f);
	if (kt_find_node(dev, sizeof(dev), sysdir, sizeof(sysdir)))
		return 1;
	/* hc_open(NULL) discovers the same node (accel on 6.12, render node on 6.1). */
	{
		struct hc_device_desc d[4];
		size_t nd = 0;

		rc = hc_list_devices(d, 4, &nd);
		KT_CHECK(rc == 0 && nd >= 1 && !strcmp(d[0].uri, dev) &&
			 d[0].backend == HC_BACKEND_KERNEL, "hc_list_devices finds %s first (%s)",
			 dev, nd ? d[0].uri : "nothing");
	}
	rc = hc_open(dev, &card);
	KT_CHECK(rc == 0, "hc_open(%s): %s", dev, hc_strerror(rc));
	if (rc)
		return kt_exit();
	KT_CHECK(hc_card_info(card, &info) == 0 && info.vocab_size > 0 &&
		 info.interface_version == HC_CARD_VERSION, "hc_card_info: %s, vocab %u",
		 info.model_name, info.vocab_size);
	rc = hc_tokenize(card, "Once upon a time", 16, HC_TEXT_BOS, toks, 16, &n_tok);
	KT_CHECK(rc == 0 && n_tok > 1, "ROM tokenizer through the driver: %zu ids (%s)", n_tok,
		 hc_strerror(rc));
	KT_CHECK(hc_card_telemetry(card, &t0) == 0, "telemetry");

	/* Three contexts decoding at once, read through hc_stream_wait. */
	for (i = 0; i < 3; i++) {
		rc = hc_ctx_create(card, &ctx[i]);
		if (!rc)
			rc = decode(ctx[i], &s[i]);
		KT_CHECK(rc == 0, "context %d decoding (%s)", i, hc_strerror(rc));
		if (rc)
			return kt_exit();
	}
	while (done < 3) {
		rc = hc_stream_wait(s, 3, KT_EVENT_MS);
		if (rc <= 0) {
			KT_CHECK(0, "hc_stream_wait: %d", rc);
			break;
		}
		for (i = 0; i < 3; i++) {
			int n;

			if (got[i] == DECODE_CASE_TOKENS)
				continue;
			n = hc_stream_read(s[i], ids[i] + got[i], DECODE_CASE_TOKENS - got[i]);
			if (n > 0) {
				got[i] += (unsigned)n;
				if (got[i] == DECODE_CASE_TOKENS)
					done++;
			}
		}
	}
	for (i = 0; i < 3; i++) {
		KT_CHECK(got[i] == DECODE_CASE_TOKENS && !memcmp(ids[i], expect, sizeof(expect)),
			 "stream %d: %u tokens identical to the host reference", i, got[i]);
		rc = hc_stream_read(s[i], ids[i], 1);
		KT_CHECK(rc == 0, "stream %d ended (%d)", i, rc);
		KT_CHECK(hc_stream_status(s[i], &st) == 1 && st.state == HC_STREAM_DONE_MAX_TOKENS &&
			 st.count == DECODE_CASE_TOKENS, "stream %d status done, count %u", i, st.count);
		hc_stream_free(s[i]);
	}
	/* The card mirrors its counters every few ms: give it a moment. */
	for (i = 0; i < 100; i++) {
		if (hc_card_telemetry(card, &t1) || t1.tokens_generated >= t0.tokens_generated +
		    3 * DECODE_CASE_TOKENS)
			break;
		usleep(20000);
	}
	KT_CHECK(t1.tokens_generated >= t0.tokens_generated + 3 * DECODE_CASE_TOKENS,
		 "telemetry tokens_generated moved by >= %d", 3 * DECODE_CASE_TOKENS);

	/* Cancel a long decode. */
	{
		struct hc_decode_params p = { 0 };
		uint32_t buf[8];

		hc_ctx_reset(ctx[0]);
		rc = hc_ctx_prefill_tokens(ctx[0], decode_case_prompt, DECODE_CASE_PROMPT_LEN);
		p.max_tokens = 100000;
		p.ring_entries = 8;
		if (!rc)
			rc = hc_ctx_decode(ctx[0], &p, &s[0]);
		KT_CHECK(rc == 0 && hc_stream_read(s[0], buf, 4) > 0, "long decode running");
		KT_CHECK(hc_ctx_cancel(ctx[0]) == 0, "hc_ctx_cancel");
		while ((rc = hc_stream_read(s[0], buf, 8)) > 0)
			;
		KT_CHECK(rc == 0 && hc_stream_status(s[0], &st) == 1 &&
			 (st.state == HC_STREAM_CANCELLED || st.state == HC_STREAM_CONTEXT_FULL),
			 "stream ended cancelled (state %u, %u tokens)", st.state, st.count);
		hc_stream_free(s[0]);
	}
	/* stories260K golden through libhc, when the card runs that ROM. */
	if ((f = fopen("/etc/bos_only.txt", "r"))) {
		static uint32_t gold[256], out[256];
		struct hc_decode_params p = { 0 };
		char *line = NULL, *q, *e;
		size_t cap = 0;
		unsigned ng = 0, got_g = 0;
		int sect = 0;
		int32_t bos = 1;

		while (getline(&line, &cap, f) > 0 && sect < 3) {
			if (line[0] == '#') {
				sect = !strncmp(line, "# generated_ids", 15) ? 2 : sect + 1;
				continue;
			}
			for (q = line; sect == 2 && ng < 256; q = e) {
				long v = strtol(q, &e, 10);

				if (e == q)
					break;
				gold[ng++] = (uint32_t)v;
			}
		}
		free(line);
		fclose(f);
		hc_ctx_reset(ctx[1]);
		p.max_tokens = ng;
		p.ring_entries = 32;
		rc = hc_ctx_prefill_tokens(ctx[1], &bos, 1);
		if (!rc)
			rc = hc_ctx_decode(ctx[1], &p, &s[1]);
		while (!rc && got_g < ng) {
			int n = hc_stream_read(s[1], out + got_g, ng - got_g);

			if (n <= 0)
				break;
			got_g += (unsigned)n;
		}
		KT_CHECK(rc == 0 && ng == 256 && got_g == ng && !memcmp(out, gold, ng * 4),
			 "libhc: stories260K bos_only golden, %u of %u ids identical", got_g, ng);
		if (!rc)
			hc_stream_free(s[1]);
	}
	for (i = 0; i < 3; i++)
		hc_ctx_destroy(ctx[i]);
	hc_close(card);
	KT_CHECK(kt_counter(sysdir, "contexts_open") == 0, "no contexts left");
	return kt_exit();
}
