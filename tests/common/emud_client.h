/* SPDX-License-Identifier: MIT */
/*
 * A raw card-interface client for tests: speaks include/uapi/hc_card.h + hc_ring.h to
 * hc-emud directly (no libhc), and starts/stops the daemon. Waits are bounded only to
 * turn a hang into a failure, never to measure speed. The code is in emud_client.c.
 */
#ifndef HC_TESTS_EMUD_CLIENT_H
#define HC_TESTS_EMUD_CLIENT_H

#include <stdint.h>
#include <string.h>
#include <sys/types.h>
#include "uapi/hc_card.h"
#include "uapi/hc_ring.h"

#define TC_HANG_MS 60000	/* give up (fail) after this long without progress */

struct tc {
	int sock, memfd;
	unsigned char *mem;
	uint64_t mem_size;
	struct hc_card_regs *regs;
	uint32_t n_db, n_irq, id;
	int db[1 + HC_CARD_MAX_QP], irq[1 + HC_CARD_MAX_QP];
	uint64_t brk;			/* bump allocator in data memory */
	struct hc_ring sq, cq;
	uint32_t qp;
	uint64_t next_user_data;
	uint32_t coalesce_count, coalesce_usec;	/* used by the next tc_qp_setup() */
	/* tc_connect_host(): our host memory (bus address = offset); with @host_rings set,
	 * tc_qp_setup(), tc_stream() and tc_decode() put the CQ and streams there */
	unsigned char *host_mem;
	uint64_t host_size, host_brk;
	int host_rings;
	int host_fd;			/* its memfd, while host_mem is mapped */
	/* with @hold set, tc_submit() only writes SQEs (@held of them) and tc_release()
	 * publishes them all at once: the card fetches them together */
	int hold;
	uint32_t held;
};

/* Sampling and limits of one DECODE (tc_decode()). */
struct tc_decode {
	float temperature, top_p;
	uint32_t top_k, max_tokens, n_stop, stop[HC_CARD_MAX_STOP];
	uint64_t seed, step_base;
	uint32_t wakeup_usec, wakeup_tokens;	/* HC_CAP_WAKEUP_DELAY: the stream's wake-up */
};

/* Milliseconds on the monotonic clock. */
uint64_t tc_ms(void);
/* Sleep one millisecond (the poll interval of the bounded waits). */
void tc_nap(void);

/* A connected SOCK_STREAM socket to the Unix socket @path, or -1 (errno set). */
int tc_sock_connect(const char *path);

/* Connect and receive the card memory, doorbell and interrupt pipes; 0 or negative errno. */
int tc_connect(struct tc *c, const char *path, uint64_t mem_size);

/*
 * The same with a hello of @flags and @host_size, passing @fds (n_fds of them) with it: the
 * welcome's status (0, or the daemon's negative errno), or -EPROTO/-EIO.
 */
int tc_hello(struct tc *c, const char *path, uint64_t mem_size, uint32_t flags,
	     uint64_t host_size, const int *fds, int n_fds);

/* A memfd of @size with @seals added (F_SEAL_*), or -1. */
int tc_memfd(uint64_t size, int seals);

/*
 * Connect with @host_size bytes of host memory (HC_EMU_HELLO_HOST_MEMORY, a sealed memfd),
 * mapped at c->host_mem; sets c->host_rings. 0 or negative errno.
 */
int tc_connect_host(struct tc *c, const char *path, uint64_t host_size);

/* Where the ring at @off (as tc_stream() returned it) is in our memory. */
void *tc_ptr(struct tc *c, uint64_t off);

/* One ivshmem server message: an int64 and maybe an fd (else *fd = -1). 0 or -1 (EOF/error). */
int tc_iv_recv(int sock, int64_t *val, int *fd);

/*
 * Connect to hc-emud's ivshmem server the way QEMU's ivshmem-doorbell does and present the
 * result as a struct tc: BAR2 mapped, the card peer's eventfds as doorbells, our own
 * eventfds as interrupts. Returns 0, or negative on any protocol violation.
 */
int tc_pci_connect(struct tc *c, const char *path);

/* Unmap the card memory and close every fd of @c (either kind of connection). */
void tc_close(struct tc *c);

/* Offset of @len fresh zeroed bytes of data memory, 64-aligned; 0 when full. */
uint64_t tc_alloc(struct tc *c, uint64_t len);

