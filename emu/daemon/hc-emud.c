// SPDX-License-Identifier: MIT
/*
 * hc-emud: the emulated HC card. Loads a ROM, runs the exact forward pass, and serves the
 * card interface (docs/card-interface.md) to clients over a UNIX socket, one private
 * virtual function per client. Foreground; one log line per event on stderr; a systemd
 * service with socket activation and readiness notification (emud_service.c).
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>
#include "hc/hc_version.h"
#include "emud.h"

uint64_t emud_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

int emud_ev_add(struct emud_card *card, int fd, struct emud_ev *ev)
{
	struct epoll_event e = { .events = EPOLLIN | EPOLLRDHUP, .data.ptr = ev };

	return epoll_ctl(card->epfd, EPOLL_CTL_ADD, fd, &e) < 0 ? -errno : 0;
}

void emud_ev_del(struct emud_card *card, int fd)
{
	epoll_ctl(card->epfd, EPOLL_CTL_DEL, fd, NULL);
}

static void usage(FILE *f)
{
	char path[256];

	fprintf(f,
"Usage: hc-emud --rom FILE [options]\n"
"The emulated HC card: serves the card interface (docs/card-interface.md) on a UNIX socket.\n"
"\n"
"  --rom FILE               ROM image to run (required)\n"
"  --socket PATH            listen here (default: %s;\n"
"                           the PATH of HC_DEVICE=emu:PATH if set, else\n"
"                           $XDG_RUNTIME_DIR/" HC_EMU_SOCKET_NAME " for non-root users,\n"
"                           " HC_EMU_SOCKET_ROOT " for root); mode 0660. Under\n"
"                           systemd's socket activation the passed socket is used\n"
"  --socket-group GROUP     give the socket to GROUP (its members may use the card)\n"
"  -t, --threads N          forward-pass worker threads (default: the CPUs it may use)\n"
"  --path NAME              the forward pass's kernels: auto (default: the fastest this\n"
"                           CPU runs), avx2, generic or reference; the tokens are the same\n"
"  --contexts N             KV slots of the card (default %u)\n"
"  --max-contexts-per-client N  contexts one client may hold (default: --contexts)\n"
"  --client-mem BYTES       card memory per client, default and cap (default 16M; K/M/G)\n"
"  --queue-pairs N          queue pairs per client (1..%u, default %u)\n"
"  --prefill-chunk N        prompt tokens per scheduling turn (default %u while a context\n"
"                           decodes, else %u)\n"
"  --max-ctx N              cap on context length (default: the ROM's max_ctx)\n"
"  --kv-mem BYTES           KV cache budget of the card (default: half of RAM); contexts\n"
"                           reserve capacity x bytes-per-position from it when opened\n"
"  --ivshmem PATH           also be the card of a QEMU guest: serve the ivshmem protocol on\n"
"                           PATH as card peer 0 (-device ivshmem-doorbell,chardev=..,\n"
"                           vectors=1+queue-pairs); one guest at a time\n"
"  --ivshmem-mem BYTES      the guest's card memory, BAR2 (power of two, default 16M)\n"
"  --guest-ram FILE         the guest's RAM (QEMU -object memory-backend-file,share=on,\n"
"                           mem-path=FILE): the card writes completions and streams there\n"
"                           by guest-physical address, as a PCIe card does by DMA\n"
"  --allow-faults           TEST ONLY: honour the fault-injection registers (stall,\n"
"                           dropped interrupts, corrupt completions); never in production\n"
"  --pace[=TOKENS_PER_S]    the card's timing model: each decoding context shows at most\n"
"                           this many tokens per second (default 17000, the HC1's rate)\n"
"  --null-model             BENCHMARK ONLY: make tokens without computing the model\n"
"                           (wrong tokens!) to measure the stack's ceiling (hc-bench-stack)\n"
"  -v, --verbose            log clients coming and going, queue-pair and context events\n"
"  -h, --help               this text\n"
"  -V, --version            print the version and exit\n"
"\n"
"SIGTERM or SIGINT: clean shutdown (clients dropped, socket removed). SIGHUP is ignored\n"
"(there is nothing to reload: restart to run another ROM).\n",
		emud_default_socket_path(path, sizeof(path)), EMUD_DEFAULT_CONTEXTS,
		HC_CARD_MAX_QP, EMUD_DEFAULT_QPS, EMUD_DEFAULT_CHUNK, EMUD_IDLE_CHUNK);
}

static int parse_u64(const char *opt, const char *s, uint64_t min, uint64_t max, bool suffix,
		     uint64_t *out)
{
	char *end;
	unsigned long long v;

	errno = 0;
	v = strtoull(s, &end, 0);
	if (suffix && end != s) {
		uint64_t mul = 1;

		switch (*end) {
		case 'k': case 'K': mul = 1ull << 10; end++; break;
		case 'm': case 'M': mul = 1ull << 20; end++; break;
		case 'g': case 'G': mul = 1ull << 30; end++; break;
		}
		if (v > UINT64_MAX / mul)
			errno = ERANGE;
		v *= mul;
	}
	if (errno || end == s || *end || s[0] == '-' || v < min || v > max) {
		fprintf(stderr, "hc-emud: %s: '%s' is not a number in [%llu, %llu]\n", opt, s,
			(unsigned long long)min, (unsigned long long)max);
		return -EINVAL;
	}
	*out = v;
	return 0;
}

enum {
	OPT_ROM = 256, OPT_SOCKET, OPT_CONTEXTS, OPT_MAXCTX_CLIENT, OPT_CLIENT_MEM, OPT_QPS,
	OPT_CHUNK, OPT_MAX_CTX, OPT_KV_MEM, OPT_FAULTS, OPT_NULL_MODEL, OPT_IVSHMEM, OPT_IVSHMEM_MEM,
	OPT_SOCKET_GROUP, OPT_PACE, OPT_GUEST_RAM, OPT_PATH,
};

static int parse_args(int argc, char **argv, struct emud_opts *o)
{
	static const struct option longopts[] = {
		{ "rom", required_argument, NULL, OPT_ROM },
		{ "socket", required_argument, NULL, OPT_SOCKET },
		{ "socket-group", required_argument, NULL, OPT_SOCKET_GROUP },
		{ "threads", required_argument, NULL, 't' },
		{ "path", required_argument, NULL, OPT_PATH },
		{ "contexts", required_argument, NULL, OPT_CONTEXTS },
		{ "max-contexts-per-client", required_argument, NULL, OPT_MAXCTX_CLIENT },
		{ "client-mem", required_argument, NULL, OPT_CLIENT_MEM },
		{ "queue-pairs", required_argument, NULL, OPT_QPS },
		{ "prefill-chunk", required_argument, NULL, OPT_CHUNK },
		{ "max-ctx", required_argument, NULL, OPT_MAX_CTX },
		{ "kv-mem", required_argument, NULL, OPT_KV_MEM },
		{ "allow-faults", no_argument, NULL, OPT_FAULTS },
		{ "null-model", no_argument, NULL, OPT_NULL_MODEL },
		{ "pace", optional_argument, NULL, OPT_PACE },
		{ "ivshmem", required_argument, NULL, OPT_IVSHMEM },
		{ "ivshmem-mem", required_argument, NULL, OPT_IVSHMEM_MEM },
		{ "guest-ram", required_argument, NULL, OPT_GUEST_RAM },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	uint64_t v;
	int c;

	o->threads = hc_model_default_threads();
	o->n_contexts = EMUD_DEFAULT_CONTEXTS;
	o->client_mem = EMUD_DEFAULT_CLIENT_MEM;
	o->n_qp = EMUD_DEFAULT_QPS;
	o->prefill_chunk = EMUD_DEFAULT_CHUNK;
	o->ivshmem_mem = EMUD_DEFAULT_IVSHMEM_MEM;
	while ((c = getopt_long(argc, argv, "t:vhV", longopts, NULL)) != -1) {
		switch (c) {
		case OPT_ROM: o->rom_path = optarg; break;
		case OPT_SOCKET: o->socket_path = optarg; break;
		case OPT_SOCKET_GROUP: o->socket_group = optarg; break;
		case 't':
			if (parse_u64("--threads", optarg, 1, 256, false, &v))
				return -EINVAL;
			o->threads = (int)v;
			break;
		case OPT_CONTEXTS:
			if (parse_u64("--contexts", optarg, 1, 65536, false, &v))
				return -EINVAL;
			o->n_contexts = (uint32_t)v;
			break;
		case OPT_MAXCTX_CLIENT:
			if (parse_u64("--max-contexts-per-client", optarg, 1, 65536, false, &v))
				return -EINVAL;
			o->max_contexts = (uint32_t)v;
			break;
		case OPT_CLIENT_MEM:
			if (parse_u64("--client-mem", optarg, EMUD_MIN_CLIENT_MEM, EMUD_MAX_CLIENT_MEM,
				      true, &v))
				return -EINVAL;
			o->client_mem = v;
			break;
		case OPT_QPS:
			if (parse_u64("--queue-pairs", optarg, 1, HC_CARD_MAX_QP, false, &v))
				return -EINVAL;
			o->n_qp = (uint32_t)v;
			break;
		case OPT_CHUNK:
			if (parse_u64("--prefill-chunk", optarg, 1, 1u << 20, false, &v))
				return -EINVAL;
			o->prefill_chunk = (uint32_t)v;
			o->prefill_chunk_set = true;
			break;
		case OPT_MAX_CTX:
			if (parse_u64("--max-ctx", optarg, 1, 1u << 24, false, &v))
				return -EINVAL;
			o->max_ctx = (uint32_t)v;
			break;
		case OPT_KV_MEM:
			if (parse_u64("--kv-mem", optarg, 4096, UINT64_MAX / 2, true, &v))
				return -EINVAL;
			o->kv_mem = v;
			break;
		case OPT_FAULTS: o->allow_faults = true; break;
		case OPT_NULL_MODEL: o->null_model = true; break;
		case OPT_PACE:
			v = 17000;	/* tokens/s per user of the Taalas HC1 */
			if (optarg && parse_u64("--pace", optarg, 1, 10000000, false, &v))
				return -EINVAL;
			o->pace = (uint32_t)v;
			break;
		case OPT_IVSHMEM: o->ivshmem_path = optarg; break;
		case OPT_GUEST_RAM: o->guest_ram = optarg; break;
		case OPT_PATH:
			if (hc_path_from_name(optarg, &o->path)) {
				fprintf(stderr, "hc-emud: --path: '%s' is not auto, avx2, generic "
					"or reference\n", optarg);
				return -EINVAL;
			}
			break;
		case OPT_IVSHMEM_MEM:
			if (parse_u64("--ivshmem-mem", optarg, EMUD_MIN_CLIENT_MEM, EMUD_MAX_CLIENT_MEM,
				      true, &v))
				return -EINVAL;
			if (v & (v - 1)) {
				fprintf(stderr, "hc-emud: --ivshmem-mem: %s is not a power of two "
					"(it becomes a PCI BAR)\n", optarg);
				return -EINVAL;
			}
			o->ivshmem_mem = v;
			break;
		case 'v': o->verbose++; break;
		case 'h': usage(stdout); exit(0);
		case 'V': printf("hc-emud " HC_VERSION_STRING "\n"); exit(0);
		default: usage(stderr); return -EINVAL;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "hc-emud: unexpected argument '%s'\n", argv[optind]);
		return -EINVAL;
	}
	if (!o->rom_path) {
		fprintf(stderr, "hc-emud: --rom FILE is required (see --help)\n");
		return -EINVAL;
	}
	if (o->guest_ram && !o->ivshmem_path) {
		fprintf(stderr, "hc-emud: --guest-ram needs --ivshmem (it is the PCI guest's RAM)\n");
		return -EINVAL;
	}
	if (!o->max_contexts || o->max_contexts > o->n_contexts)
		o->max_contexts = o->n_contexts;
	return 0;
}

