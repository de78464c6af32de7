// SPDX-License-Identifier: MIT
/*
 * One process cannot take the card's queue from the others, and destroying a context whose
 * jobs fill the queue never frees card memory the card still writes (defect 2 of driver v2;
 * at 27ebc51 one context could hold 8191 jobs, a full queue made CONTEXT_CLOSE fail with
 * -EBUSY, and the driver then freed the context's streams while the card kept its jobs).
 *
 *  - a context may have max_jobs_per_context jobs in flight; SUBMIT beyond it is -EBUSY;
 *  - with that limit lifted, one context fills the driver's whole queue: another file can
 *    still create a context and cancel (the driver keeps slots for its own jobs), and
 *    destroying the full context completes every job and closes it on the card: a stream
 *    made afterwards from the same card memory receives no stray token, and the card holds
 *    only the contexts that are open;
 *  - a process that floods the queue and exits without cleaning up leaves nothing behind;
 *  - with the card stalled (it takes nothing from its SQ ring), a flood still leaves SQ
 *    entries for the driver's own jobs: another file's CTX_CREATE is queued and works once
 *    the card runs again (a card slow under load showed this: the flood filled the SQ).
 */
#include <pthread.h>
#include <sys/wait.h>
#include "ktest.h"
#include "decode_case.h"

#define PARAM "/sys/module/hc_accel/parameters/max_jobs_per_context"
#define FLOOD 1000

/*
 * A prefill then decodes on @s, submitted 128 at a time (the card takes the SQ's entries into
 * its own queue after each doorbell) until the driver refuses one; returns how many went.
 */
static int flood(struct kt_ctx *c, struct kt_stream *s, int n)
{
	struct drm_hc_job j;
	int i = 0, taken = 0;

	while (i < n) {
		struct drm_hc_submit sub = { .ctx_handle = c->handle };
		int batch = 0;

		for (; i < n && batch < 128; i++, batch++) {
			memset(&j, 0, sizeof(j));
			j.user_data = 1 + (uint64_t)i;
			if (i == 0) {
				j.opcode = DRM_HC_OP_PREFILL;
				j.prefill.tokens_ptr = (uintptr_t)decode_case_prompt;
				j.prefill.n_tokens = DECODE_CASE_PROMPT_LEN;
			} else {
				j.opcode = DRM_HC_OP_DECODE;
				j.decode.stream_handle = s->handle;
				/* the 1-entry stream is never read: runs until cancelled */
				j.decode.max_tokens = 1000000;
			}
			memcpy(hc_ring_prod_entry(&c->sq, 0), &j, sizeof(j));
			hc_ring_prod_publish(&c->sq, 1);
		}
		ioctl(c->fd, DRM_IOCTL_HC_SUBMIT, &sub);
		taken += (int)sub.submitted;
		if ((int)sub.submitted < batch) {
			/* refused (-EBUSY): take the rest back */
			c->sq.local = hc_ring_load_acquire(&c->sq.hdr->head);
			hc_ring_store_release(&c->sq.hdr->tail, c->sq.local);
			break;
		}
	}
	return taken;
}

/* A context with a 1024-entry submission ring (and 2048 completions). */
static int ctx_big(int fd, struct kt_ctx *c)
{
	return kt_ctx_create_cq(fd, c, 1024, 2048);
}

/* A stalled card takes nothing from its SQ: a flood fills the SQ ring itself. */
static int create_rc = 1;
static int create_fd;

static void *creator(void *arg)
{
	struct drm_hc_ctx_create a = { .sq_entries = 4 };

	(void)arg;
	create_rc = ioctl(create_fd, DRM_IOCTL_HC_CTX_CREATE, &a) ? errno : 0;
	if (!create_rc) {
		struct drm_hc_ctx_destroy d = { .handle = a.handle };

		ioctl(create_fd, DRM_IOCTL_HC_CTX_DESTROY, &d);
	}
	return NULL;
}

