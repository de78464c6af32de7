// SPDX-License-Identifier: MIT
/* Test helpers for the libhc tests (see libhc_util.h). */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <openssl/evp.h>
#include "libhc_util.h"
#include "bake.h"
#include "model.h"
#include "rom.h"

static void run(char *const argv[])
{
	pid_t pid = fork();
	int st;

	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		int fd = open("/dev/null", O_WRONLY);

		if (fd >= 0)
			dup2(fd, 2);
		execv(argv[0], argv);
		_exit(127);
	}
	ck_assert_int_eq(waitpid(pid, &st, 0), pid);
	ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0, "%s failed", argv[0]);
}

const char *t_bake_rom(char *path, size_t len, const char *name, ...)
{
	char *argv[16], tmp[300];
	struct stat st;
	unsigned n = 0;
	va_list ap;

	mkdir("build/tests/roms", 0755);
	snprintf(path, len, "build/tests/roms/%s", name);
	if (stat(path, &st) == 0 && st.st_size > 0)
		return path;
	/* bake to a private name, then rename: concurrent test programs may race here */
	snprintf(tmp, sizeof(tmp), "%s.%d.tmp", path, (int)getpid());
	argv[n++] = "build/hc-bake";
	va_start(ap, name);
	for (char *a; (a = va_arg(ap, char *));) {
		ck_assert_uint_lt(n, 13);
		argv[n++] = a;
	}
	va_end(ap);
	argv[n++] = "-o";
	argv[n++] = tmp;
	argv[n] = NULL;
	run(argv);
	ck_assert_int_eq(rename(tmp, path), 0);
	return path;
}

const char *t_bake(const char *preset, unsigned seed, char *path, size_t len)
{
	char name[96], seed_s[16];

	snprintf(name, sizeof(name), "%s-%u.rom", preset, seed);
	snprintf(seed_s, sizeof(seed_s), "%u", seed);
	return t_bake_rom(path, len, name, "--synthetic", preset, "--seed", seed_s, NULL);
}

const char *t_bake_long(unsigned seed, uint32_t max_ctx, char *path, size_t len)
{
	struct bake_source *src;
	char err[256], tmp[300];
	struct stat st;

	mkdir("build/tests/roms", 0755);
	snprintf(path, len, "build/tests/roms/tiny-ctx%u-%u.rom", max_ctx, seed);
	if (stat(path, &st) == 0 && st.st_size > 0)
		return path;
	snprintf(tmp, sizeof(tmp), "%s.%d.tmp", path, (int)getpid());
	ck_assert_msg(bake_open_synthetic("tiny", seed, &src, err, sizeof(err)) == 0, "%s", err);
	src->arch.max_ctx = max_ctx;	/* same weights, a longer context */
	ck_assert_msg(bake_write_rom(src, HC_WTYPE_F32, tmp, 0, err, sizeof(err)) == 0, "%s",
		      err);
	src->close(src);
	ck_assert_int_eq(rename(tmp, path), 0);
	return path;
}

static int sock_ready(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0), ok;

	if (strlen(path) >= sizeof(sa.sun_path))
		return 0;
	memcpy(sa.sun_path, path, strlen(path) + 1);
	ok = fd >= 0 && connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0;
	if (fd >= 0)
		close(fd);
	return ok;
}

int t_external(void)
{
	const char *env = getenv("HC_TEST_DEVICE");

	return env && *env;
}

/* The SHA-256 identity in a ROM file's header (struct hc_rom_header). */
static void rom_identity(const char *rom, uint8_t id[32])
{
	struct hc_rom_header h;
	int fd = open(rom, O_RDONLY | O_CLOEXEC);

	ck_assert_msg(fd >= 0, "%s: %s", rom, strerror(errno));
	ck_assert_msg(pread(fd, &h, sizeof(h), 0) == (ssize_t)sizeof(h), "%s: short header", rom);
	close(fd);
	memcpy(id, h.identity, 32);
}

