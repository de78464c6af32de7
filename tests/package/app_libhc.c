// SPDX-License-Identifier: MIT
/*
 * An application of libhc's users, built by `make check-package` with nothing but the
 * installed libhc-dev (`pkg-config --cflags --libs libhc`) and run against the installed
 * hc-emud: the first card hc_open(NULL) finds ($HC_DEVICE), a context, a prompt, 16 tokens
 * through the zero-copy stream (hc_stream.h's inline fast path) and as text.
 * Exit status: 0, or the step that failed (its error on stderr).
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <hc/hc.h>
#include <hc/hc_stream.h>

#define N_TOKENS 16

static int fail(int step, const char *what, int err)
{
	fprintf(stderr, "app_libhc: %s: %s\n", what, hc_strerror(err));
	return step;
}

int main(void)
{
	struct hc_decode_params p = { .max_tokens = N_TOKENS, .temperature = 0.8f, .seed = 7 };
	struct hc_stream_status st;
	struct hc_text_stream *ts;
	struct hc_card_info info;
	struct hc_card *card;
	struct hc_stream *s;
	struct hc_ctx *ctx;
	const uint32_t *t;
	char buf[256];
	unsigned n, i, got = 0;
	int r;

	r = hc_open(NULL, &card);
	if (r < 0)
		return fail(1, "hc_open", r);
	r = hc_card_info(card, &info);
	if (r < 0)
		return fail(2, "hc_card_info", r);
	r = hc_ctx_create(card, &ctx);
	if (r < 0)
		return fail(3, "hc_ctx_create", r);
	r = hc_ctx_prefill_text(ctx, "Once upon a time", strlen("Once upon a time"), HC_TEXT_BOS);
	if (r < 0)
		return fail(4, "hc_ctx_prefill_text", r);
	r = hc_ctx_decode(ctx, &p, &s);
	if (r < 0)
		return fail(5, "hc_ctx_decode", r);
	r = hc_text_stream_new(card, &ts);
	if (r < 0)
		return fail(6, "hc_text_stream_new", r);
	printf("libhc %s: ", hc_version());
	for (;;) {
		n = hc_stream_peek(s, &t);
		if (!n) {
			r = hc_stream_status(s, &st);
			if (r < 0)
				return fail(7, "hc_stream_status", r);
			if (r)
				break;
			/* bounded: a card that stops answering fails the check, it does not hang it */
			r = hc_stream_wait(&s, 1, 30000);
			if (r <= 0)
				return fail(8, "hc_stream_wait", r ? r : -ETIMEDOUT);
			continue;
		}
		for (i = 0; i < n; i++)
			fwrite(buf, 1, (size_t)hc_text_stream_push(ts, (int32_t)t[i], buf,
								sizeof(buf)), stdout);
		hc_stream_advance(s, n);
		got += n;
	}
	printf("\napp_libhc: %u tokens (state %u)\n", got, st.state);
	hc_stream_free(s);
	hc_text_stream_free(ts);
	hc_ctx_destroy(ctx);
	hc_close(card);
	return got == N_TOKENS && st.state == HC_STREAM_DONE_MAX_TOKENS ? 0 : 9;
}
