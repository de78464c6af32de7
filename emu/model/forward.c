// SPDX-License-Identifier: MIT
/*
 * The exact Llama forward pass (docs/numerics.md): llama2.c's run.c, generalised to
 * grouped-query attention, Llama 3.1 RoPE scaling, Q8_0/Q4_0 weights and batches.
 *
 * Tokens are processed in chunks of up to CHUNK; every per-token value is computed by the
 * same operations whether the token is alone or in a chunk, so prefill(n) has the bits of
 * n decode steps. A chunk's tokens may belong to different contexts (hc_forward_items: one
 * decode step of many contexts, prompt chunks riding along, reads the weights once), each at
 * its own position. Threads split matmul output rows, attention (token, head) pairs and the
 * elementwise steps' tokens or elements only: no reduction is ever split, so the thread
 * count cannot change a bit.
 */
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include "hc_err.h"
#include "matmul.h"
#include "model.h"
#include "quant.h"
#include "rom.h"
#include "threadpool.h"

/* tokens per batched step: weight rows are reused CHUNK times (each step streams all the
 * weights; 128 rather than 32 made 110M F32 prefill 1.25x faster) */
#define CHUNK 128
/* logits computed at once for items with their own buffers (hc_forward_items): the
 * classifier's weights are read once for up to this many contexts */
#define LOGIT_ROWS 32

struct layer {
	const float *attn_norm, *ffn_norm;
	struct hc_mat wq, wk, wv, wo, w_gate, w_up, w_down;
};

struct hc_model {
	const struct hc_rom *rom;
	struct hc_rom_arch a;
	uint32_t q_dim, kv_dim;
	struct hc_pool *pool;
	struct hc_mm_ctx mm;
	pthread_mutex_t lock;		/* one forward at a time: shared scratch below */
	struct layer *layers;
	struct hc_mat tok_embd, output;
	const float *output_norm;
	float *inv_freq;		/* head_dim / 2 RoPE frequencies */
	float *fp16;			/* fp16 -> float for every bit pattern */
	int quantized;			/* some matrix needs Q8_0 activations */
	int any_f32;			/* some matrix is F32 (fast path: transposed batches) */
	/* scratch for one chunk */
	float *x, *xb, *xb2, *q, *hb, *hb2, *rope_cos, *rope_sin, *xt;
	float *k, *v;			/* the chunk's new keys and values, before the caches */
	struct hc_block_q8_0 *xq;
	int32_t *xsum;			/* the sums of xq's blocks */
	float *att;			/* n_threads rows of att_cap scores */
	uint32_t att_cap;
	float *logit_rows;		/* LOGIT_ROWS rows of logits, for items' own buffers */
};

/*
 * Each KV head's keys and values are contiguous, so attention for one head reads two
 * streams. Keys are stored transposed in blocks of 8 positions, so that the scores of 8
 * positions are the 8 lanes of one vector (hc_scores_rows).
 */
struct hc_kv {
	struct hc_model *m;
	uint32_t cap, pos;
	uint32_t cap8;			/* cap rounded up to a multiple of 8 */
	float *k;			/* [layer][kv head][pos / 8][head_dim][pos % 8] */
	float *v;			/* [layer][kv head][pos][head_dim] */
	size_t bytes;			/* of each of k and v */
};

/* Where @kv holds layer @l's KV head @h: keys at k + this, values at v + this. */
static size_t kv_head_off(const struct hc_model *m, const struct hc_kv *kv, uint32_t l,
			  uint32_t h)
{
	return ((size_t)l * m->a.n_kv_heads + h) * kv->cap8 * m->a.head_dim;
}

/* ---- setup ---- */

static int bind_mat(const struct hc_rom *rom, const char *name, uint32_t cols, uint32_t rows,
		    struct hc_mat *m, char *err, size_t errlen)
{
	const struct hc_rom_tensor *t = hc_rom_find(rom, name);
	size_t rb;

	if (!t) {
		snprintf(err, errlen, "%s: tensor %s missing", hc_rom_path(rom), name);
		return -EINVAL;
	}
	if (t->type != HC_WTYPE_F32 && t->type != HC_WTYPE_Q8_0 && t->type != HC_WTYPE_Q4_0) {
		snprintf(err, errlen, "%s: tensor %s: type %u is not F32, Q8_0 or Q4_0",
			 hc_rom_path(rom), name, t->type);
		return -EINVAL;
	}
	if (t->n_dims != 2 || t->shape[0] != cols || t->shape[1] != rows) {
		snprintf(err, errlen, "%s: tensor %s: shape [%llu, %llu], expected [%u, %u]",
			 hc_rom_path(rom), name, (unsigned long long)t->shape[0],
			 (unsigned long long)t->shape[1], cols, rows);
		return -EINVAL;
	}
	rb = hc_row_size(t->type, cols);
	if (!rb || t->size / rb < rows) {
		snprintf(err, errlen, "%s: tensor %s: %llu bytes is too small for its shape",
			 hc_rom_path(rom), name, (unsigned long long)t->size);
		return -EINVAL;
	}
	m->data = hc_rom_data(rom, t);
	m->type = t->type;
	m->cols = cols;
	m->rows = rows;
	m->row_bytes = rb;
	return 0;
}

static int bind_norm(const struct hc_rom *rom, const char *name, uint32_t n, const float **out,
		     char *err, size_t errlen)
{
	const struct hc_rom_tensor *t = hc_rom_find(rom, name);

	if (!t) {
		snprintf(err, errlen, "%s: tensor %s missing", hc_rom_path(rom), name);
		return -EINVAL;
	}
	if (t->type != HC_WTYPE_F32 || t->n_dims != 1 || t->shape[0] != n ||
	    t->size < (uint64_t)n * sizeof(float)) {
		snprintf(err, errlen, "%s: tensor %s: expected F32 [%u]", hc_rom_path(rom), name,
			 n);
		return -EINVAL;
	}
	*out = hc_rom_data(rom, t);
	return 0;
}

/*
 * RoPE frequencies in float32. Plain: 1 / theta^(2i / head_dim) as llama2.c computes it.
 * HC_ROPE_LLAMA3: then the Llama 3.1 scaling, each step the float32 operation Hugging Face
 * transformers' _compute_llama3_parameters performs (x / t as reciprocal(t) * x, as torch
 * does for a scalar divided by a tensor).
 */
