// SPDX-License-Identifier: MIT
/*
 * A SUBMIT whose prompt pointer faults forever holds no lock that others need (defect 6 of
 * driver v2; at 27ebc51 SUBMIT copied the prompt under reset_lock, so recovery's down_write,
 * and then every other user, waited for the fault).
 *
 * The prompt lies in a userfaultfd-registered page nobody resolves. While the SUBMIT sits in
 * that fault, another thread forces a card reset (debugfs force_recovery) and another file
 * decodes: both must finish. Then the page is filled: the SUBMIT returns -ECANCELED (its
 * context was lost in the reset), having queued nothing.
 */
#include <poll.h>
#include <pthread.h>
#include <sys/syscall.h>
#include <linux/userfaultfd.h>
#include "ktest.h"
#include "decode_case.h"

static struct kt_ctx c;
static void *prompt_page;
static int submit_rc = 1, recover_rc = 1;
static volatile int recover_done;
static char dbg[512];

static void *submitter(void *arg)
{
	(void)arg;
	submit_rc = kt_prefill(&c, prompt_page, 4, 7);
	return NULL;
}

static void *recoverer(void *arg)
{
	char path[600];

	(void)arg;
	snprintf(path, sizeof(path), "%s/force_recovery", dbg);
	recover_rc = kt_write_file(path, "1");
	__atomic_store_n(&recover_done, 1, __ATOMIC_RELEASE);
	return NULL;
}

int main(void)
{
	struct uffdio_api api = { .api = UFFD_API };
	struct uffdio_register reg;
	struct uffdio_zeropage zp;
	struct pollfd pfd;
	char sysdir[512];
	pthread_t ts, tr;
	long page = sysconf(_SC_PAGESIZE);
	int64_t t0, waited;
	int fd, fd2, uffd;

	fd = kt_open(sysdir, sizeof(sysdir));
	fd2 = kt_open(NULL, 0);
	if (fd < 0 || fd2 < 0)
		return 1;
	KT_CHECK(kt_debugfs(dbg, sizeof(dbg)) == 0, "debugfs at %s", dbg);
	uffd = (int)syscall(__NR_userfaultfd, O_CLOEXEC | O_NONBLOCK);
	if (uffd < 0 || ioctl(uffd, UFFDIO_API, &api)) {
		printf("  skip: no userfaultfd (%s)\n", strerror(errno));
		return 77;
	}
	prompt_page = mmap(NULL, page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	reg = (struct uffdio_register){ .range = { (uintptr_t)prompt_page, (uint64_t)page },
					.mode = UFFDIO_REGISTER_MODE_MISSING };
	KT_CHECK(prompt_page != MAP_FAILED && ioctl(uffd, UFFDIO_REGISTER, &reg) == 0,
		 "prompt page registered with userfaultfd");
	KT_CHECK(kt_ctx_create(fd, &c, 4) == 0, "context");

	pthread_create(&ts, NULL, submitter, NULL);
	pfd = (struct pollfd){ .fd = uffd, .events = POLLIN };
	KT_CHECK(poll(&pfd, 1, KT_EVENT_MS) == 1, "SUBMIT is inside the prompt's page fault");

	t0 = kt_now_ns();
	pthread_create(&tr, NULL, recoverer, NULL);
	while (!__atomic_load_n(&recover_done, __ATOMIC_ACQUIRE) &&
	       kt_now_ns() - t0 < (int64_t)KT_EVENT_MS * 1000000)
		usleep(10000);
	waited = kt_now_ns() - t0;
	KT_CHECK(__atomic_load_n(&recover_done, __ATOMIC_ACQUIRE) && recover_rc == 0,
		 "a forced card reset completed while the SUBMIT faults (%.2f s, bound %d s)",
		 waited / 1e9, KT_EVENT_MS / 1000);
	zp = (struct uffdio_zeropage){ .range = { (uintptr_t)prompt_page, (uint64_t)page } };
	if (!__atomic_load_n(&recover_done, __ATOMIC_ACQUIRE)) {
		/* Blocked behind the fault (and everyone else behind the reset): let it go. */
		ioctl(uffd, UFFDIO_ZEROPAGE, &zp);
		pthread_join(ts, NULL);
		pthread_join(tr, NULL);
		return kt_exit();
	}
	{
		struct kt_ctx o;
		struct kt_stream s;
		uint32_t ids[4];

		KT_CHECK(kt_ctx_create(fd2, &o, 4) == 0 && kt_stream_create(fd2, &s, 16) == 0,
			 "another file creates a context meanwhile");
		kt_prefill(&o, decode_case_prompt, DECODE_CASE_PROMPT_LEN, 1);
		kt_decode(&o, &s, 4, 2);
		KT_CHECK(kt_stream_read(&o, &s, ids, 4, KT_EVENT_MS) == 4, "and decodes");
		kt_stream_destroy(&s);
		kt_ctx_destroy(&o);
	}

	/* Resolve the fault (zeros: token id 0, valid). */
	KT_CHECK(ioctl(uffd, UFFDIO_ZEROPAGE, &zp) == 0, "fault resolved");
	pthread_join(ts, NULL);
	pthread_join(tr, NULL);
	KT_CHECK(submit_rc == -ECANCELED, "the SUBMIT then returned %s (want ECANCELED: its "
		 "context was reset meanwhile)", submit_rc < 0 ? strerror(-submit_rc) : "success");
	kt_ctx_destroy(&c);
	close(uffd);
	close(fd2);
	close(fd);
	return kt_exit();
}
