// SPDX-License-Identifier: MIT
/*
 * Persistent workers. A dispatch bumps a generation counter; workers spin briefly on it
 * (dispatches come back to back during a forward pass) and then sleep on a condition
 * variable, so an idle pool costs no CPU.
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include "threadpool.h"

#define SPIN_ITERS 2000	/* ~10-100 us of pause: a forward pass dispatches back to back */

struct hc_pool {
	int n;
	pthread_t *threads;
	pthread_mutex_t lock;
	pthread_cond_t wake;		/* workers wait for a new generation */
	pthread_cond_t done_cv;		/* the caller waits for pending == 0 */
	atomic_uint gen;
	atomic_int pending;
	atomic_int stop;
	hc_pool_fn fn;
	void *arg;
};

struct worker_arg {
	struct hc_pool *p;
	int ti;
};

static inline void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#endif
}

static void *worker(void *varg)
{
	struct worker_arg wa = *(struct worker_arg *)varg;
	struct hc_pool *p = wa.p;
	unsigned seen = 0;

	free(varg);
	for (;;) {
		unsigned g;
		int i;

		for (i = 0; i < SPIN_ITERS; i++) {
			g = atomic_load_explicit(&p->gen, memory_order_acquire);
			if (g != seen || atomic_load(&p->stop))
				break;
			cpu_relax();
		}
		if (i == SPIN_ITERS) {
			pthread_mutex_lock(&p->lock);
			while ((g = atomic_load(&p->gen)) == seen && !atomic_load(&p->stop))
				pthread_cond_wait(&p->wake, &p->lock);
			pthread_mutex_unlock(&p->lock);
		}
		if (atomic_load(&p->stop))
			return NULL;
		seen = g;
		p->fn(p->arg, wa.ti, p->n);
		if (atomic_fetch_sub_explicit(&p->pending, 1, memory_order_acq_rel) == 1) {
			pthread_mutex_lock(&p->lock);
			pthread_cond_signal(&p->done_cv);
			pthread_mutex_unlock(&p->lock);
		}
	}
}

int hc_pool_new(int n_threads, struct hc_pool **out)
{
	struct hc_pool *p;
	int i, rc;

	*out = NULL;
	if (n_threads < 1 || n_threads > 1024)
		return -EINVAL;
	p = calloc(1, sizeof(*p));
	if (!p)
		return -ENOMEM;
	p->n = n_threads;
	pthread_mutex_init(&p->lock, NULL);
	pthread_cond_init(&p->wake, NULL);
	pthread_cond_init(&p->done_cv, NULL);
	p->threads = calloc((size_t)n_threads, sizeof(*p->threads));
	if (!p->threads) {
		hc_pool_free(p);
		return -ENOMEM;
	}
	for (i = 1; i < n_threads; i++) {
		struct worker_arg *wa = malloc(sizeof(*wa));

		if (!wa) {
			p->n = i;
			hc_pool_free(p);
			return -ENOMEM;
		}
		wa->p = p;
		wa->ti = i;
		rc = pthread_create(&p->threads[i], NULL, worker, wa);
		if (rc) {
			free(wa);
			p->n = i;
			hc_pool_free(p);
			return -rc;
		}
	}
	*out = p;
	return 0;
}

void hc_pool_free(struct hc_pool *p)
{
	int i;

	if (!p)
		return;
	pthread_mutex_lock(&p->lock);
	atomic_store(&p->stop, 1);
	pthread_cond_broadcast(&p->wake);
	pthread_mutex_unlock(&p->lock);
	for (i = 1; i < p->n && p->threads; i++)
		pthread_join(p->threads[i], NULL);
	pthread_cond_destroy(&p->wake);
	pthread_cond_destroy(&p->done_cv);
	pthread_mutex_destroy(&p->lock);
	free(p->threads);
	free(p);
}

int hc_pool_size(const struct hc_pool *p)
{
	return p->n;
}

void hc_pool_run(struct hc_pool *p, hc_pool_fn fn, void *arg)
{
	int i;

	if (p->n == 1) {
		fn(arg, 0, 1);
		return;
	}
	p->fn = fn;
	p->arg = arg;
	atomic_store(&p->pending, p->n - 1);
	pthread_mutex_lock(&p->lock);
	atomic_fetch_add_explicit(&p->gen, 1, memory_order_release);
	pthread_cond_broadcast(&p->wake);
	pthread_mutex_unlock(&p->lock);

	fn(arg, 0, p->n);

	for (i = 0; i < SPIN_ITERS; i++) {
		if (atomic_load_explicit(&p->pending, memory_order_acquire) == 0)
			return;
		cpu_relax();
	}
	pthread_mutex_lock(&p->lock);
	while (atomic_load(&p->pending) != 0)
		pthread_cond_wait(&p->done_cv, &p->lock);
	pthread_mutex_unlock(&p->lock);
}