static void rope_freqs(const struct hc_rom_arch *a, float *f)
{
	const uint32_t half = a->head_dim / 2;

	for (uint32_t i = 0; i < half; i++) {
		float inv = 1.0f / powf(a->rope_theta, (float)(2 * i) / (float)a->head_dim);

		if (a->rope_scaling == HC_ROPE_LLAMA3) {
			const float factor = a->rope_factor;
			const float lo = a->rope_low_freq_factor, hi = a->rope_high_freq_factor;
			const float old = (float)a->rope_orig_ctx;
			const float low_wl = (float)((double)a->rope_orig_ctx / lo);
			const float high_wl = (float)((double)a->rope_orig_ctx / hi);
			const float wavelen = (1.0f / inv) * (float)(2.0 * M_PI);
			float scaled = wavelen > low_wl ? inv / factor : inv;
			/* (high - low) is a Python float there: rounded to float32 once */
			const float span = (float)((double)hi - (double)lo);
			const float smooth = ((1.0f / wavelen) * old - lo) / span;
			const float smoothed = (1.0f - smooth) * scaled / factor + smooth * scaled;

			if (!(wavelen < high_wl) && !(wavelen > low_wl))
				scaled = smoothed;
			inv = scaled;
		}
		f[i] = inv;
	}
}

/*
 * Everything below sizes buffers from the architecture: check it with the one set of rules,
 * hc_rom_check_arch(), even though the ROM loader already did for this header.
 */
static int check_arch(const struct hc_rom *rom, const struct hc_rom_arch *a, char *err,
		      size_t errlen)
{
	char why[256];

	if (hc_rom_check_arch(a, why, sizeof(why)))
		return hc_err(-EINVAL, err, errlen, "%s: %s", hc_rom_path(rom), why);
	return 0;
}

static int bind_weights(struct hc_model *m, char *err, size_t errlen)
{
	const struct hc_rom *rom = m->rom;
	const struct hc_rom_arch *a = &m->a;
	char name[64];
	int rc;

	rc = bind_mat(rom, "token_embd.weight", a->dim, a->vocab_size, &m->tok_embd, err, errlen);
	if (rc)
		return rc;
	if (a->flags & HC_ARCH_TIED_CLASSIFIER)
		m->output = m->tok_embd;
	else if ((rc = bind_mat(rom, "output.weight", a->dim, a->vocab_size, &m->output, err,
				errlen)))
		return rc;
	rc = bind_norm(rom, "output_norm.weight", a->dim, &m->output_norm, err, errlen);
	if (rc)
		return rc;
	for (uint32_t l = 0; l < a->n_layers; l++) {
		struct layer *L = &m->layers[l];
		const struct {
			const char *n;
			struct hc_mat *m;
			uint32_t cols, rows;
		} mats[] = {
			{ "attn_q", &L->wq, a->dim, m->q_dim },
			{ "attn_k", &L->wk, a->dim, m->kv_dim },
			{ "attn_v", &L->wv, a->dim, m->kv_dim },
			{ "attn_output", &L->wo, m->q_dim, a->dim },
			{ "ffn_gate", &L->w_gate, a->dim, a->ffn_dim },
			{ "ffn_up", &L->w_up, a->dim, a->ffn_dim },
			{ "ffn_down", &L->w_down, a->ffn_dim, a->dim },
		};

		snprintf(name, sizeof(name), "blk.%u.attn_norm.weight", l);
		if ((rc = bind_norm(rom, name, a->dim, &L->attn_norm, err, errlen)))
			return rc;
		snprintf(name, sizeof(name), "blk.%u.ffn_norm.weight", l);
		if ((rc = bind_norm(rom, name, a->dim, &L->ffn_norm, err, errlen)))
			return rc;
		for (size_t i = 0; i < sizeof(mats) / sizeof(mats[0]); i++) {
			snprintf(name, sizeof(name), "blk.%u.%s.weight", l, mats[i].n);
			rc = bind_mat(rom, name, mats[i].cols, mats[i].rows, mats[i].m, err,
				      errlen);
			if (rc)
				return rc;
			if (mats[i].m->type != HC_WTYPE_F32)
				m->quantized = 1;
			else
				m->any_f32 = 1;
		}
	}
	if (m->output.type != HC_WTYPE_F32)
		m->quantized = 1;
	return 0;
}

#define MATS_PER_LAYER 7

/* Matrix @i of the forward pass: 7 per layer, then the classifier (token_embd when tied). */
static struct hc_mat *weight_mat(struct hc_model *m, size_t i)
{
	struct layer *L = &m->layers[i / MATS_PER_LAYER];

	if (i == (size_t)m->a.n_layers * MATS_PER_LAYER)
		return &m->output;
	switch (i % MATS_PER_LAYER) {
	case 0: return &L->wq;
	case 1: return &L->wk;
	case 2: return &L->wv;
	case 3: return &L->wo;
	case 4: return &L->w_gate;
	case 5: return &L->w_up;
	default: return &L->w_down;
	}
}

/*
 * A copy of the matrices in the kernel table's packed layouts, when it has them (kernels.h):
 * the forward pass reads the copy; the ROM keeps the row layout, which the embedding and
 * the F32 batch kernels read.
 */
static int pack_weights(struct hc_model *m)
{
	const size_t n = (size_t)m->a.n_layers * MATS_PER_LAYER + 1;
	int rc = 0;

	for (size_t i = 0; i < n && !rc; i++)
		rc = hc_mm_pack(&m->mm, weight_mat(m, i));
	return rc;
}

static void unpack_weights(struct hc_model *m)
{
	const size_t n = (size_t)m->a.n_layers * MATS_PER_LAYER + 1;

	for (size_t i = 0; m->layers && i < n; i++) {
		free((void *)weight_mat(m, i)->packed);
		weight_mat(m, i)->packed = NULL;
	}
}

static uint32_t max3(uint32_t a, uint32_t b, uint32_t c)
{
	uint32_t m = a > b ? a : b;

	return m > c ? m : c;
}

static const char *const path_names[] = {
	[HC_PATH_AUTO] = "auto", [HC_PATH_REFERENCE] = "reference",
	[HC_PATH_GENERIC] = "generic", [HC_PATH_AVX2] = "avx2",
};

const char *hc_path_name(enum hc_path path)
{
	return (unsigned)path < sizeof(path_names) / sizeof(path_names[0]) ? path_names[path]
									    : "?";
}