/* Ring doorbell @vector (HC_DOORBELL_CONTROL or HC_DOORBELL_QP(q)). */
void tc_ring(struct tc *c, uint32_t vector);

/* Wait for interrupt @vector (bounded); drains it (the fds are non-blocking). */
void tc_wait_irq(struct tc *c, uint32_t vector, int ms);

/* Program queue pair @q (sq/cq entries) and wait for the card's verdict: the qp state. */
uint32_t tc_qp_setup(struct tc *c, uint32_t q, uint32_t sq_n, uint32_t cq_n, int enable);

/* Queue one SQE (waits for SQ space) and notify the card if it asked for it. */
void tc_submit(struct tc *c, const struct hc_sqe *sqe);
/* Publish the SQEs held since c->hold was set (one tail store), and notify the card. */
void tc_release(struct tc *c);

/* Next CQE (sleeping on the CQ's interrupt); 0, or -ETIMEDOUT after @hang_ms. */
int tc_cqe(struct tc *c, struct hc_cqe *out, int hang_ms);

/* Submit @op on context @ctx (no arguments); its user_data. */
uint64_t tc_op(struct tc *c, uint8_t op, uint32_t ctx);

/* Submit @op and return its CQE (the next one: only for callers with nothing else in flight). */
struct hc_cqe tc_sync(struct tc *c, uint8_t op, uint32_t ctx);

/* Open a context; its id, or 0 on failure. */
uint32_t tc_open(struct tc *c, uint32_t max_ctx);

/* Submit a PREFILL of @n tokens (copied into fresh card memory); its user_data. */
uint64_t tc_prefill(struct tc *c, uint32_t ctx, const int32_t *tok, uint32_t n);
/* The same with SQE @flags (HC_SQE_F_LINK). */
uint64_t tc_prefill_flags(struct tc *c, uint32_t ctx, const int32_t *tok, uint32_t n,
			  uint8_t flags);

/* The bits of @f, as a descriptor carries a float. */
static inline uint32_t tc_f32bits(float f)
{
	uint32_t u;

	memcpy(&u, &f, sizeof(u));
	return u;
}

/* A zeroed stream ring of @entries; its offset. */
uint64_t tc_stream(struct tc *c, uint32_t entries);

/* Submit a DECODE on @ctx into the stream ring at @stream; its user_data. */
uint64_t tc_decode(struct tc *c, uint32_t ctx, uint64_t stream, uint32_t entries,
		   const struct tc_decode *d);

/* Take every token now in the stream ring into @out (up to @max); returns how many. */
uint32_t tc_stream_take(struct tc *c, struct hc_ring *r, uint32_t *out, uint32_t max);

/* The daemon under test: build/hc-emud, or $HC_TEST_EMUD_BIN (a sanitizer or clang build). */
const char *emud_bin(void);

/*
 * Start hc-emud with @extra args (NULL-terminated) on @sock, stderr to @log; it dies with
 * the test. Its pid once it has notified READY=1 (sd_notify), or -1. HC_TEST_VALGRIND=1 runs
 * it under valgrind (errors or leaks make it exit 99).
 */
pid_t tc_daemon_start(const char *rom, const char *sock, const char *log,
		      const char *const *extra);

/*
 * A datagram socket for a daemon's sd_notify(3): its NOTIFY_SOCKET value (an abstract
 * "@name") in @name; the fd (non-blocking), or -1.
 */
int tc_notify_open(char *name, size_t len);

/*
 * Wait up to @ms for a notification line equal to @what ("READY=1") on @nfd from @pid;
 * 0, -ECHILD if the process exited first, -ETIMEDOUT.
 */
int tc_notify_wait(int nfd, pid_t pid, const char *what, int ms);

/*
 * fork + exec @argv (argv[0] a path) with stderr to @log, dying with the test; NOTIFY_SOCKET
 * = @notify if not NULL; @listen_fd >= 0 is passed as a systemd socket (fd 3, LISTEN_FDS=1,
 * LISTEN_PID). Its pid, or -1.
 */
pid_t tc_daemon_spawn(const char *const *argv, const char *log, const char *notify,
		      int listen_fd);

/* SIGTERM and reap; the exit status (0 = clean), or -1. */
int tc_daemon_stop(pid_t pid);

#endif
