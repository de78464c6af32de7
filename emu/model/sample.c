// SPDX-License-Identifier: MIT
/*
 * Deterministic sampling (docs/numerics.md). The random number is a pure function of
 * (seed, step), so a generation can be replayed or resumed from any step.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "model.h"

static uint64_t mix64(uint64_t z)
{
	/* splitmix64's finaliser */
	z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
	z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
	return z ^ (z >> 31);
}

/* Uniform in [0, 1) with 24 random bits: exactly representable as a float. */
static float draw(uint64_t seed, uint64_t step)
{
	const uint64_t h = mix64(mix64(seed + UINT64_C(0x9e3779b97f4a7c15)) ^
				 (step * UINT64_C(0xd1b54a32d192ed03)));

	return (float)(h >> 40) * (1.0f / 16777216.0f);
}

/* Logit @i, NaN read as -inf: a NaN logit can never be drawn and keeps the order total. */
static inline float lgt(const float *l, uint32_t i)
{
	return isnan(l[i]) ? -INFINITY : l[i];
}

/*
 * The first index of the maximum; NaN never wins (0 if all are NaN). One pass in 4 lanes:
 * lane l keeps the largest value of the ids l mod 4 with the first id holding it (a NaN
 * fails "v > max", so it never enters), then the lanes' best, lowest id on equal values
 * (+0 and -0 compare equal): the id one scan with "x > best" finds.
 */
static int32_t argmax(const float *x, uint32_t n)
{
	typedef float v4f __attribute__((vector_size(16)));
	typedef int32_t v4i __attribute__((vector_size(16)));
	v4f m = { -INFINITY, -INFINITY, -INFINITY, -INFINITY };
	v4i at = { -1, -1, -1, -1 }, id = { 0, 1, 2, 3 };
	const v4i four = { 4, 4, 4, 4 };
	float best_v = -INFINITY;
	int32_t best = -1;
	uint32_t i = 0;

	for (; i + 4 <= n; i += 4, id += four) {
		v4f v;
		v4i gt;

		memcpy(&v, x + i, sizeof(v));
		gt = v > m;
		m = (v4f)(((v4i)v & gt) | ((v4i)m & ~gt));
		at = (id & gt) | (at & ~gt);
	}
	for (int l = 0; l < 4; l++)
		if (at[l] >= 0 && (best < 0 || m[l] > best_v || (m[l] == best_v && at[l] < best))) {
			best = at[l];
			best_v = m[l];
		}
	for (; i < n; i++)
		if (x[i] > best_v) {
			best = (int32_t)i;
			best_v = x[i];
		}
	/* nothing above -inf: the first id that is not NaN */
	for (i = 0; best < 0 && i < n; i++)
		if (!isnan(x[i]))
			best = (int32_t)i;
	return best < 0 ? 0 : best;
}

/* Higher logit first, then lower id: a strict total order, so any sort gives one result. */
static int by_logit(const void *pa, const void *pb, void *ctx)
{
	const struct hc_prob_index *a = pa, *b = pb;
	const float *l = ctx;
	const float la = lgt(l, (uint32_t)a->id), lb = lgt(l, (uint32_t)b->id);

	if (la > lb)
		return -1;
	if (la < lb)
		return 1;
	return a->id < b->id ? -1 : a->id > b->id;
}

/* Is (logit, id) @a ranked before @b? */
static int before(const float *l, int32_t a, int32_t b)
{
	const float la = lgt(l, (uint32_t)a), lb = lgt(l, (uint32_t)b);

	return la > lb || (la == lb && a < b);
}

/*
 * The @k best ids (k < n) into h[0..k), best first: a heap of size k whose root is the
 * worst kept id, then a sort. O(n log k) instead of sorting the whole vocabulary.
 */