int hc_path_from_name(const char *name, enum hc_path *path)
{
	for (unsigned i = 0; i < sizeof(path_names) / sizeof(path_names[0]); i++) {
		if (!strcmp(name, path_names[i])) {
			*path = (enum hc_path)i;
			return 0;
		}
	}
	return -EINVAL;
}

int hc_model_default_threads(void)
{
	cpu_set_t set;
	int n;

	if (sched_getaffinity(0, sizeof(set), &set))
		return 1;
	n = CPU_COUNT(&set);
	return n < 1 ? 1 : n > 256 ? 256 : n;
}

int hc_model_new(const struct hc_rom *rom, int n_threads, enum hc_path path,
		 struct hc_model **out, char *err, size_t errlen)
{
	struct hc_model *m;
	const struct hc_rom_arch *a;
	uint32_t wide;
	int rc;

	*out = NULL;
	if (n_threads < 1 || n_threads > 256) {
		snprintf(err, errlen, "%s: invalid thread count %d", hc_rom_path(rom), n_threads);
		return -EINVAL;
	}
	if (!hc_kernels_pick(path)) {
		snprintf(err, errlen, "%s: this CPU cannot run kernel path %d (AVX2 needs AVX2 "
			 "and F16C)", hc_rom_path(rom), (int)path);
		return -EINVAL;
	}
	m = calloc(1, sizeof(*m));
	if (!m) {
		snprintf(err, errlen, "%s: out of memory", hc_rom_path(rom));
		return -ENOMEM;
	}
	pthread_mutex_init(&m->lock, NULL);
	m->rom = rom;
	m->a = hc_rom_header(rom)->arch;
	a = &m->a;
	rc = check_arch(rom, a, err, errlen);
	if (rc)
		goto fail;
	m->q_dim = a->n_heads * a->head_dim;
	m->kv_dim = a->n_kv_heads * a->head_dim;
	rc = -ENOMEM;
	m->layers = calloc(a->n_layers, sizeof(*m->layers));
	if (!m->layers)
		goto nomem;
	rc = bind_weights(m, err, errlen);
	if (rc)
		goto fail;

	wide = max3(a->dim, m->q_dim, a->ffn_dim);
	m->fp16 = malloc(65536 * sizeof(float));
	m->inv_freq = malloc(a->head_dim / 2 * sizeof(float));
	m->x = malloc((size_t)CHUNK * a->dim * sizeof(float));
	m->xb = malloc((size_t)CHUNK * wide * sizeof(float));
	m->xb2 = malloc((size_t)CHUNK * a->dim * sizeof(float));
	m->q = malloc((size_t)CHUNK * m->q_dim * sizeof(float));
	m->hb = malloc((size_t)CHUNK * a->ffn_dim * sizeof(float));
	m->hb2 = malloc((size_t)CHUNK * a->ffn_dim * sizeof(float));
	m->rope_cos = malloc((size_t)CHUNK * a->head_dim / 2 * sizeof(float));
	m->rope_sin = malloc((size_t)CHUNK * a->head_dim / 2 * sizeof(float));
	m->xq = malloc((size_t)CHUNK * (wide / HC_QK + 1) * sizeof(*m->xq));
	m->xsum = malloc((size_t)CHUNK * (wide / HC_QK + 1) * sizeof(*m->xsum));
	m->xt = malloc((size_t)CHUNK * wide * sizeof(float));	/* CHUNK % 8 == 0 */
	m->k = malloc((size_t)CHUNK * m->kv_dim * sizeof(float));
	m->v = malloc((size_t)CHUNK * m->kv_dim * sizeof(float));
	if (!m->fp16 || !m->inv_freq || !m->x || !m->xb || !m->xb2 || !m->q || !m->hb ||
	    !m->hb2 || !m->rope_cos || !m->rope_sin || !m->xq || !m->xsum || !m->xt || !m->k || !m->v)
		goto nomem;
	for (uint32_t i = 0; i < 65536; i++)
		m->fp16[i] = hc_fp16_to_f32((uint16_t)i);
	rope_freqs(a, m->inv_freq);

	m->mm.fp16 = m->fp16;
	m->mm.k = hc_kernels_pick(path);
	rc = pack_weights(m);
	if (rc)
		goto nomem;
	rc = hc_pool_new(n_threads, &m->pool);
	if (rc) {
		snprintf(err, errlen, "%s: cannot start %d threads", hc_rom_path(rom), n_threads);
		goto fail;
	}
	*out = m;
	return 0;
nomem:
	rc = -ENOMEM;
	snprintf(err, errlen, "%s: out of memory", hc_rom_path(rom));
fail:
	hc_model_free(m);
	return rc;
}

void hc_model_free(struct hc_model *m)
{
	if (!m)
		return;
	hc_pool_free(m->pool);
	pthread_mutex_destroy(&m->lock);
	unpack_weights(m);
	free(m->layers);
	free(m->fp16);
	free(m->inv_freq);
	free(m->x);
	free(m->xb);
	free(m->xb2);
	free(m->q);
	free(m->hb);
	free(m->hb2);
	free(m->rope_cos);
	free(m->rope_sin);
	free(m->xq);
	free(m->xsum);
	free(m->xt);
	free(m->k);
	free(m->v);
	free(m->att);
	free(m->logit_rows);
	free(m);
}

const struct hc_rom_arch *hc_model_arch(const struct hc_model *m)
{
	return &m->a;
}

const char *hc_model_kernels(const struct hc_model *m)
{
	return hc_mm_kernels_name(&m->mm);
}

/* ---- KV cache ---- */

/*
 * Fresh zero pages, so only the positions used cost memory, and page-aligned: a block of 8
 * keys then never straddles a page. (Attention reads a last block whole; where it ran into
 * a page not yet written, the read mapped the zero page, and the next position's write
 * took a copy-on-write fault with a TLB flush on every CPU of the pool.)
 */
static float *kv_map(size_t bytes)
{
	void *p = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	return p == MAP_FAILED ? NULL : p;
}

struct hc_kv *hc_kv_new(struct hc_model *m, uint32_t max_ctx)
{
	struct hc_kv *kv;
	size_t n;