/* External mode: pick the card of $HC_TEST_DEVICE that runs @rom. */
static const char *external_card(struct t_emud *e, const char *rom, int extra_args)
{
	static char why[400];
	const char *list = getenv("HC_TEST_DEVICE"), *p, *end;
	uint8_t want[32];

	memset(e, 0, sizeof(*e));
	if (extra_args)
		return "external card ($HC_TEST_DEVICE): needs hc-emud started with its own options";
	rom_identity(rom, want);
	for (p = list; *p; p = *end ? end + 1 : end) {
		struct hc_card_info info;
		struct hc_card *card;
		size_t n;
		int r;

		end = strchr(p, ',');
		if (!end)
			end = p + strlen(p);
		n = (size_t)(end - p);
		ck_assert_msg(n > 0 && n < sizeof(e->uri), "HC_TEST_DEVICE: bad entry in '%s'", list);
		memcpy(e->uri, p, n);
		e->uri[n] = 0;
		r = hc_open(e->uri, &card);
		ck_assert_msg(r == 0, "HC_TEST_DEVICE: hc_open(%s): %s", e->uri, hc_strerror(r));
		r = hc_card_info(card, &info);
		hc_close(card);
		ck_assert_int_eq(r, 0);
		if (!memcmp(info.identity, want, sizeof(want)))
			return NULL;
	}
	snprintf(why, sizeof(why), "external card ($HC_TEST_DEVICE=%s): none runs %s", list, rom);
	e->uri[0] = 0;
	return why;
}

const char *t_emud_start(struct t_emud *e, const char *rom, ...)
{
	char *argv[32];
	const char *a;
	va_list ap;
	int n = 0, i, tries;

	if (t_external()) {
		va_start(ap, rom);
		a = va_arg(ap, const char *);
		va_end(ap);
		return external_card(e, rom, a != NULL);
	}

	snprintf(e->dir, sizeof(e->dir), "/tmp/hc-test-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(e->dir));
	snprintf(e->sock, sizeof(e->sock), "%s/emud.sock", e->dir);
	snprintf(e->uri, sizeof(e->uri), "emu:%s", e->sock);
	argv[n++] = "build/hc-emud";
	argv[n++] = "--rom";
	argv[n++] = (char *)rom;
	argv[n++] = "--socket";
	argv[n++] = e->sock;
	va_start(ap, rom);
	while ((a = va_arg(ap, const char *)) && n < 30)
		argv[n++] = (char *)a;
	va_end(ap);
	argv[n] = NULL;
	for (tries = 0;; tries++) {
		e->pid = fork();
		ck_assert_int_ge(e->pid, 0);
		if (e->pid == 0) {
			char log[160];
			int fd;

			/* never outlive the test, even when an assertion kills it */
			prctl(PR_SET_PDEATHSIG, SIGTERM);
			/* the daemon's log stays next to its socket */
			snprintf(log, sizeof(log), "%s/emud.log", e->dir);
			fd = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0644);
			if (fd >= 0)
				dup2(fd, 2);
			execv(argv[0], argv);
			_exit(127);
		}
		/* up to 120 s: the ROM is verified first (seconds even for the test ROMs, more
		 * under ASan on a loaded machine); ready at once is the usual case */
		for (i = 0; i < 12000; i++) {
			int st;

			if (sock_ready(e->sock))
				return NULL;
			if (waitpid(e->pid, &st, WNOHANG) == e->pid) {
				/* exec can fail while a parallel build relinks build/hc-emud */
				ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 127 && tries < 20,
					      "hc-emud exited at start (status %d), log in %s",
					      st, e->dir);
				break;
			}
			usleep(10000);
		}
		if (i < 12000) {
			usleep(200000);
			continue;
		}
		break;
	}
	ck_abort_msg("hc-emud did not start listening on %s within 120 s", e->sock);
	return "unreachable";
}

void t_emud_stop(struct t_emud *e)
{
	int st;

	if (!e->dir[0])
		return;	/* an external card: nothing of ours to stop */
	if (e->pid > 0) {
		kill(e->pid, SIGTERM);
		waitpid(e->pid, &st, 0);
		e->pid = 0;
	}
	unlink(e->sock);
	{
		char log[160];

		snprintf(log, sizeof(log), "%s/emud.log", e->dir);
		unlink(log);
	}
	rmdir(e->dir);
}

/*
 * Recorded references. A reference is a pure function of the ROM's identity, the prompt and
 * the sampling parameters; the host's run computes it and, with $HC_TEST_REF_RECORD=DIR,
 * writes it to DIR. The QEMU guest reads it from $HC_TEST_REF_DIR instead of running the
 * forward pass again under TCG, where it costs seconds per test (the host's forward pass is
 * the same code, and its exactness across paths and threads is test_forward's subject).
 * File: "HCREF1\0\0", the 32-byte key, u32 count, count x i32.
 */
#define REF_MAGIC "HCREF1\0\0"

