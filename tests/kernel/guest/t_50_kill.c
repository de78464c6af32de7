// SPDX-License-Identifier: MIT
/*
 * A process killed mid-stream leaves nothing behind: its contexts are closed on the card,
 * its jobs are gone and its stream memory is freed, host memory the card writes by DMA or
 * card memory (sysfs counters back to where they were),
 * and the card keeps working for others.
 */
#include <signal.h>
#include <sys/wait.h>
#include "ktest.h"
#include "decode_case.h"

int main(void)
{
	char sysdir[512];
	long long mem0, host0, ctx0, card0;
	int pfd[2], fd, status;
	pid_t pid;
	char b;

	fd = kt_open(sysdir, sizeof(sysdir));
	if (fd < 0)
		return 1;
	close(fd);
	mem0 = kt_counter(sysdir, "mem_used_bytes");
	host0 = kt_counter(sysdir, "host_mem_used_bytes");
	ctx0 = kt_counter(sysdir, "contexts_open");
	card0 = kt_counter(sysdir, "contexts_in_use");
	KT_CHECK(mem0 > 0 && ctx0 == 0, "baseline: %lld bytes of card memory, %lld contexts",
		 mem0, ctx0);

	if (pipe(pfd))
		return 1;
	pid = fork();
	if (pid == 0) {
		struct kt_ctx c[3];
		struct kt_stream s[3];
		int i, cfd = kt_open(sysdir, sizeof(sysdir));

		for (i = 0; i < 3; i++) {
			if (kt_ctx_create(cfd, &c[i], 4) || kt_stream_create(cfd, &s[i], 16))
				_exit(3);
			kt_prefill(&c[i], decode_case_prompt, DECODE_CASE_PROMPT_LEN, 1);
			/* Nobody reads the 16-entry ring: the card fills it and waits. */
			kt_decode(&c[i], &s[i], 100000, 2);
		}
		while (hc_ring_load_acquire(&s[2].r.hdr->tail) < 16)
			usleep(1000);
		if (write(pfd[1], "x", 1) != 1)
			_exit(4);
		pause();
		_exit(0);
	}
	close(pfd[1]);
	KT_CHECK(read(pfd[0], &b, 1) == 1, "child has 3 contexts with decodes mid-stream");
	KT_CHECK(kt_counter(sysdir, "contexts_open") == 3, "3 contexts open");
	KT_CHECK(kt_counter(sysdir, "mem_used_bytes") + kt_counter(sysdir, "host_mem_used_bytes") >
		 mem0 + host0, "its streams use memory (host %lld, card %lld bytes)",
		 kt_counter(sysdir, "host_mem_used_bytes") - host0,
		 kt_counter(sysdir, "mem_used_bytes") - mem0);
	kill(pid, SIGKILL);
	waitpid(pid, &status, 0);
	KT_CHECK(WIFSIGNALED(status), "child killed");

	KT_CHECK(kt_counter_wait(sysdir, "contexts_open", 0, KT_EVENT_MS) == 0, "contexts_open back to 0");
	KT_CHECK(kt_counter_wait(sysdir, "jobs_inflight", 0, KT_EVENT_MS) == 0, "no jobs in flight");
	KT_CHECK(kt_counter_wait(sysdir, "mem_used_bytes", mem0, KT_EVENT_MS) == mem0,
		 "card memory back to %lld bytes", mem0);
	KT_CHECK(kt_counter_wait(sysdir, "host_mem_used_bytes", host0, KT_EVENT_MS) == host0,
		 "host memory back to %lld bytes", host0);
	KT_CHECK(kt_counter_wait(sysdir, "contexts_in_use", card0, KT_EVENT_MS) == card0,
		 "card contexts_in_use back to %lld", card0);

	/* The card still works. */
	{
		struct kt_ctx c;
		struct kt_stream s;
		struct drm_hc_cqe cqe;
		uint32_t ids[8];

		fd = kt_open(sysdir, sizeof(sysdir));
		KT_CHECK(kt_ctx_create(fd, &c, 4) == 0 && kt_stream_create(fd, &s, 16) == 0,
			 "new context afterwards");
		kt_prefill(&c, decode_case_prompt, DECODE_CASE_PROMPT_LEN, 1);
		kt_decode(&c, &s, 8, 2);
		KT_CHECK(kt_stream_read(&c, &s, ids, 8, KT_EVENT_MS) == 8, "and it decodes");
		kt_wait_cqe(&c, &cqe, KT_EVENT_MS);
		kt_wait_cqe(&c, &cqe, KT_EVENT_MS);
		kt_stream_destroy(&s);
		kt_ctx_destroy(&c);
		close(fd);
	}
	return kt_exit();
}
