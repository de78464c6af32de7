/* SPDX-License-Identifier: MIT */
/*
 * Growable binary min-heap for the tokenizers' merge queues, generated per element type so
 * the comparison inlines (this is the encode hot path).
 *
 * HC_TOK_HEAP(name, type, before) defines struct name { type *v; size_t n, cap; } and
 * name_push() / name_pop(); before(a, b) is true when *a comes out before *b. Start from
 * a zeroed struct, empty it by setting .n = 0, release it with free(.v).
 */
#ifndef HC_TOK_HEAP_H
#define HC_TOK_HEAP_H

#include <errno.h>
#include <stddef.h>
#include <stdlib.h>

#define HC_TOK_HEAP(name, type, before)							\
struct name {										\
	type *v;									\
	size_t n, cap;									\
};											\
											\
/* 0 or -ENOMEM. */									\
static inline int name##_push(struct name *h, type x)					\
{											\
	size_t i;									\
											\
	if (h->n == h->cap) {								\
		size_t cap = h->cap ? 2 * h->cap : 64;					\
		type *v = realloc(h->v, cap * sizeof(*v));				\
											\
		if (!v)									\
			return -ENOMEM;							\
		h->v = v;								\
		h->cap = cap;								\
	}										\
	for (i = h->n++; i && before(&x, &h->v[(i - 1) / 2]); i = (i - 1) / 2)		\
		h->v[i] = h->v[(i - 1) / 2];						\
	h->v[i] = x;									\
	return 0;									\
}											\
											\
/* The first element; the heap must not be empty. */					\
static inline type name##_pop(struct name *h)						\
{											\
	type top = h->v[0], x = h->v[--h->n];						\
	size_t i = 0;									\
											\
	for (;;) {									\
		size_t c = 2 * i + 1;							\
											\
		if (c >= h->n)								\
			break;								\
		if (c + 1 < h->n && before(&h->v[c + 1], &h->v[c]))			\
			c++;								\
		if (!before(&h->v[c], &x))						\
			break;								\
		h->v[i] = h->v[c];							\
		i = c;									\
	}										\
	if (h->n)									\
		h->v[i] = x;								\
	return top;									\
}

#endif