static void stalled_card(int fda, int fdb, long limit)
{
	char dbg[512], path[600];
	struct kt_ctx a;
	struct kt_stream sa;
	pthread_t th;
	int n;

	KT_CHECK(kt_debugfs(dbg, sizeof(dbg)) == 0, "debugfs at %s", dbg);
	snprintf(path, sizeof(path), "%s/fault_stall", dbg);
	KT_CHECK(kt_ctx_create_cq(fda, &a, 1024, 2048) == 0 && kt_stream_create(fda, &sa, 1) == 0,
		 "context again");
	/* no hang recovery while it is stalled on purpose, however slow this guest runs */
	KT_CHECK(kt_write_file("/sys/module/hc_accel/parameters/hang_timeout_ms", "600000") == 0,
		 "hang_timeout_ms 600000");
	KT_CHECK(kt_write_file(path, "1") == 0, "card stalled: it takes nothing from its SQ");
	n = flood(&a, &sa, FLOOD);
	KT_CHECK(n > 2 * limit && n < FLOOD, "%d jobs taken before the SQ had no room for them", n);
	create_fd = fdb;
	pthread_create(&th, NULL, creator, NULL);	/* its open waits for the card */
	usleep(200000);	/* ordering only: the open is queued, or about to be */
	KT_CHECK(kt_write_file(path, "0") == 0, "card runs again");
	kt_write_file("/sys/module/hc_accel/parameters/hang_timeout_ms", "2000");
	pthread_join(th, NULL);
	KT_CHECK(create_rc == 0, "another file's CTX_CREATE queued behind the flood and worked (%s)",
		 create_rc ? strerror(create_rc) : "ok");
	kt_stream_destroy(&sa);
	KT_CHECK(kt_ctx_destroy(&a) == 0, "flooded context destroyed");
}