	if (!max_ctx || max_ctx > m->a.max_ctx)
		max_ctx = m->a.max_ctx;
	kv = calloc(1, sizeof(*kv));
	if (!kv)
		return NULL;
	kv->m = m;
	kv->cap = max_ctx;
	kv->cap8 = (uint32_t)(((uint64_t)max_ctx + 7) & ~7ull);
	n = (size_t)m->a.n_layers * kv->cap8 * m->kv_dim;
	if (!kv->cap8 || n / kv->cap8 / m->kv_dim != m->a.n_layers ||
	    n > SIZE_MAX / sizeof(float)) {
		free(kv);
		return NULL;
	}
	kv->bytes = n * sizeof(float);
	kv->k = kv_map(kv->bytes);
	kv->v = kv_map(kv->bytes);
	if (!kv->k || !kv->v) {
		hc_kv_free(kv);
		return NULL;
	}
	return kv;
}

void hc_kv_free(struct hc_kv *kv)
{
	if (!kv)
		return;
	if (kv->k)
		munmap(kv->k, kv->bytes);
	if (kv->v)
		munmap(kv->v, kv->bytes);
	free(kv);
}

void hc_kv_reset(struct hc_kv *kv)
{
	kv->pos = 0;
}

uint32_t hc_kv_pos(const struct hc_kv *kv)
{
	return kv->pos;
}

uint32_t hc_kv_capacity(const struct hc_kv *kv)
{
	return kv->cap;
}

/* ---- building blocks, each exactly as llama2.c run.c writes it ---- */

/* 4 floats for elementwise IEEE operations side by side (GCC vectors; no contraction:
 * -ffp-contract=off), the same bits as one at a time. */
typedef float v4f __attribute__((vector_size(16)));

/*
 * RMSNorm of @nr <= 4 rows: o row r = RMSNorm(x row r) * w, the rows @xs floats apart in x
 * and @n in o. Each row's sum of squares is its own chain in j order, as llama2.c's; the
 * rows' chains run side by side in the lanes of a vector, so four rows take about the
 * latency of one.
 */
static void rmsnorm(float *o, const float *x, size_t xs, const float *w, uint32_t n,
		    float eps, uint32_t nr)
{
	const float *xr[4];
	v4f ss = { 0.0f, 0.0f, 0.0f, 0.0f };

	for (uint32_t r = 0; r < 4; r++)
		xr[r] = x + (r < nr ? r : 0) * xs;	/* spare lanes repeat row 0 */
	for (uint32_t j = 0; j < n; j++) {
		const v4f v = { xr[0][j], xr[1][j], xr[2][j], xr[3][j] };

		ss += v * v;
	}
	for (uint32_t r = 0; r < nr; r++) {
		float *orow = o + (size_t)r * n, s = ss[r];
		uint32_t j = 0;

		s /= (float)n;
		s += eps;
		s = 1.0f / sqrtf(s);
		for (const v4f sv = { s, s, s, s }; j + 4 <= n; j += 4) {
			v4f wv, xv;

			memcpy(&wv, w + j, sizeof(wv));
			memcpy(&xv, xr[r] + j, sizeof(xv));
			xv = wv * (sv * xv);
			memcpy(orow + j, &xv, sizeof(xv));
		}
		for (; j < n; j++)
			orow[j] = w[j] * (s * xr[r][j]);
	}
}

/* x[i] /= d for i < n. Each quotient is one IEEE division in any vector width, so
 * 4 at a time give the same bits. */
static void div_all(float *x, uint32_t n, float d)
{
	const v4f dv = { d, d, d, d };
	uint32_t i = 0;

	for (; i + 4 <= n; i += 4) {
		v4f v;

		memcpy(&v, x + i, sizeof(v));
		v /= dv;
		memcpy(x + i, &v, sizeof(v));
	}
	for (; i < n; i++)
		x[i] /= d;
}

static void softmax(float *x, uint32_t n)
{
	float max = x[0], sum = 0.0f;

	for (uint32_t i = 1; i < n; i++)
		if (x[i] > max)
			max = x[i];
	for (uint32_t i = 0; i < n; i++) {
		x[i] = expf(x[i] - max);
		sum += x[i];
	}
	div_all(x, n, sum);
}

/* Rotate pairs (2i, 2i+1) of every head of @v (n_heads heads of head_dim). */
static void rope(float *v, uint32_t n_heads, uint32_t head_dim, const float *c, const float *s)
{
	for (uint32_t h = 0; h < n_heads; h++) {
		float *p = v + (size_t)h * head_dim;

		for (uint32_t i = 0; i < head_dim / 2; i++) {
			const float v0 = p[2 * i], v1 = p[2 * i + 1];

			p[2 * i] = v0 * c[i] - v1 * s[i];
			p[2 * i + 1] = v0 * s[i] + v1 * c[i];
		}
	}
}

/* ---- parallel jobs ---- */

struct mm_job {
	const struct hc_mm_ctx *c;
	const struct hc_act *a;
	int n;
	struct {
		const struct hc_mat *w;
		float *out;
		size_t os;
	} m[3];
};

/*
 * Thread ti takes a contiguous share of the rows of all matrices laid end to end, in whole
 * groups of 32 (8) when every matrix has them: the packed kernels' units (kernels.h).
 */
static void mm_worker(void *arg, int ti, int nt)
{
	const struct mm_job *j = arg;
	unsigned long total = 0, lo, hi, base = 0, unit = 32;

	for (int i = 0; i < j->n; i++)
		total += j->m[i].w->rows;
	for (int i = 0; i < j->n; i++)
		while (j->m[i].w->rows % unit)
			unit /= 2;
	hc_split(total / unit, ti, nt, &lo, &hi);
	lo *= unit;
	hi *= unit;
	for (int i = 0; i < j->n; i++) {
		const unsigned long rows = j->m[i].w->rows;
		const unsigned long a = lo > base ? lo - base : 0;
		const unsigned long b = hi < base + rows ? hi - base : rows;

		if (hi > base && a < b)
			hc_matmul_rows(j->c, j->m[i].w, j->a, j->m[i].out, j->m[i].os,
				       (uint32_t)a, (uint32_t)b);
		base += rows;
	}
}

/*
 * The per-token and per-element steps, on the pool: each token (RMSNorm, quantization) or
 * element (SwiGLU, residual) is computed by one thread with the same operations, so the
 * split cannot change a bit. Steps smaller than a pool round trip stay on the caller.
 * Batches run a token's consecutive steps in one go (EW_NORM_ACT, EW_SWIGLU_ACT): one pool
 * round trip instead of three.
 */
