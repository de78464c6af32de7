// SPDX-License-Identifier: MIT
/*
 * The heartbeat thread: every EMUD_HEARTBEAT_MS it bumps each live function's heartbeat
 * (not a stalled one: that is how a hang looks to the driver) and mirrors the card-wide
 * telemetry, with a simulated temperature and power that follow the load, into every
 * register page. It runs beside the scheduler so a long forward pass never looks like a hang;
 * but if the main loop itself is wedged (not iterating, not waiting, not in a forward pass)
 * for EMUD_WEDGED_MS, the heartbeat stops, as real firmware's would.
 */
#include <errno.h>
#include <string.h>
#include <time.h>
#include "emud.h"

#define IDLE_POWER_UW	 20000000.0	/* 20 W */
#define LOAD_POWER_UW	 55000000.0	/* +55 W at full load */
#define AMBIENT_MC	 35000.0	/* 35 C idle */
#define MC_PER_W	 700.0		/* +0.7 C per watt above idle */
#define POWER_TAU_S	 0.2
#define TEMP_TAU_S	 3.0

struct emud_sim {
	uint64_t last_ns, last_busy;
	double power_uw, temp_mc, energy_uj;
};

static void copy_telemetry(struct emud_fn *fn, const struct hc_card_telemetry *t)
{
	__u64 *dst = (__u64 *)&fn->regs->telemetry;
	const __u64 *src = (const __u64 *)t;
	size_t i;

	for (i = 0; i < sizeof(*t) / 8; i++)
		hc_ring_store64(&dst[i], src[i]);
}

void emud_card_add_fn(struct emud_card *card, struct emud_fn *fn)
{
	pthread_mutex_lock(&card->lock);
	copy_telemetry(fn, &card->snap);	/* valid from the first read, not the first tick */
	fn->next = card->fns;
	card->fns = fn;
	pthread_mutex_unlock(&card->lock);
	emud_count(&card->cnt.functions_active, 1);
}

void emud_card_remove_fn(struct emud_card *card, struct emud_fn *fn)
{
	struct emud_fn **pp;

	pthread_mutex_lock(&card->lock);
	for (pp = &card->fns; *pp; pp = &(*pp)->next) {
		if (*pp == fn) {
			*pp = fn->next;
			break;
		}
	}
	pthread_mutex_unlock(&card->lock);
	__atomic_fetch_sub(&card->cnt.functions_active, 1, __ATOMIC_RELAXED);
}

static void sim_update(struct emud_card *card, struct emud_sim *s, uint64_t now)
{
	uint64_t busy = __atomic_load_n(&card->cnt.busy_ns, __ATOMIC_RELAXED);
	double dt = (now - s->last_ns) / 1e9, util, target_p, target_t;

	if (dt <= 0)
		return;
	/* busy time is added after each forward pass, so a window may see more than 100% */
	util = (double)(busy - s->last_busy) / 1e9 / dt;
	if (util > 1)
		util = 1;
	target_p = IDLE_POWER_UW + LOAD_POWER_UW * util;
	s->power_uw += (target_p - s->power_uw) * (dt / (POWER_TAU_S + dt));
	target_t = AMBIENT_MC + MC_PER_W * (s->power_uw - IDLE_POWER_UW) / 1e6;
	s->temp_mc += (target_t - s->temp_mc) * (dt / (TEMP_TAU_S + dt));
	s->energy_uj += s->power_uw * dt;
	s->last_ns = now;
	s->last_busy = busy;
}

static void mirror(struct emud_card *card, const struct emud_sim *s, uint64_t now, bool alive)
{
	struct hc_card_telemetry t;
	struct emud_fn *fn;

	memset(&t, 0, sizeof(t));
	t.tokens_generated = __atomic_load_n(&card->cnt.tokens_generated, __ATOMIC_RELAXED);
	t.prompt_tokens = __atomic_load_n(&card->cnt.prompt_tokens, __ATOMIC_RELAXED);
	t.jobs_completed = __atomic_load_n(&card->cnt.jobs_completed, __ATOMIC_RELAXED);
	t.jobs_failed = __atomic_load_n(&card->cnt.jobs_failed, __ATOMIC_RELAXED);
	t.busy_ns = __atomic_load_n(&card->cnt.busy_ns, __ATOMIC_RELAXED);
	t.contexts_in_use = __atomic_load_n(&card->cnt.contexts_in_use, __ATOMIC_RELAXED);
	t.temperature_mc = (uint64_t)s->temp_mc;
	t.power_uw = (uint64_t)s->power_uw;
	t.energy_uj = (uint64_t)s->energy_uj;
	t.uptime_ns = now - card->start_ns;
	t.functions_active = __atomic_load_n(&card->cnt.functions_active, __ATOMIC_RELAXED);

	pthread_mutex_lock(&card->lock);
	card->snap = t;
	for (fn = card->fns; fn; fn = fn->next) {
		copy_telemetry(fn, &t);
		if (alive && !__atomic_load_n(&fn->stalled, __ATOMIC_RELAXED))
			hc_ring_store64(&fn->regs->heartbeat, ++fn->heartbeat);
	}
	pthread_mutex_unlock(&card->lock);
}

static void *hb_main(void *arg)
{
	struct emud_card *card = arg;
	struct emud_sim s = { .power_uw = IDLE_POWER_UW, .temp_mc = AMBIENT_MC };
	struct timespec ts = { 0, EMUD_HEARTBEAT_MS * 1000000L };

	uint64_t last_iter = 0, last_alive;
	bool wedged = false;

	s.last_ns = last_alive = emud_now_ns();
	s.last_busy = __atomic_load_n(&card->cnt.busy_ns, __ATOMIC_RELAXED);
	while (!__atomic_load_n(&card->hb_stop, __ATOMIC_RELAXED)) {
		uint64_t now = emud_now_ns();
		uint64_t iter = __atomic_load_n(&card->loop_iter, __ATOMIC_RELAXED);

		if (iter != last_iter || __atomic_load_n(&card->loop_waiting, __ATOMIC_RELAXED) ||
		    __atomic_load_n(&card->in_forward, __ATOMIC_RELAXED))
			last_alive = now;
		last_iter = iter;
		if ((now - last_alive) / 1000000 >= EMUD_WEDGED_MS) {
			if (!wedged)
				emud_warn("main loop stuck for %d ms: heartbeat stopped", EMUD_WEDGED_MS);
			wedged = true;
		} else if (wedged) {
			emud_notice("main loop running again: heartbeat resumed");
			wedged = false;
		}
		sim_update(card, &s, now);
		mirror(card, &s, now, !wedged);
		nanosleep(&ts, NULL);
	}
	return NULL;
}

int emud_heartbeat_start(struct emud_card *card)
{
	int rc;

	card->snap.temperature_mc = (uint64_t)AMBIENT_MC;	/* a cold, idle card */
	card->snap.power_uw = (uint64_t)IDLE_POWER_UW;
	rc = pthread_create(&card->hb_thread, NULL, hb_main, card);

	if (rc)
		return -rc;
	card->hb_running = true;
	return 0;
}

void emud_heartbeat_stop(struct emud_card *card)
{
	if (!card->hb_running)
		return;
	__atomic_store_n(&card->hb_stop, 1, __ATOMIC_RELAXED);
	pthread_join(card->hb_thread, NULL);
	card->hb_running = false;
}
