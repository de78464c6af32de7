// SPDX-License-Identifier: MIT
/* hc-run's in-process engine: ROM file -> emulator forward pass -> sampler. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "rom.h"
#include "run.h"

struct direct {
	struct run_engine e;
	struct hc_rom *rom;
	struct hc_model *model;
	struct hc_tokenizer *tok;
	struct hc_detok detok;
};

static void direct_close(struct run_engine *e)
{
	struct direct *d = (struct direct *)e;

	if (!d)
		return;
	hc_tok_free(d->tok);
	hc_model_free(d->model);
	hc_rom_close(d->rom);
	free(d);
}

static int direct_open(const struct run_opts *o, struct run_engine **out, char *err,
		       size_t errlen)
{
	struct direct *d;
	const void *blob;
	size_t len;
	int rc;

	*out = NULL;
	if (!o->rom_path) {
		snprintf(err, errlen, "no ROM given (--rom FILE)");
		return -EINVAL;
	}
	d = calloc(1, sizeof(*d));
	if (!d) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	d->e.ops = &run_direct_ops;
	rc = hc_rom_open(o->rom_path, &d->rom, err, errlen);
	if (rc)
		goto fail;
	rc = hc_model_new(d->rom, o->n_threads, o->reference ? HC_PATH_REFERENCE : HC_PATH_AUTO,
			  &d->model, err, errlen);
	if (rc)
		goto fail;
	blob = hc_rom_tokenizer_blob(d->rom, &len);
	rc = hc_tok_load(blob, len, &d->tok, err, errlen);
	if (rc)
		goto fail;
	d->e.vocab_size = hc_model_arch(d->model)->vocab_size;
	d->e.max_ctx = hc_model_arch(d->model)->max_ctx;
	*out = &d->e;
	return 0;
fail:
	direct_close(&d->e);
	return rc;
}

static int is_stop(const struct run_gen *g, int32_t id)
{
	for (uint32_t i = 0; i < g->n_stop; i++)
		if (g->stop_ids[i] == id)
			return 1;
	return 0;
}

static int direct_generate(struct run_engine *e, const int32_t *prompt, size_t n,
			   const struct run_gen *g, run_token_fn fn, void *arg, char *err,
			   size_t errlen)
{
	struct direct *d = (struct direct *)e;
	const uint32_t vocab = e->vocab_size;
	struct hc_prob_index *scratch = NULL;
	struct hc_kv *kv = NULL;
	float *logits = NULL;
	uint64_t want;
	uint32_t made = 0;
	int rc;

	if (!n || n > e->max_ctx) {
		snprintf(err, errlen, "prompt of %zu tokens does not fit the context of %u", n,
			 e->max_ctx);
		return -EINVAL;
	}
	want = (uint64_t)n + g->max_new;
	kv = hc_kv_new(d->model, want < e->max_ctx ? (uint32_t)want : e->max_ctx);
	logits = malloc((size_t)vocab * sizeof(float));
	scratch = malloc((size_t)vocab * sizeof(*scratch));
	if (!kv || !logits || !scratch) {
		snprintf(err, errlen, "out of memory");
		rc = -ENOMEM;
		goto out;
	}
	rc = hc_forward(d->model, kv, prompt, (uint32_t)n, logits);
	while (rc == 0 && made < g->max_new) {
		struct hc_sampling s = g->sampling;
		int32_t id = hc_sample(logits, vocab, &s, made, scratch);

		made++;
		if (fn(arg, id) || is_stop(g, id) || made == g->max_new ||
		    hc_kv_pos(kv) == hc_kv_capacity(kv))
			break;
		rc = hc_forward(d->model, kv, &id, 1, logits);
	}
	if (rc < 0)
		snprintf(err, errlen, "forward pass: %s", strerror(-rc));
	else
		rc = (int)made;
out:
	free(scratch);
	free(logits);
	hc_kv_free(kv);
	return rc;
}

static int direct_encode(struct run_engine *e, const char *text, unsigned flags, int32_t *ids,
			 size_t cap, size_t *n)
{
	return hc_tok_encode(((struct direct *)e)->tok, text, strlen(text), flags, ids, cap, n);
}

static int direct_chat(struct run_engine *e, const char *user, int32_t *ids, size_t cap,
		       size_t *n)
{
	struct hc_chat_msg msg = { "user", user };

	return hc_tok_chat(((struct direct *)e)->tok, &msg, 1, 1, ids, cap, n);
}

static int32_t direct_bos(struct run_engine *e)
{
	return hc_tok_bos(((struct direct *)e)->tok);
}

static uint32_t direct_stop_ids(struct run_engine *e, int32_t *ids, uint32_t cap)
{
	return hc_tok_stop_ids(((struct direct *)e)->tok, ids, cap);
}

static int direct_detok_start(struct run_engine *e, const int32_t *prompt, size_t n)
{
	struct direct *d = (struct direct *)e;
	char buf[512];

	hc_detok_init(&d->detok);
	for (size_t i = 0; i < n; i++)
		hc_detok_push(d->tok, &d->detok, prompt[i], buf, sizeof(buf));
	d->detok.n_pending = 0;
	return 0;
}

static size_t direct_detok_push(struct run_engine *e, int32_t id, char *out, size_t cap)
{
	struct direct *d = (struct direct *)e;

	return hc_detok_push(d->tok, &d->detok, id, out, cap);
}

static size_t direct_detok_flush(struct run_engine *e, char *out, size_t cap)
{
	return hc_detok_flush(&((struct direct *)e)->detok, out, cap);
}

const struct run_engine_ops run_direct_ops = {
	.name = "direct",
	.open = direct_open,
	.generate = direct_generate,
	.close = direct_close,
	.encode = direct_encode,
	.chat = direct_chat,
	.bos = direct_bos,
	.stop_ids = direct_stop_ids,
	.detok_start = direct_detok_start,
	.detok_push = direct_detok_push,
	.detok_flush = direct_detok_flush,
};