enum ew_op {
	EW_RMSNORM,	/* per token: o = RMSNorm(x) * w */
	EW_QUANT,	/* per token: x's Q8_0 activation */
	EW_NORM_ACT,	/* per token: x += res (if any), o = RMSNorm(x) * w, o's activation */
	EW_SWIGLU_ACT,	/* per token: o = SwiGLU(o, x), o's activation */
	EW_SWIGLU,	/* per element: o = SwiGLU(o, x) */
	EW_ADD,		/* per element: o += x */
};

struct ew_job {
	struct hc_model *m;
	enum ew_op op;
	float *o;		/* RMSNORM, NORM_ACT: out rows; SWIGLU(_ACT): gate (in place);
				 * ADD: x (in place) */
	float *x;		/* RMSNORM, QUANT: in rows (stride xs); NORM_ACT: the residual
				 * stream (in place); SWIGLU(_ACT): up; ADD: addend */
	const float *w;		/* RMSNORM, NORM_ACT: weights */
	const float *res;	/* NORM_ACT: added to x first, or NULL */
	size_t xs;
	uint32_t cols, n;	/* per-token ops: n tokens of cols; per-element ops: n elements */
	atomic_uint next;	/* per-token ops: the next 4 tokens not yet taken */
};

static void swiglu(float *g, const float *u, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		float val = g[i];

		val *= 1.0f / (1.0f + expf(-val));
		val *= u[i];
		g[i] = val;
	}
}

/* Token @i's row @x of @cols to its Q8_0 activation, when the model needs one. */
static void quantize_tok(struct hc_model *m, const float *x, uint32_t cols, unsigned long i)
{
	const uint32_t nb = cols / HC_QK;

	if (!m->quantized || cols % HC_QK)
		return;
	hc_act_quantize(&m->mm, x, m->xq + i * nb, nb);
	hc_act_sums(m->xq + i * nb, nb, m->xsum + i * nb);
}

static void ew_range(const struct ew_job *j, unsigned long lo, unsigned long hi)
{
	struct hc_model *m = j->m;
	const uint32_t cols = j->cols;

	/* the per-element steps, over the whole range at once */
	if (j->op == EW_SWIGLU) {
		swiglu(j->o + lo, j->x + lo, hi - lo);
		return;
	}
	if (j->op == EW_ADD) {
		for (unsigned long i = lo; i < hi; i++)
			j->o[i] += j->x[i];
		return;
	}
	for (unsigned long i = lo; i < hi; ) {
		/* RMSNorm takes up to 4 tokens at once */
		const uint32_t nr = hi - i < 4 ? (uint32_t)(hi - i) : 4;

		switch (j->op) {
		case EW_RMSNORM:
			rmsnorm(j->o + i * cols, j->x + i * j->xs, j->xs, j->w, cols,
				m->a.norm_eps, nr);
			i += nr;
			continue;
		case EW_QUANT:
			quantize_tok(m, j->x + i * j->xs, cols, i);
			break;
		case EW_NORM_ACT:
			/* res may be o's buffer: rows are read whole before they are written */
			for (size_t e = 0; j->res && e < (size_t)nr * cols; e++)
				j->x[i * cols + e] += j->res[i * cols + e];
			rmsnorm(j->o + i * cols, j->x + i * cols, cols, j->w, cols,
				m->a.norm_eps, nr);
			for (uint32_t r = 0; r < nr; r++)
				quantize_tok(m, j->o + (i + r) * cols, cols, i + r);
			i += nr;
			continue;
		case EW_SWIGLU_ACT:
			swiglu(j->o + i * cols, j->x + i * cols, cols);
			quantize_tok(m, j->o + i * cols, cols, i);
			break;
		default:	/* per element: above */
			break;
		}
		i++;
	}
}

static void ew_worker(void *arg, int ti, int nt)
{
	struct ew_job *j = arg;
	unsigned long lo, hi;

	if (j->op >= EW_SWIGLU) {	/* elements: a fixed share each */
		hc_split(j->n, ti, nt, &lo, &hi);
		ew_range(j, lo, hi);
		return;
	}
	/* tokens, 4 at a time (RMSNorm's lanes), to whichever thread is free: a thread slowed
	 * by something else on its CPU takes fewer, and no result depends on which took which */
	while ((lo = 4ul * atomic_fetch_add_explicit(&j->next, 1, memory_order_relaxed)) < j->n)
		ew_range(j, lo, lo + 4 < j->n ? lo + 4 : j->n);
}

static void run_ew_job(struct hc_model *m, struct ew_job *j)
{
	const int per_token = j->op < EW_SWIGLU;

	if (hc_pool_size(m->pool) > 1 && (per_token ? j->n > 1 : j->n >= 8192))
		hc_pool_run(m->pool, ew_worker, (void *)j);
	else
		ew_range(j, 0, j->n);
}

static void run_ew(struct hc_model *m, enum ew_op op, float *o, const float *x, const float *w,
		   size_t xs, uint32_t cols, uint32_t n)
{
	struct ew_job j = { m, op, o, (float *)x, w, NULL, xs, cols, n, 0 };

	run_ew_job(m, &j);
}

/*
 * Point @a at @n rows of @x (stride @xs). @quantized: xq already holds their Q8_0
 * activations if the model needs them; if not, they are made here.
 */
static void set_act(struct hc_model *m, struct hc_act *a, const float *x, size_t xs,
		    uint32_t cols, uint32_t n, int quantized)
{
	a->x = x;
	a->x_stride = xs;
	a->n_tok = n;
	a->xq = NULL;
	a->xsum = NULL;
	a->xt = NULL;
	if (m->any_f32 && hc_mm_wants_xt(&m->mm) && n > 1) {
		hc_act_transpose(a, cols, m->xt);
		a->xt = m->xt;
	}
	if (m->quantized && cols % HC_QK == 0) {
		if (!quantized)
			run_ew(m, EW_QUANT, NULL, x, NULL, xs, cols, n);
		a->xq = m->xq;
		a->xsum = m->xsum;
	}
}

/* Fill @a with @n rows of @x (stride @xs), quantized to Q8_0 when any weight needs it. */
static void make_act(struct hc_model *m, struct hc_act *a, const float *x, size_t xs,
		     uint32_t cols, uint32_t n)
{
	set_act(m, a, x, xs, cols, n, 0);
}

