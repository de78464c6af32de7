// SPDX-License-Identifier: MIT
/*
 * Host side of the decode comparison: run the decode the guest test runs (t_30_decode.c),
 * through libhc and hc-emud's socket transport, and print the token ids, one per line.
 * Usage: host_ref emu:/path/to/socket
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <hc/hc.h>
#include "guest/decode_case.h"

int main(int argc, char **argv)
{
	struct hc_decode_params p = { 0 };
	struct hc_card *card;
	struct hc_stream *s;
	struct hc_ctx *ctx;
	uint32_t ids[DECODE_CASE_TOKENS];
	unsigned got = 0;
	int rc, n, i;

	if (argc != 2) {
		fprintf(stderr, "usage: host_ref emu:SOCKET\n");
		return 2;
	}
	rc = hc_open(argv[1], &card);
	if (!rc)
		rc = hc_ctx_create(card, &ctx);
	if (!rc)
		rc = hc_ctx_prefill_tokens(ctx, decode_case_prompt, DECODE_CASE_PROMPT_LEN);
	p.max_tokens = DECODE_CASE_TOKENS;
	p.ring_entries = DECODE_CASE_RING;
	if (!rc)
		rc = hc_ctx_decode(ctx, &p, &s);
	while (!rc && got < DECODE_CASE_TOKENS) {
		n = hc_stream_read(s, ids + got, DECODE_CASE_TOKENS - got);
		if (n <= 0) {
			rc = n ? n : -EIO;
			break;
		}
		got += (unsigned)n;
	}
	if (rc) {
		fprintf(stderr, "host_ref: %s\n", hc_strerror(rc));
		return 1;
	}
	for (i = 0; i < DECODE_CASE_TOKENS; i++)
		printf("%u\n", ids[i]);
	hc_stream_free(s);
	hc_ctx_destroy(ctx);
	hc_close(card);
	return 0;
}