static void ref_key(const char *rom, const int32_t *prompt, uint32_t n_prompt,
		    const struct t_ref_params *p, uint8_t key[32])
{
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	uint32_t u[5] = { n_prompt, p->max_tokens, p->top_k, p->n_stop, 0 };
	uint8_t id[32];

	rom_identity(rom, id);
	ck_assert_ptr_nonnull(md);
	ck_assert_int_eq(EVP_DigestInit_ex(md, EVP_sha256(), NULL), 1);
	EVP_DigestUpdate(md, id, sizeof(id));
	EVP_DigestUpdate(md, u, sizeof(u));
	EVP_DigestUpdate(md, &p->temperature, sizeof(p->temperature));
	EVP_DigestUpdate(md, &p->top_p, sizeof(p->top_p));
	EVP_DigestUpdate(md, &p->seed, sizeof(p->seed));
	EVP_DigestUpdate(md, prompt, n_prompt * sizeof(*prompt));
	if (p->n_stop)
		EVP_DigestUpdate(md, p->stop_ids, p->n_stop * sizeof(*p->stop_ids));
	ck_assert_int_eq(EVP_DigestFinal_ex(md, key, NULL), 1);
	EVP_MD_CTX_free(md);
}

static void ref_path(const char *dir, const uint8_t key[32], char *path, size_t len)
{
	int n = snprintf(path, len, "%s/", dir);

	for (int i = 0; i < 16 && n > 0 && (size_t)n + 3 < len; i++)
		n += snprintf(path + n, len - n, "%02x", key[i]);
	ck_assert_msg(n > 0 && (size_t)n + 5 < len, "reference path too long: %s", dir);
	strcat(path, ".ref");
}

/* A recorded reference for @key in $HC_TEST_REF_DIR: its count, or -1 when there is none. */
static int ref_load(const uint8_t key[32], const struct t_ref_params *p, int32_t *out)
{
	const char *dir = getenv("HC_TEST_REF_DIR");
	uint8_t head[8 + 32];
	char path[512];
	uint32_t n;
	FILE *f;

	if (!dir || !*dir)
		return -1;
	ref_path(dir, key, path, sizeof(path));
	f = fopen(path, "rb");
	if (!f)
		return -1;
	ck_assert_msg(fread(head, sizeof(head), 1, f) == 1 && fread(&n, sizeof(n), 1, f) == 1,
		      "%s: short reference file", path);
	ck_assert_msg(!memcmp(head, REF_MAGIC, 8) && !memcmp(head + 8, key, 32),
		      "%s: not the reference for this key", path);
	ck_assert_msg(n <= p->max_tokens, "%s: %u tokens, asked for %u", path, n, p->max_tokens);
	ck_assert_msg(fread(out, sizeof(*out), n, f) == n, "%s: short reference file", path);
	fclose(f);
	return (int)n;
}

/* Write the reference to $HC_TEST_REF_RECORD (private name, then rename). */
static void ref_record(const uint8_t key[32], const int32_t *out, uint32_t n)
{
	const char *dir = getenv("HC_TEST_REF_RECORD");
	char path[512], tmp[540];
	FILE *f;

	if (!dir || !*dir)
		return;
	mkdir(dir, 0755);
	ref_path(dir, key, path, sizeof(path));
	snprintf(tmp, sizeof(tmp), "%s.%d.tmp", path, (int)getpid());
	f = fopen(tmp, "wb");
	ck_assert_msg(f, "%s: %s", tmp, strerror(errno));
	ck_assert(fwrite(REF_MAGIC, 8, 1, f) == 1 && fwrite(key, 32, 1, f) == 1 &&
		  fwrite(&n, sizeof(n), 1, f) == 1 && fwrite(out, sizeof(*out), n, f) == n);
	ck_assert_int_eq(fclose(f), 0);
	ck_assert_int_eq(rename(tmp, path), 0);
}

static uint32_t compute_reference(const char *rom_path, const int32_t *prompt,
				  uint32_t n_prompt, const struct t_ref_params *p, int32_t *out);

uint32_t t_reference(const char *rom_path, const int32_t *prompt, uint32_t n_prompt,
		     const struct t_ref_params *p, int32_t *out)
{
	uint8_t key[32];
	uint32_t n;
	int r;

	ref_key(rom_path, prompt, n_prompt, p, key);
	r = ref_load(key, p, out);
	if (r >= 0)
		return (uint32_t)r;
	if (getenv("HC_TEST_REF_DIR"))
		fprintf(stderr, "note: no recorded reference, computing it here\n");
	n = compute_reference(rom_path, prompt, n_prompt, p, out);
	ref_record(key, out, n);
	return n;
}