/* x += @res (if not NULL), xb = RMSNorm(x) * @w, and @a = xb's activation. */
static void norm_act(struct hc_model *m, struct hc_act *a, const float *res, const float *w,
		     uint32_t n)
{
	const uint32_t dim = m->a.dim;
	struct ew_job j = { m, EW_NORM_ACT, m->xb, m->x, w, res, dim, dim, n, 0 };

	if (n == 1 && res) {	/* a single token's residual is split by elements */
		run_ew(m, EW_ADD, m->x, res, NULL, 0, 0, dim);
		j.res = NULL;
	}
	run_ew_job(m, &j);
	set_act(m, a, m->xb, dim, dim, n, 1);
}

/* hb = SwiGLU(hb, hb2) and @a = hb's activation: per token for batches; a single token's
 * elements are split instead. */
static void swiglu_act(struct hc_model *m, struct hc_act *a, uint32_t n)
{
	const uint32_t ffn = m->a.ffn_dim;
	struct ew_job j = { m, EW_SWIGLU_ACT, m->hb, m->hb2, NULL, NULL, ffn, ffn, n, 0 };

	if (n == 1) {
		run_ew(m, EW_SWIGLU, m->hb, m->hb2, NULL, 0, 0, ffn);
		make_act(m, a, m->hb, ffn, ffn, 1);
		return;
	}
	run_ew_job(m, &j);
	set_act(m, a, m->hb, ffn, ffn, n, 1);
}

static void run_mm(struct hc_model *m, const struct hc_act *a, int n, const struct hc_mat *w0,
		   float *o0, size_t s0, const struct hc_mat *w1, float *o1, size_t s1,
		   const struct hc_mat *w2, float *o2, size_t s2)
{
	struct mm_job j = { .c = &m->mm, .a = a, .n = n };

	j.m[0].w = w0, j.m[0].out = o0, j.m[0].os = s0;
	j.m[1].w = w1, j.m[1].out = o1, j.m[1].os = s1;
	j.m[2].w = w2, j.m[2].out = o2, j.m[2].os = s2;
	hc_pool_run(m->pool, mm_worker, &j);
}

/* Token t of the chunk is at position pos[t] of cache kv[t]. */
struct att_job {
	struct hc_model *m;
	struct hc_kv *const *kv;
	const uint32_t *pos;
	uint32_t layer, n_tok;
	atomic_uint next_tok;	/* att_tok_worker: the next token not yet taken */
};

/* Ask for @bytes at @p in cache ahead of their use. */
static void prefetch_range(const void *p, size_t bytes)
{
	for (size_t o = 0; o < bytes; o += 64)
		__builtin_prefetch((const char *)p + o, 0, 3);
}

/*
 * The keys and values item @it reads. In a batch every item is another context's cache,
 * read once per step from memory: fetched one item ahead, the wait overlaps the item before.
 */
static void att_prefetch(const struct att_job *j, unsigned long it)
{
	const struct hc_model *m = j->m;
	const uint32_t t = (uint32_t)(it / m->a.n_heads), h = (uint32_t)(it % m->a.n_heads);
	const uint32_t hd = m->a.head_dim, n = j->pos[t] + 1;
	const struct hc_kv *kv = j->kv[t];
	const size_t off = kv_head_off(m, kv, j->layer, h / (m->a.n_heads / m->a.n_kv_heads));

	prefetch_range(kv->k + off, (size_t)(n + 7) / 8 * 8 * hd * sizeof(float));
	prefetch_range(kv->v + off, (size_t)n * hd * sizeof(float));
}

/* One (token, head) pair per item: scores, softmax, weighted sum of values. */
/* Items [lo, hi) on thread @ti's scores row. Each prefetches the next one's keys and
 * values; the last one prefetches item @after's (ULONG_MAX: none). */
static void att_items(const struct att_job *j, int ti, unsigned long lo, unsigned long hi,
		      unsigned long after)
{
	struct hc_model *m = j->m;
	const uint32_t hd = m->a.head_dim, kv_mul = m->a.n_heads / m->a.n_kv_heads;
	const float scale = sqrtf((float)hd);
	float *att = m->att + (size_t)ti * m->att_cap;

	for (unsigned long it = lo; it < hi; it++) {
		const uint32_t t = (uint32_t)(it / m->a.n_heads), h = (uint32_t)(it % m->a.n_heads);
		const struct hc_kv *kv = j->kv[t];
		const uint32_t pos = j->pos[t];
		const size_t off = kv_head_off(m, kv, j->layer, h / kv_mul);
		const float *q = m->q + (size_t)t * m->q_dim + (size_t)h * hd;
		float *xb = m->xb + (size_t)t * m->q_dim + (size_t)h * hd;

		if (it + 1 < hi || after != ULONG_MAX)
			att_prefetch(j, it + 1 < hi ? it + 1 : after);
		/* score_p = sequential dot(q, k_p), then / scale */
		hc_scores_rows(&m->mm, q, kv->k + off, (size_t)hd * 8, pos + 1, hd, att);
		div_all(att, pos + 1, scale);
		softmax(att, pos + 1);
		hc_wsum_rows(&m->mm, att, kv->v + off, hd, pos + 1, hd, xb);
	}
}

static void att_worker(void *arg, int ti, int nt)
{
	const struct att_job *j = arg;
	unsigned long lo, hi;

	hc_split((unsigned long)j->n_tok * j->m->a.n_heads, ti, nt, &lo, &hi);
	att_items(j, ti, lo, hi, ULONG_MAX);
}

/*
 * Tokens [lo, hi) of the chunk: RoPE on their queries and keys, then their keys and values
 * into their caches. Each token writes only its own position.
 */
