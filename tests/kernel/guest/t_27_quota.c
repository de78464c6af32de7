// SPDX-License-Identifier: MIT
/*
 * Quotas (defect 8 of driver v2; at 27ebc51 there were none, and the per-file context limit
 * was checked outside the lock and escaped by opening the node again):
 *  - max_contexts_per_process counts a process's contexts over all its files: a second file
 *    of the same process gets -EMFILE, another process still gets its contexts;
 *  - max_mem_per_file_kb and max_mem_per_process_kb bound the card memory of streams: beyond
 *    them STREAM_CREATE is -EDQUOT, for the file or the whole process, while another process
 *    still gets its streams; freeing one makes room again;
 *  - threads of one file racing CTX_CREATE never hold more than the per-file limit.
 */
#include <pthread.h>
#include <sys/wait.h>
#include "ktest.h"

#define P "/sys/module/hc_accel/parameters/"

static int fd_race;
static volatile int race_go;
static int race_created[4];

static void *race_creator(void *arg)
{
	int *n = arg;

	while (!race_go)
		;
	for (int i = 0; i < 64; i++) {
		struct drm_hc_ctx_create a = { .sq_entries = 1 };

		if (ioctl(fd_race, DRM_IOCTL_HC_CTX_CREATE, &a) == 0)
			(*n)++;
	}
	return NULL;
}

/* In a child process: can it create a context and a 64 KiB stream? 0 if both work. */
static int other_process_works(void)
{
	pid_t pid = fork();
	int status = 0;

	if (pid == 0) {
		struct kt_ctx c;
		struct kt_stream s;
		int fd = kt_open(NULL, 0);

		_exit(fd < 0 || kt_ctx_create(fd, &c, 4) || kt_stream_create(fd, &s, 16384) ? 1 : 0);
	}
	return pid > 0 && waitpid(pid, &status, 0) == pid && WIFEXITED(status) ?
	       WEXITSTATUS(status) : -1;
}

int main(void)
{
	struct drm_hc_ctx_create a = { .sq_entries = 4 };
	struct drm_hc_stream_create sc;
	struct drm_hc_info info;
	struct kt_ctx c1, c2;
	struct kt_stream s[8];
	char sysdir[512], buf[32];
	int fd1, fd2, i, n, total;
	pthread_t th[4];

	fd1 = kt_open(sysdir, sizeof(sysdir));
	fd2 = kt_open(NULL, 0);
	if (fd1 < 0 || fd2 < 0)
		return 1;
	KT_CHECK(kt_read_file(P "max_contexts_per_process", buf, sizeof(buf)) == 0 &&
		 kt_read_file(P "max_mem_per_file_kb", buf, sizeof(buf)) == 0 &&
		 kt_read_file(P "max_mem_per_process_kb", buf, sizeof(buf)) == 0,
		 "quota parameters exist");

	/* Contexts per process, over two files. */
	KT_CHECK(kt_write_file(P "max_contexts_per_process", "2") == 0, "2 contexts per process");
	KT_CHECK(kt_ctx_create(fd1, &c1, 4) == 0 && kt_ctx_create(fd2, &c2, 4) == 0,
		 "one context in each of two files");
	KT_ERRNO(fd1, DRM_IOCTL_HC_CTX_CREATE, &a, EMFILE, "a third in the first file");
	KT_ERRNO(fd2, DRM_IOCTL_HC_CTX_CREATE, &a, EMFILE, "a third in the second file");
	KT_CHECK(other_process_works() == 0, "another process creates a context and a stream");
	KT_CHECK(kt_ctx_destroy(&c2) == 0 && kt_ctx_create(fd1, &c2, 4) == 0,
		 "destroying one makes room");
	kt_ctx_destroy(&c2);
	kt_ctx_destroy(&c1);
	KT_CHECK(kt_write_file(P "max_contexts_per_process", "0") == 0, "limit back to the card's");

	/* Card memory per file: 64 KiB streams (16384 entries: 64 KiB + a page). */
	KT_CHECK(kt_write_file(P "max_mem_per_file_kb", "200") == 0, "200 KiB per file");
	for (n = 0; n < 8 && kt_stream_create(fd1, &s[n], 16384) == 0; n++)
		;
	KT_CHECK(n == 2 && errno == EDQUOT, "2 streams of 68 KiB fit, the third is %s",
		 strerror(errno));
	sc = (struct drm_hc_stream_create){ .entries = 16384 };
	KT_CHECK(ioctl(fd2, DRM_IOCTL_HC_STREAM_CREATE, &sc) == 0,
		 "the process's other file has its own quota");
	{
		struct drm_gem_close gc = { .handle = sc.handle };

		ioctl(fd2, DRM_IOCTL_GEM_CLOSE, &gc);
	}
	kt_stream_destroy(&s[--n]);
	KT_CHECK(kt_stream_create(fd1, &s[n], 16384) == 0, "freeing one makes room");
	n++;
	while (n > 0)
		kt_stream_destroy(&s[--n]);
	KT_CHECK(kt_write_file(P "max_mem_per_file_kb", "0") == 0, "no file limit");

	/* Card memory per process, over both files. */
	KT_CHECK(kt_write_file(P "max_mem_per_process_kb", "300") == 0, "300 KiB per process");
	total = 0;
	for (i = 0; i < 8; i++) {
		if (kt_stream_create(i % 2 ? fd2 : fd1, &s[i], 16384))
			break;
		total++;
	}
	KT_CHECK(total == 4 && errno == EDQUOT, "4 streams over two files fit, the fifth is %s",
		 strerror(errno));
	KT_CHECK(other_process_works() == 0, "another process still gets a context and a stream");
	while (total > 0)
		kt_stream_destroy(&s[--total]);
	KT_CHECK(kt_write_file(P "max_mem_per_process_kb", "0") == 0, "no process limit");

	/* The per-file limit under racing threads. */
	KT_CHECK(ioctl(fd1, DRM_IOCTL_HC_GET_INFO, &info) == 0, "GET_INFO");
	fd_race = kt_open(NULL, 0);
	for (i = 0; i < 4; i++)
		pthread_create(&th[i], NULL, race_creator, &race_created[i]);
	race_go = 1;
	for (i = 0, total = 0; i < 4; i++) {
		pthread_join(th[i], NULL);
		total += race_created[i];
	}
	KT_CHECK(total == (int)info.max_contexts, "4 racing threads created %d contexts in one file "
		 "(limit %u)", total, info.max_contexts);
	close(fd_race);
	KT_CHECK(kt_counter_wait(sysdir, "contexts_open", 0, KT_EVENT_MS) == 0,
		 "closing the file closed them");
	printf("  info card memory in use: %lld\n", kt_counter(sysdir, "mem_used_bytes"));
	close(fd2);
	close(fd1);
	return kt_exit();
}