static void top_k_select(const float *l, uint32_t n, uint32_t k, struct hc_prob_index *h)
{
	for (uint32_t i = 0; i < n; i++) {
		uint32_t pos;

		if (i < k) {
			/* sift up: parents rank after their children */
			pos = i;
			while (pos && before(l, h[(pos - 1) / 2].id, (int32_t)i)) {
				h[pos] = h[(pos - 1) / 2];
				pos = (pos - 1) / 2;
			}
			h[pos].id = (int32_t)i;
			continue;
		}
		if (!before(l, (int32_t)i, h[0].id))
			continue;
		/* replace the root and sift down */
		pos = 0;
		for (;;) {
			uint32_t c = 2 * pos + 1;

			if (c >= k)
				break;
			if (c + 1 < k && before(l, h[c].id, h[c + 1].id))
				c++;
			if (!before(l, (int32_t)i, h[c].id))
				break;
			h[pos] = h[c];
			pos = c;
		}
		h[pos].id = (int32_t)i;
	}
	qsort_r(h, k, sizeof(*h), by_logit, (void *)l);
}

int32_t hc_sample(const float *logits, uint32_t vocab_size, const struct hc_sampling *s,
		  uint64_t step, struct hc_prob_index *scratch)
{
	const int top_p_on = s->top_p > 0.0f && s->top_p < 1.0f;
	const int top_k_on = s->top_k > 0 && s->top_k < vocab_size;
	uint32_t n = 0;
	float max_z, sum = 0.0f, total = 0.0f, target, cum = 0.0f;

	if (!vocab_size)
		return -1;
	/* greedy; top-k 1 is greedy too (same candidate order) */
	if (!(s->temperature > 0.0f) || s->top_k == 1 || !scratch)
		return argmax(logits, vocab_size);
	/* p_i = exp(z_i - max z) / sum, z_i = logit_i / T; the sum in id order. A max z that
	 * overflowed (a tiny T, huge logits) or that no finite logit gave: T -> 0, greedy. */
	max_z = lgt(logits, (uint32_t)argmax(logits, vocab_size)) / s->temperature;
	if (!isfinite(max_z))
		return argmax(logits, vocab_size);
	for (uint32_t i = 0; i < vocab_size; i++)
		sum += expf(lgt(logits, i) / s->temperature - max_z);

	if (top_k_on) {
		top_k_select(logits, vocab_size, s->top_k, scratch);
		n = s->top_k;
	} else if (top_p_on) {
		/* Tokens below this can never be in the nucleus: what they sum to is < 1 - p. */
		const float cutoff = (1.0f - s->top_p) / (float)(vocab_size - 1);

		for (uint32_t i = 0; i < vocab_size; i++)
			if (expf(lgt(logits, i) / s->temperature - max_z) / sum >= cutoff)
				scratch[n++].id = (int32_t)i;
		/* except the top token, which is in every nucleus: below the cutoff when
		 * top_p < 1 / vocab and the distribution is flat, and then the only one */
		if (!n)
			return argmax(logits, vocab_size);
		qsort_r(scratch, n, sizeof(*scratch), by_logit, (void *)logits);
	} else {
		for (uint32_t i = 0; i < vocab_size; i++)
			scratch[n++].id = (int32_t)i;
	}
	for (uint32_t i = 0; i < n; i++)
		scratch[i].p = expf(lgt(logits, (uint32_t)scratch[i].id) / s->temperature - max_z) /
			       sum;

	if (top_p_on) {
		/* the shortest prefix whose probability passes top_p */
		for (uint32_t i = 0; i < n; i++) {
			cum += scratch[i].p;
			if (cum > s->top_p) {
				n = i + 1;
				break;
			}
		}
	}
	for (uint32_t i = 0; i < n; i++)
		total += scratch[i].p;
	target = draw(s->seed, step) * total;
	cum = 0.0f;
	for (uint32_t i = 0; i < n; i++) {
		cum += scratch[i].p;
		if (target < cum)
			return scratch[i].id;
	}
	return scratch[n - 1].id;
}