static int card_open(struct emud_card *card, char *err, size_t errlen)
{
	int rc;

	rc = hc_rom_open(card->opt.rom_path, &card->rom, err, errlen);
	if (rc < 0)
		return rc;
	card->rom_hdr = hc_rom_header(card->rom);
	rc = hc_model_new(card->rom, card->opt.threads, card->opt.path, &card->model, err, errlen);
	if (rc < 0)
		return rc;
	card->arch = hc_model_arch(card->model);
	card->max_ctx = card->arch->max_ctx;
	if (card->opt.max_ctx && card->opt.max_ctx < card->max_ctx)
		card->max_ctx = card->opt.max_ctx;
	/* KV memory is reserved per context (capacity x per-position bytes): a card's KV slots
	 * are real memory; calloc'ing them lazily must not let the daemon be OOM-killed later */
	card->kv_pos_bytes = 2ull * card->arch->n_layers * card->arch->n_kv_heads *
			     card->arch->head_dim * sizeof(float);
	if (!card->opt.kv_mem) {
		long pages = sysconf(_SC_PHYS_PAGES), psz = sysconf(_SC_PAGESIZE);

		card->opt.kv_mem = pages > 0 && psz > 0 ? (uint64_t)pages * (uint64_t)psz / 2 :
						       1ull << 30;
	}
	if (card->opt.kv_mem / card->kv_pos_bytes < card->max_ctx)
		card->max_ctx = (uint32_t)(card->opt.kv_mem / card->kv_pos_bytes);
	if (card->max_ctx == 0) {
		snprintf(err, errlen, "--kv-mem %llu bytes: not even one position (%llu bytes) fits",
			 (unsigned long long)card->opt.kv_mem,
			 (unsigned long long)card->kv_pos_bytes);
		return -EINVAL;
	}
	card->prob = malloc(sizeof(*card->prob) * card->arch->vocab_size);
	if (!card->prob) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	card->start_ns = emud_now_ns();
	return 0;
}