static uint32_t compute_reference(const char *rom_path, const int32_t *prompt,
				  uint32_t n_prompt, const struct t_ref_params *p, int32_t *out)
{
	struct hc_sampling s = { .temperature = p->temperature, .top_p = p->top_p,
				 .top_k = p->top_k, .seed = p->seed };
	struct hc_prob_index *scratch;
	struct hc_model *m;
	struct hc_rom *rom;
	struct hc_kv *kv;
	char err[256];
	float *logits;
	uint32_t vocab, n = 0, i;
	int32_t tok;

	ck_assert_msg(hc_rom_open(rom_path, &rom, err, sizeof(err)) == 0, "%s", err);
	ck_assert_msg(hc_model_new(rom, 1, HC_PATH_AUTO, &m, err, sizeof(err)) == 0, "%s", err);
	vocab = hc_model_arch(m)->vocab_size;
	kv = hc_kv_new(m, 0);
	ck_assert_ptr_nonnull(kv);
	logits = malloc(vocab * sizeof(*logits));
	scratch = malloc(vocab * sizeof(*scratch));
	ck_assert_int_eq(hc_forward(m, kv, prompt, n_prompt, logits), 0);
	while (n < p->max_tokens) {
		tok = hc_sample(logits, vocab, &s, n, scratch);
		out[n++] = tok;
		for (i = 0; i < p->n_stop; i++)
			if (tok == p->stop_ids[i])
				goto done;
		if (n == p->max_tokens)
			break;
		i = hc_forward(m, kv, &tok, 1, logits);
		if ((int)i == -ENOSPC)
			break;	/* the card ends such a decode with CONTEXT_FULL */
		ck_assert_int_eq(i, 0);
	}
done:
	free(scratch);
	free(logits);
	hc_kv_free(kv);
	hc_model_free(m);
	hc_rom_close(rom);
	return n;
}

uint32_t t_drain(struct hc_stream *s, int32_t *out, uint32_t cap, struct hc_stream_status *st)
{
	const uint32_t *t;
	uint32_t n = 0, k, i;
	int r;

	for (;;) {
		k = hc_stream_peek(s, &t);
		if (!k) {
			r = hc_stream_status(s, st);
			ck_assert_int_ge(r, 0);
			if (r)
				return n;
			ck_assert_int_ge(hc_stream_wait(&s, 1, -1), 0);
			continue;
		}
		ck_assert_uint_le(n + k, cap);
		for (i = 0; i < k; i++)
			out[n++] = (int32_t)t[i];
		hc_stream_advance(s, k);
	}
}

uint32_t t_generate(struct hc_card *card, const int32_t *prompt, uint32_t n_prompt,
		    const struct t_ref_params *p, int32_t *out, struct hc_stream_status *st)
{
	struct hc_decode_params dp = { .max_tokens = p->max_tokens, .temperature = p->temperature,
				       .top_p = p->top_p, .top_k = p->top_k, .seed = p->seed };
	struct hc_stream *s;
	struct hc_ctx *ctx;
	uint32_t n, i;
	int r;

	for (i = 0; i < p->n_stop; i++)
		dp.stop_ids[i] = p->stop_ids[i];
	dp.n_stop = p->n_stop;
	r = hc_ctx_create(card, &ctx);
	ck_assert_msg(r == 0, "hc_ctx_create: %s", hc_strerror(r));
	r = hc_ctx_prefill_tokens(ctx, prompt, n_prompt);
	ck_assert_msg(r == 0, "prefill: %s", hc_strerror(r));
	r = hc_ctx_decode(ctx, &dp, &s);
	ck_assert_msg(r == 0, "decode: %s", hc_strerror(r));
	n = t_drain(s, out, p->max_tokens, st);
	hc_stream_free(s);
	hc_ctx_destroy(ctx);
	return n;
}

int t_read_golden(const char *path, int32_t *prompt, uint32_t *n_prompt, int32_t *gen,
		  uint32_t *n_gen, uint32_t cap)
{
	FILE *f = fopen(path, "r");
	char *line = NULL, *p, *end;
	size_t lcap = 0;
	int section = 0;
	uint32_t np = 0, ng = 0;
	long v;

	if (!f)
		return -errno;
	while (getline(&line, &lcap, f) > 0) {
		if (line[0] == '#') {
			if (!strncmp(line, "# prompt_ids", 12))
				section = 1;
			else if (!strncmp(line, "# generated_ids", 15))
				section = 2;
			else
				section = 0;	/* logits blocks */
			continue;
		}
		for (p = line; section; p = end) {
			v = strtol(p, &end, 10);
			if (end == p)
				break;
			if (section == 1 && np < cap)
				prompt[np++] = (int32_t)v;
			else if (section == 2 && ng < cap)
				gen[ng++] = (int32_t)v;
		}
	}
	free(line);
	fclose(f);
	*n_prompt = np;
	*n_gen = ng;
	return np && ng ? 0 : -EINVAL;
}