static void rope_kv_range(const struct att_job *j, unsigned long lo, unsigned long hi)
{
	struct hc_model *m = j->m;
	const struct hc_rom_arch *a = &m->a;
	const uint32_t qd = m->q_dim, kvd = m->kv_dim, hd = a->head_dim, half = hd / 2;

	for (unsigned long t = lo; t < hi; t++) {
		const float *c = m->rope_cos + t * half, *s = m->rope_sin + t * half;
		struct hc_kv *kv = j->kv[t];
		const uint32_t p = j->pos[t];

		rope(m->q + t * qd, a->n_heads, hd, c, s);
		rope(m->k + t * kvd, a->n_kv_heads, hd, c, s);
		for (uint32_t h = 0; h < a->n_kv_heads; h++) {
			const size_t off = kv_head_off(m, kv, j->layer, h);
			const float *kn = m->k + t * kvd + (size_t)h * hd;
			float *kt = kv->k + off + (size_t)p / 8 * hd * 8 + p % 8;

			for (uint32_t i = 0; i < hd; i++)
				kt[(size_t)i * 8] = kn[i];
			memcpy(kv->v + off + (size_t)p * hd, m->v + t * kvd + (size_t)h * hd,
			       hd * sizeof(float));
		}
	}
}

static void rope_kv_worker(void *arg, int ti, int nt)
{
	const struct att_job *j = arg;
	unsigned long lo, hi;

	hc_split(j->n_tok, ti, nt, &lo, &hi);
	rope_kv_range(j, lo, hi);
}

/*
 * A batch whose tokens each have their own cache: per token, RoPE, its cache writes, its
 * attention and the Q8_0 activation of the result, in one pool run. No token reads another
 * token's cache, so nothing has to wait between the steps.
 */
static void att_tok_worker(void *arg, int ti, int nt)
{
	struct att_job *j = arg;
	struct hc_model *m = j->m;
	const unsigned long heads = m->a.n_heads;
	unsigned t = atomic_fetch_add_explicit(&j->next_tok, 1, memory_order_relaxed), next;

	/* tokens go to whichever thread is free: a thread slowed by something else on its
	 * CPU takes fewer, and the results cannot depend on which thread took which. Each
	 * thread takes its next token before working on this one, to prefetch its cache. */
	for (; t < j->n_tok; t = next) {
		next = atomic_fetch_add_explicit(&j->next_tok, 1, memory_order_relaxed);
		rope_kv_range(j, t, t + 1);
		att_items(j, ti, t * heads, (t + 1) * heads,
			  next < j->n_tok ? next * heads : ULONG_MAX);
		quantize_tok(m, m->xb + (size_t)t * m->q_dim, m->q_dim, t);
	}
}

/* ---- the forward pass ---- */

static int ensure_att(struct hc_model *m, uint32_t cap)
{
	float *p;

	if (m->att_cap >= cap)
		return 0;
	p = realloc(m->att, (size_t)hc_pool_size(m->pool) * cap * sizeof(float));
	if (!p)
		return -ENOMEM;
	m->att = p;
	m->att_cap = cap;
	return 0;
}

/*
 * Token t at position pos[t] of kv[t]; the caller advances the caches' positions.
 * @own_caches: no two tokens share a cache (a batch of contexts).
 */
static void forward_chunk(struct hc_model *m, struct hc_kv *const *kv, const uint32_t *pos,
			  const int32_t *tok, uint32_t n, int own_caches)
{
	const struct hc_rom_arch *a = &m->a;
	const uint32_t dim = a->dim, qd = m->q_dim, kvd = m->kv_dim, ffn = a->ffn_dim;
	const uint32_t half = a->head_dim / 2;
	struct hc_act act;

	for (uint32_t t = 0; t < n; t++) {
		const struct hc_mat *e = &m->tok_embd;

		hc_dequantize_row(e->type, e->data + (size_t)tok[t] * e->row_bytes,
				  m->x + (size_t)t * dim, dim);
		for (uint32_t i = 0; i < half; i++) {
			const float val = (float)pos[t] * m->inv_freq[i];

			m->rope_cos[t * half + i] = cosf(val);
			m->rope_sin[t * half + i] = sinf(val);
		}
	}

	for (uint32_t l = 0; l < a->n_layers; l++) {
		const struct layer *L = &m->layers[l];
		struct att_job aj = { m, kv, pos, l, n, 0 };

		/* attention; the residual of the layer before joins x here (none for layer 0) */
		norm_act(m, &act, l ? m->xb : NULL, L->attn_norm, n);
		run_mm(m, &act, 3, &L->wq, m->q, qd, &L->wk, m->k, kvd, &L->wv, m->v, kvd);
		if (own_caches && n > 1) {
			hc_pool_run(m->pool, att_tok_worker, &aj);
			set_act(m, &act, m->xb, qd, qd, n, 1);
		} else {
			/* a prompt's tokens read each other's keys: all are written first */
			if (n > 1)
				hc_pool_run(m->pool, rope_kv_worker, &aj);
			else
				rope_kv_range(&aj, 0, n);
			hc_pool_run(m->pool, att_worker, &aj);
			make_act(m, &act, m->xb, qd, qd, n);
		}
		run_mm(m, &act, 1, &L->wo, m->xb2, dim, NULL, NULL, 0, NULL, NULL, 0);

		/* SwiGLU feed-forward, after the attention's residual */
		norm_act(m, &act, m->xb2, L->ffn_norm, n);
		run_mm(m, &act, 2, &L->w_gate, m->hb, ffn, &L->w_up, m->hb2, ffn, NULL, NULL, 0);
		swiglu_act(m, &act, n);
		run_mm(m, &act, 1, &L->w_down, m->xb, dim, NULL, NULL, 0, NULL, NULL, 0);
	}
	run_ew(m, EW_ADD, m->x, m->xb, NULL, 0, 0, n * dim);	/* the last layer's residual */
}

/* The logits of @n tokens whose final x rows are @x (stride dim), vocab_size apart. */
static void classify(struct hc_model *m, const float *x, uint32_t n, float *logits)
{
	const uint32_t dim = m->a.dim;
	struct hc_act act;

	run_ew(m, EW_RMSNORM, m->xb, x, m->output_norm, dim, dim, n);
	make_act(m, &act, m->xb, dim, dim, n);
	run_mm(m, &act, 1, &m->output, logits, m->a.vocab_size, NULL, NULL, 0, NULL, NULL, 0);
}

/*
 * The logits of chunk rows @rows[0..k) (ascending; their final x rows) to @out[i]. The rows
 * are first packed to the front of x. Straight into the buffers when they are vocab_size
 * apart (a batch's array), else LOGIT_ROWS at a time through m->logit_rows.
 */