static void card_close(struct emud_card *card)
{
	free(card->prob);
	if (card->model)
		hc_model_free(card->model);
	if (card->rom)
		hc_rom_close(card->rom);
}

static void on_signal(struct emud_ev *ev, uint32_t events)
{
	struct emud_card *card = ev->obj;
	struct signalfd_siginfo si;

	if (read((int)ev->vector, &si, sizeof(si)) != sizeof(si))
		return;
	/*
	 * SIGHUP conventionally means "reload". The card has nothing to reload (the ROM is
	 * the silicon; everything else is on the command line), and dying would drop every
	 * client and leave systemd's socket unserved, so it is logged and ignored.
	 */
	if (si.ssi_signo == SIGHUP) {
		emud_notice("SIGHUP ignored: nothing to reload (restart hc-emud for another ROM "
			    "or other options)");
		return;
	}
	emud_log("signal %u: shutting down", si.ssi_signo);
	emud_service_notify("STOPPING=1");
	card->stop = true;
}

/* The timer fired: the loop that follows shows the held tokens that are due (--pace) and
 * raises the deferred stream wake-ups that are due (HC_CAP_WAKEUP_DELAY). */
static void on_timer(struct emud_ev *ev, uint32_t events)
{
	uint64_t n;

	(void)!read((int)ev->vector, &n, sizeof(n));
}