int main(void)
{
	char sysdir[512], param[32];
	struct kt_ctx a, b, b2;
	struct kt_stream sa, s2, s3;
	struct drm_hc_cancel cn;
	struct drm_hc_cqe cqe;
	uint32_t ids[4];
	long limit;
	int fda, fdb, n, i, done, cancelled;

	fda = kt_open(sysdir, sizeof(sysdir));
	fdb = kt_open(NULL, 0);
	if (fda < 0 || fdb < 0)
		return 1;
	KT_CHECK(kt_read_file(PARAM, param, sizeof(param)) == 0, "%s exists (%s)", PARAM,
		 param);
	limit = strtol(param, NULL, 10);

	/* The per-context limit. */
	KT_CHECK(ctx_big(fda, &a) == 0 && kt_stream_create(fda, &sa, 1) == 0,
		 "context with a 1024-entry ring and a 1-entry stream");
	n = flood(&a, &sa, FLOOD);
	/* +1: the prefill may complete while the decodes are being submitted */
	KT_CHECK(n >= limit && n <= limit + 1, "%d of %d jobs taken (limit %ld per context)", n,
		 FLOOD, limit);
	kt_stream_destroy(&sa);
	KT_CHECK(kt_ctx_destroy(&a) == 0, "destroyed");

	/* No limit: one context fills the driver's queue. */
	KT_CHECK(kt_write_file(PARAM, "1000000") == 0, "limit lifted");
	KT_CHECK(ctx_big(fda, &a) == 0 && kt_stream_create(fda, &sa, 1) == 0, "context again");
	n = flood(&a, &sa, FLOOD);
	KT_CHECK(n > 2 * limit && n < FLOOD, "%d of %d jobs taken: the queue is full", n, FLOOD);
	KT_CHECK(kt_ctx_create(fdb, &b, 4) == 0, "another file creates a context meanwhile");
	cn = (struct drm_hc_cancel){ .ctx_handle = b.handle };
	KT_CHECK(ioctl(fdb, DRM_IOCTL_HC_CANCEL, &cn) == 0, "and cancels");

	/* Destroy the full context without reading its stream: every job completes. */
	kt_stream_destroy(&sa);	/* the handle goes; the jobs still hold the stream */
	{
		struct drm_hc_ctx_destroy d = { .handle = a.handle };

		KT_CHECK(ioctl(fda, DRM_IOCTL_HC_CTX_DESTROY, &d) == 0, "full context destroyed");
	}
	done = cancelled = 0;
	while (hc_ring_cons_avail(&a.cq) > 0) {
		memcpy(&cqe, hc_ring_cons_entry(&a.cq, 0), sizeof(cqe));
		hc_ring_cons_release(&a.cq, 1);
		done++;
		if (cqe.status == HC_STATUS_CANCELLED)
			cancelled++;
	}
	KT_CHECK(done == n, "%d completions for %d jobs (%d cancelled by the card)", done, n,
		 cancelled);
	printf("  info resets so far: %lld\n", kt_counter(sysdir, "resets"));
	munmap(a.map, a.map_size);

	/* Card memory of the old stream, reused: the card must not write into it. */
	KT_CHECK(kt_stream_create(fdb, &s2, 1) == 0, "new 1-entry stream in another file");
	KT_CHECK(kt_ctx_create(fdb, &b2, 4) == 0 && kt_stream_create(fdb, &s3, 16) == 0,
		 "a context decoding elsewhere");
	kt_prefill(&b2, decode_case_prompt, DECODE_CASE_PROMPT_LEN, 1);
	kt_decode(&b2, &s3, 4, 2);
	KT_CHECK(kt_stream_read(&b2, &s3, ids, 4, KT_EVENT_MS) == 4, "4 tokens decoded");
	for (i = 0; i < 2; i++)
		KT_CHECK(kt_wait_cqe(&b2, &cqe, KT_EVENT_MS) == 0, "completion %d", i);
	KT_CHECK(hc_ring_load_acquire(&s2.r.hdr->tail) == 0,
		 "the new stream received no stray token (tail %u)",
		 hc_ring_load_acquire(&s2.r.hdr->tail));
	KT_CHECK(kt_counter_wait(sysdir, "contexts_in_use", 2, KT_EVENT_MS) == 2,
		 "the card holds exactly the 2 open contexts (%lld)",
		 kt_counter(sysdir, "contexts_in_use"));

	/* A process that floods the queue and exits without destroying anything. */
	{
		pid_t pid = fork();
		int status = -1;

		if (pid == 0) {
			struct kt_ctx x;
			struct kt_stream xs;
			int fdx = kt_open(NULL, 0);

			if (fdx < 0 || ctx_big(fdx, &x) || kt_stream_create(fdx, &xs, 1))
				_exit(1);
			_exit(flood(&x, &xs, FLOOD) > 2 * limit ? 0 : 2);
		}
		KT_CHECK(pid > 0 && waitpid(pid, &status, 0) == pid && WIFEXITED(status) &&
			 WEXITSTATUS(status) == 0, "a process flooded the queue and exited (%#x)",
			 status);
		KT_CHECK(kt_counter_wait(sysdir, "contexts_in_use", 2, KT_EVENT_MS) == 2,
			 "its context is closed on the card (%lld in use)",
			 kt_counter(sysdir, "contexts_in_use"));
		KT_CHECK(kt_counter_wait(sysdir, "jobs_inflight", 0, KT_EVENT_MS) == 0,
			 "its jobs are gone (%lld in flight)", kt_counter(sysdir, "jobs_inflight"));
	}

	stalled_card(fda, fdb, limit);

	KT_CHECK(kt_write_file(PARAM, param) == 0, "limit restored to %s", param);
	kt_stream_destroy(&s2);
	kt_stream_destroy(&s3);
	kt_ctx_destroy(&b2);
	kt_ctx_destroy(&b);
	KT_CHECK(kt_counter_wait(sysdir, "jobs_inflight", 0, KT_EVENT_MS) == 0,
		 "nothing left in flight");
	close(fda);
	close(fdb);
	return kt_exit();
}
