/* SPDX-License-Identifier: MIT */
/*
 * A fixed pool of persistent worker threads. hc_pool_run() hands one job to every thread
 * (the caller is thread 0) and returns when all are done: a barrier per dispatch. A job
 * splits its work by (thread index, thread count), or hands out items that each thread
 * computes whole; either way, results never depend on timing.
 */
#ifndef HC_EMU_THREADPOOL_H
#define HC_EMU_THREADPOOL_H

struct hc_pool;

/* @fn is called once per thread with its index in [0, n) and n. */
typedef void (*hc_pool_fn)(void *arg, int ti, int nt);

/* A pool of @n_threads >= 1 (n_threads - 1 workers are started). Negative errno on error. */
int hc_pool_new(int n_threads, struct hc_pool **out);
/* Stops and joins the workers. NULL is fine. */
void hc_pool_free(struct hc_pool *p);
int hc_pool_size(const struct hc_pool *p);
/* Run @fn on every thread and wait for all of them. Not reentrant: one dispatch at a time. */
void hc_pool_run(struct hc_pool *p, hc_pool_fn fn, void *arg);

/* The contiguous share [*lo, *hi) of @n items for thread @ti of @nt. */
static inline void hc_split(unsigned long n, int ti, int nt, unsigned long *lo, unsigned long *hi)
{
	*lo = n * (unsigned long)ti / (unsigned long)nt;
	*hi = n * (unsigned long)(ti + 1) / (unsigned long)nt;
}

#endif