/* Arm the timer for the earliest held token or deferred wake-up (absolute, nanoseconds: a
 * tick of an HC1 is 59 us, far below epoll's millisecond timeout). */
static void timer_arm(struct emud_card *card)
{
	const uint64_t next = emud_sched_next_timer(card);
	struct itimerspec its = { .it_value = { (time_t)(next / 1000000000u),
						(long)(next % 1000000000u) } };

	if (card->timer_tfd >= 0 && next)
		timerfd_settime(card->timer_tfd, TFD_TIMER_ABSTIME, &its, NULL);
}

static void run(struct emud_card *card, struct emud_socket *sock)
{
	struct epoll_event evs[64];
	int timeout = 0;

	while (!card->stop) {
		struct emud_fn *fn;
		bool runnable = false, sleep;
		int i, n;

		__atomic_fetch_add(&card->loop_iter, 1, __ATOMIC_RELAXED);
		__atomic_store_n(&card->loop_waiting, timeout != 0, __ATOMIC_RELAXED);
		n = epoll_wait(card->epfd, evs, 64, timeout);
		__atomic_store_n(&card->loop_waiting, 0, __ATOMIC_RELAXED);
		__atomic_fetch_add(&card->loop_iter, 1, __ATOMIC_RELAXED);
		if (n < 0 && errno != EINTR) {
			emud_log("epoll_wait: %s", strerror(errno));
			break;
		}
		for (i = 0; i < n; i++) {
			struct emud_ev *ev = evs[i].data.ptr;

			ev->fn(ev, evs[i].events);
		}
		emud_socket_reap(sock);

		emud_sched_round(card);
		for (fn = card->fns; fn && !runnable; fn = fn->next)
			runnable = emud_fn_runnable(fn);
		for (fn = card->fns; fn; fn = fn->next)
			emud_fn_service(fn, !runnable);
		for (fn = card->fns; fn && !runnable; fn = fn->next)
			runnable = emud_fn_runnable(fn);
		if (runnable) {
			timeout = 0;
			continue;
		}
		timer_arm(card);
		/* going idle: ask for SQ doorbells, then look once more (no lost wake-up) */
		sleep = true;
		for (fn = card->fns; fn; fn = fn->next)
			if (!emud_fn_sleep_prepare(fn))
				sleep = false;
		timeout = sleep ? 1000 : 0;
	}
}

/*
 * The client socket: systemd's (socket activation) or one we bind. Done before the ROM is
 * verified, which reads every byte of a multi-GB file: a socket that cannot be had is
 * reported in milliseconds, not after minutes of hashing. Clients that connect meanwhile
 * wait in the backlog until the event loop runs, as they would for a socket unit.
 */
static int socket_setup(struct emud_card *card, struct emud_socket **sock, char *path,
			size_t len)
{
	int fd = emud_service_listen_fd();

	if (fd >= 0) {
		if (card->opt.socket_path || card->opt.socket_group)
			emud_notice("socket activation: serving systemd's socket; --socket and "
				    "--socket-group are ignored");
		return emud_socket_adopt(card, fd, sock);
	}
	if (fd != -ENOENT)
		return fd;
	if (!card->opt.socket_path)
		card->opt.socket_path = emud_default_socket_path(path, len);
	return emud_socket_open(card, card->opt.socket_path, sock);
}