static void classify_rows(struct hc_model *m, const uint32_t *rows, float *const *out,
			  uint32_t k)
{
	const uint32_t dim = m->a.dim, vocab = m->a.vocab_size;
	int strided = 1;

	for (uint32_t i = 0; i < k; i++) {
		if (rows[i] != i)
			memcpy(m->x + (size_t)i * dim, m->x + (size_t)rows[i] * dim,
			       dim * sizeof(float));
		if (out[i] != out[0] + (size_t)i * vocab)
			strided = 0;
	}
	if (strided) {
		classify(m, m->x, k, out[0]);
		return;
	}
	for (uint32_t i = 0; i < k; i += LOGIT_ROWS) {
		const uint32_t g = k - i < LOGIT_ROWS ? k - i : LOGIT_ROWS;

		classify(m, m->x + (size_t)i * dim, g, m->logit_rows);
		for (uint32_t r = 0; r < g; r++)
			memcpy(out[i + r], m->logit_rows + (size_t)r * vocab, vocab * sizeof(float));
	}
}

/*
 * Run checked items: their tokens one after another, CHUNK to a pass (an item may span
 * passes, at consecutive positions), then advance the caches. Under m->lock.
 */
static void run_items(struct hc_model *m, const struct hc_fwd_item *it, uint32_t n)
{
	struct hc_kv *kvs[CHUNK];
	uint32_t pos[CHUNK], rows[CHUNK];
	int32_t tok[CHUNK];
	float *outs[CHUNK];
	uint32_t i = 0, off = 0;

	while (i < n) {
		uint32_t c = 0, k = 0;
		int own = 1;

		while (c < CHUNK && i < n) {
			const uint32_t take = it[i].n - off < CHUNK - c ? it[i].n - off : CHUNK - c;

			for (uint32_t j = 0; j < take; j++) {
				kvs[c + j] = it[i].kv;
				pos[c + j] = it[i].kv->pos + off + j;
				tok[c + j] = it[i].tokens[off + j];
			}
			own &= take == 1;	/* else two tokens of this pass share a cache */
			c += take;
			off += take;
			if (off == it[i].n) {
				if (it[i].logits) {
					rows[k] = c - 1;
					outs[k++] = it[i].logits;
				}
				i++;
				off = 0;
			}
		}
		forward_chunk(m, kvs, pos, tok, c, own);
		if (k)
			classify_rows(m, rows, outs, k);
	}
	for (i = 0; i < n; i++)
		it[i].kv->pos += it[i].n;
}

/* The checks hc_forward_items makes before running anything; @cap: the largest capacity */
static int check_items(const struct hc_model *m, const struct hc_fwd_item *it, uint32_t n,
		       uint32_t *cap)
{
	*cap = 0;
	if (n && !it)
		return -EINVAL;
	for (uint32_t i = 0; i < n; i++) {
		if (!it[i].kv || it[i].kv->m != m || !it[i].n || !it[i].tokens)
			return -EINVAL;
		for (uint32_t t = 0; t < it[i].n; t++)
			if (it[i].tokens[t] < 0 || (uint32_t)it[i].tokens[t] >= m->a.vocab_size)
				return -EINVAL;
		for (uint32_t j = 0; j < i; j++)
			if (it[j].kv == it[i].kv)
				return -EINVAL;
	}
	for (uint32_t i = 0; i < n; i++) {
		if (it[i].n > it[i].kv->cap - it[i].kv->pos)
			return -ENOSPC;
		if (it[i].kv->cap > *cap)
			*cap = it[i].kv->cap;
	}
	return 0;
}

int hc_forward_items(struct hc_model *m, const struct hc_fwd_item *items, uint32_t n)
{
	uint32_t cap;
	int rc = check_items(m, items, n, &cap);

	if (rc || !n)
		return rc;
	pthread_mutex_lock(&m->lock);
	rc = ensure_att(m, cap);
	if (!rc && n > 1 && !m->logit_rows) {
		m->logit_rows = malloc((size_t)LOGIT_ROWS * m->a.vocab_size * sizeof(float));
		if (!m->logit_rows)
			rc = -ENOMEM;
	}
	if (!rc)
		run_items(m, items, n);
	pthread_mutex_unlock(&m->lock);
	return rc;
}

int hc_forward(struct hc_model *m, struct hc_kv *kv, const int32_t *tokens, uint32_t n,
	       float *logits)
{
	const struct hc_fwd_item it = { kv, tokens, n, logits };

	if (!kv || kv->m != m || (n && !tokens))
		return -EINVAL;
	return n ? hc_forward_items(m, &it, 1) : 0;
}

/* Contexts [i, i + c) of a batch as items, each one token with its row of @logits */
static void batch_items(const struct hc_model *m, struct hc_kv *const *kvs,
			const int32_t *tokens, float *logits, uint32_t i, uint32_t c,
			struct hc_fwd_item *it)
{
	for (uint32_t t = 0; t < c; t++)
		it[t] = (struct hc_fwd_item){ kvs[i + t], tokens + i + t, 1,
					      logits + (size_t)(i + t) * m->a.vocab_size };
}

int hc_forward_batch(struct hc_model *m, struct hc_kv *const *kvs, const int32_t *tokens,
		     uint32_t n, float *logits)
{
	struct hc_fwd_item it[CHUNK];
	uint32_t cap = 0, c_cap;
	int rc = 0;

	if (n && (!kvs || !tokens || !logits))
		return -EINVAL;
	/* checked as a whole first: nothing runs unless every context can */
	for (uint32_t i = 0; !rc && i < n; i += CHUNK) {
		const uint32_t c = n - i < CHUNK ? n - i : CHUNK;

		for (uint32_t t = 0; t < c; t++)
			for (uint32_t j = 0; kvs[i + t] && j < i; j++)
				if (kvs[j] == kvs[i + t])
					return -EINVAL;
		batch_items(m, kvs, tokens, logits, i, c, it);
		rc = check_items(m, it, c, &c_cap);
		cap = c_cap > cap ? c_cap : cap;
	}
	if (rc || !n)
		return rc;
	pthread_mutex_lock(&m->lock);
	rc = ensure_att(m, cap);
	for (uint32_t i = 0; !rc && i < n; i += CHUNK) {
		const uint32_t c = n - i < CHUNK ? n - i : CHUNK;

		batch_items(m, kvs, tokens, logits, i, c, it);
		run_items(m, it, c);	/* the logits are one strided run: no copies */
	}
	pthread_mutex_unlock(&m->lock);
	return rc;
}