int main(int argc, char **argv)
{
	struct emud_card card;
	struct emud_socket *sock = NULL;
	struct emud_ivshmem *ivs = NULL;
	struct emud_ev sig_ev, timer_ev;
	char err[512], path[256];
	sigset_t mask;
	int sfd = -1, rc;

	memset(&card, 0, sizeof(card));
	card.epfd = -1;
	card.timer_tfd = -1;
	if (parse_args(argc, argv, &card.opt) < 0)
		return 2;
	emud_service_init(card.opt.verbose);
	pthread_mutex_init(&card.lock, NULL);
	signal(SIGPIPE, SIG_IGN);
	/*
	 * Not dumpable: other processes of the same user cannot open /proc/<pid>/fd/N (or
	 * ptrace us) to map another client's card memory. Costs core dumps.
	 */
	prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
	/* each client holds about 2 + 2 * (1 + queue pairs) descriptors here: allow many */
	{
		struct rlimit rl;

		if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
			rl.rlim_cur = rl.rlim_max;
			setrlimit(RLIMIT_NOFILE, &rl);
		}
	}
	/*
	 * Block before any thread exists (the model's workers too): only signalfd sees them.
	 * A SIGTERM during the ROM verification is acted on once it is done.
	 */
	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGHUP);
	sigprocmask(SIG_BLOCK, &mask, NULL);

	card.epfd = epoll_create1(EPOLL_CLOEXEC);
	sfd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
	if (card.epfd < 0 || sfd < 0) {
		emud_err("%s", strerror(errno));
		rc = -errno;
		goto out;
	}
	sig_ev = (struct emud_ev){ on_signal, &card, (uint32_t)sfd };
	rc = emud_ev_add(&card, sfd, &sig_ev);
	if (rc < 0)
		goto out;
	card.timer_tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	if (card.timer_tfd < 0) {
		rc = -errno;
		emud_err("timerfd: %s", strerror(errno));
		goto out;
	}
	timer_ev = (struct emud_ev){ on_timer, &card, (uint32_t)card.timer_tfd };
	rc = emud_ev_add(&card, card.timer_tfd, &timer_ev);
	if (rc < 0)
		goto out;
	rc = socket_setup(&card, &sock, path, sizeof(path));
	if (rc < 0)
		goto out;

	emud_service_notify("STATUS=verifying %s", card.opt.rom_path);
	err[0] = 0;
	rc = card_open(&card, err, sizeof(err));
	if (rc < 0) {
		emud_err("%s", err[0] ? err : strerror(-rc));
		goto out;
	}
	emud_log("card: model '%.64s' (vocab %u, dim %u, %u layers, max_ctx %u), %u KV slots, "
		 "%llu MiB KV budget, %d threads, %s kernels%s", card.rom_hdr->name,
		 card.arch->vocab_size, card.arch->dim, card.arch->n_layers, card.max_ctx,
		 card.opt.n_contexts, (unsigned long long)(card.opt.kv_mem >> 20),
		 card.opt.threads, hc_model_kernels(card.model),
		 card.opt.allow_faults ? ", TEST fault injection enabled" : "");
	if (card.opt.pace)
		emud_log("paced: each decoding context shows at most %u tokens/s", card.opt.pace);

	rc = emud_heartbeat_start(&card);
	if (rc < 0) {
		emud_err("cannot start the heartbeat thread: %s", strerror(-rc));
		goto out;
	}
	if (card.opt.ivshmem_path) {
		rc = emud_ivshmem_open(&card, card.opt.ivshmem_path, card.opt.ivshmem_mem, &ivs);
		if (rc < 0)
			goto out;
	}
	/* everything is up: the socket was accepting already, now hellos are answered */
	emud_log("listening on %s", emud_socket_path(sock));
	emud_service_notify("READY=1\nSTATUS=serving '%.64s' on %s", card.rom_hdr->name,
			    emud_socket_path(sock));
	run(&card, sock);
	rc = 0;
out:
	emud_heartbeat_stop(&card);
	emud_ivshmem_close(ivs);
	emud_socket_close(sock);
	if (sfd >= 0)
		close(sfd);
	if (card.timer_tfd >= 0)
		close(card.timer_tfd);
	if (card.epfd >= 0)
		close(card.epfd);
	card_close(&card);
	pthread_mutex_destroy(&card.lock);
	if (!rc)
		emud_log("stopped");
	return rc < 0 ? 1 : 0;
}
