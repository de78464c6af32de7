// SPDX-License-Identifier: MIT
/*
 * hc-bake end to end: real and synthetic bakes load and hold the source's weights, bakes
 * are deterministic, and every kind of bad input ends with a non-zero exit and one line
 * naming the problem, leaving no partial ROM behind.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include "ckpt_writer.h"
#include "hc_test.h"
#include "bake.h"
#include "rom.h"

#define HC_BAKE "build/hc-bake"
#define HC_RUN "build/hc-run"
#define HC_EMUD "build/hc-emud"
/* A run here takes under a second, up to 20 s baking a real model on a loaded machine (more
 * under ASan); past this it hangs (a FIFO in open(), say). */
#define RUN_BOUND_MS 180000
#define STORIES "models/stories260K.bin"
#define L2TOK "models/llama2-tokenizer/tokenizer.bin"

struct tmp {
	char dir[64];
};

static void tmp_init(struct tmp *t)
{
	snprintf(t->dir, sizeof(t->dir), "/tmp/hc-test-bake-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(t->dir));
}

static const char *tpath(const struct tmp *t, const char *name)
{
	static char buf[4][256];
	static int i;

	i = (i + 1) % 4;
	snprintf(buf[i], sizeof(buf[i]), "%s/%s", t->dir, name);
	return buf[i];
}

static void tmp_fini(struct tmp *t)
{
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", t->dir);
	ck_assert_int_eq(system(cmd), 0);
}

/*
 * Run @prog with @argv (NULL-terminated, without the program); stdout/stderr captured.
 * Bounded: the wait is on the child's pidfd; one that hangs is killed and fails the test.
 */
static int run_prog(const struct tmp *t, const char *prog, char *out, size_t outlen,
		    char *errbuf, size_t errlen, const char *const *argv)
{
	const char *argv0[32] = { prog };
	char opath[256], epath[256];
	struct pollfd p = { .events = POLLIN };
	bool exited;
	int status, i;
	pid_t pid;

	for (i = 0; argv[i]; i++)
		argv0[i + 1] = argv[i];
	argv0[i + 1] = NULL;
	snprintf(opath, sizeof(opath), "%s/.stdout", t->dir);
	snprintf(epath, sizeof(epath), "%s/.stderr", t->dir);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		int o = open(opath, O_WRONLY | O_CREAT | O_TRUNC, 0644);
		int e = open(epath, O_WRONLY | O_CREAT | O_TRUNC, 0644);

		dup2(o, 1);
		dup2(e, 2);
		execv(prog, (char *const *)argv0);
		_exit(127);
	}
	p.fd = (int)syscall(SYS_pidfd_open, pid, 0);
	exited = p.fd >= 0 && poll(&p, 1, RUN_BOUND_MS) == 1;
	if (p.fd >= 0)
		close(p.fd);
	if (!exited)
		kill(pid, SIGKILL);
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert_msg(exited, "%s %s: still running after %d ms (killed)", prog, argv[0],
		      RUN_BOUND_MS);
	ck_assert_msg(WIFEXITED(status), "%s crashed (signal %d)", prog, WTERMSIG(status));
	ck_assert_msg(WEXITSTATUS(status) != 127, "cannot run %s", prog);
	for (int k = 0; k < 2; k++) {
		char *buf = k ? errbuf : out;
		size_t len = k ? errlen : outlen;
		FILE *f = fopen(k ? epath : opath, "r");
		size_t n;

		if (!buf)
			continue;
		ck_assert_ptr_nonnull(f);
		n = fread(buf, 1, len - 1, f);
		buf[n] = 0;
		fclose(f);
	}
	unlink(opath);
	unlink(epath);
	return WEXITSTATUS(status);
}

static int run(const struct tmp *t, char *out, size_t outlen, char *errbuf, size_t errlen,
	       const char *const *argv)
{
	return run_prog(t, HC_BAKE, out, outlen, errbuf, errlen, argv);
}

/*
 * Expect failure with exactly one stderr line containing @what, and neither x.rom (the
 * output every failing case names) nor its temporary x.rom.tmp.* left behind.
 */
static void expect_fail(const struct tmp *t, const char *what, const char *const *argv)
{
	char err[2048];
	int rc = run(t, NULL, 0, err, sizeof(err), argv);
	char *nl = strchr(err, '\n');
	DIR *d;
	struct dirent *e;

	ck_assert_msg(rc != 0, "%s: exit 0", what);
	ck_assert_msg(strstr(err, what), "expected '%s' in: %s", what, err);
	ck_assert_msg(nl && nl[1] == 0, "not one line: %s", err);
	d = opendir(t->dir);
	ck_assert_ptr_nonnull(d);
	while ((e = readdir(d)))
		ck_assert_msg(strncmp(e->d_name, "x.rom", 5) != 0, "left behind: %s", e->d_name);
	closedir(d);
}

/* Expect @prog to fail with @what in its stderr. */
static void expect_prog_fail(const struct tmp *t, const char *prog, const char *what,
			     const char *const *argv)
{
	char err[2048];
	int rc = run_prog(t, prog, NULL, 0, err, sizeof(err), argv);

	ck_assert_msg(rc != 0, "%s %s: exit 0", prog, argv[0]);
	ck_assert_msg(strstr(err, what), "%s: expected '%s' in: %s", prog, what, err);
}

static void copy_prefix(const char *from, const char *to, off_t len)
{
	int in = open(from, O_RDONLY), out = open(to, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	char buf[65536];

	ck_assert(in >= 0 && out >= 0);
	while (len > 0) {
		ssize_t n = read(in, buf, len < (off_t)sizeof(buf) ? (size_t)len : sizeof(buf));

		ck_assert_int_gt(n, 0);
		ck_assert_int_eq(write(out, buf, (size_t)n), n);
		len -= n;
	}
	close(in);
	close(out);
}

static struct hc_rom *open_rom(const char *path)
{
	struct hc_rom *rom;
	char err[512];

	ck_assert_msg(hc_rom_open(path, &rom, err, sizeof(err)) == 0, "%s", err);
	return rom;
}

START_TEST(test_cli_usage)
{
	struct tmp t;
	char out[8192], err[2048];

	tmp_init(&t);
	ck_assert_int_eq(run(&t, out, sizeof(out), NULL, 0, (const char *[]){ "--help", NULL }), 0);
	ck_assert_ptr_nonnull(strstr(out, "usage: hc-bake"));
	ck_assert_int_eq(run(&t, NULL, 0, err, sizeof(err),
			     (const char *[]){ "--bogus", NULL }), 2);
	ck_assert_int_eq(run(&t, NULL, 0, err, sizeof(err),
			     (const char *[]){ "--quant", "Q5", "--synthetic", "tiny", "-o",
					       tpath(&t, "x.rom"), NULL }), 2);
	ck_assert_ptr_nonnull(strstr(err, "Q5"));
	ck_assert_int_eq(run(&t, NULL, 0, err, sizeof(err),
			     (const char *[]){ "--synthetic", "tiny", NULL }), 2);
	ck_assert_ptr_nonnull(strstr(err, "-o"));
	expect_fail(&t, "unknown synthetic preset 'huge'",
		    (const char *[]){ "--synthetic", "huge", "-o", tpath(&t, "x.rom"), NULL });
	tmp_fini(&t);
}
END_TEST

START_TEST(test_synthetic_quant_and_determinism)
{
	static const char *const q[] = { "F32", "Q8", "Q4" };
	static const uint32_t wt[] = { HC_WTYPE_F32, HC_WTYPE_Q8_0, HC_WTYPE_Q4_0 };
	struct tmp t;
	char cmd[512];

	tmp_init(&t);
	for (int i = 0; i < 3; i++) {
		const char *a = tpath(&t, "a.rom"), *b = tpath(&t, "b.rom");
		struct hc_rom *ra, *rb;

		ck_assert_int_eq(run(&t, NULL, 0, NULL, 0, (const char *[]){
			"--quant", q[i], "--synthetic", "tiny", "-o", a, NULL }), 0);
		ck_assert_int_eq(run(&t, NULL, 0, NULL, 0, (const char *[]){
			"--synthetic", "tiny", "-o", b, "--quant", q[i], NULL }), 0);
		snprintf(cmd, sizeof(cmd), "cmp -s '%s' '%s'", a, b);
		ck_assert_msg(system(cmd) == 0, "%s bakes differ", q[i]);
		ra = open_rom(a);
		ck_assert_uint_eq(hc_rom_header(ra)->wtype, wt[i]);
		ck_assert_uint_eq(hc_rom_find(ra, "blk.2.ffn_down.weight")->type, wt[i]);
		ck_assert_uint_eq(hc_rom_find(ra, "blk.2.ffn_norm.weight")->type, HC_WTYPE_F32);
		/* another seed: other weights, other identity */
		ck_assert_int_eq(run(&t, NULL, 0, NULL, 0, (const char *[]){
			"--quant", q[i], "--synthetic", "tiny", "--seed", "2", "-o", b, NULL }), 0);
		rb = open_rom(b);
		ck_assert_int_ne(memcmp(hc_rom_header(ra)->identity, hc_rom_header(rb)->identity,
					32), 0);
		hc_rom_close(ra);
		hc_rom_close(rb);
	}
	tmp_fini(&t);
}
END_TEST

/* Presets have the documented shapes (checked without writing the large ones). */
START_TEST(test_presets)
{
	static const struct { const char *name; uint32_t vocab, dim, layers, heads, kv, ffn; }
	p[] = {
		{ "tiny", 512, 128, 4, 4, 2, 384 },
		{ "15M", 32000, 288, 6, 6, 6, 768 },
		{ "110M", 32000, 768, 12, 12, 12, 2048 },
		{ "llama3.1-8b", 128256, 4096, 32, 32, 8, 14336 },
	};
	for (size_t i = 0; i < sizeof(p) / sizeof(p[0]); i++) {
		struct bake_source *src;
		char err[512];
		float row[64];

		ck_assert_msg(bake_open_synthetic(p[i].name, 1, &src, err, sizeof(err)) == 0, "%s",
			      err);
		ck_assert_uint_eq(src->arch.vocab_size, p[i].vocab);
		ck_assert_uint_eq(src->arch.dim, p[i].dim);
		ck_assert_uint_eq(src->arch.n_layers, p[i].layers);
		ck_assert_uint_eq(src->arch.n_heads, p[i].heads);
		ck_assert_uint_eq(src->arch.n_kv_heads, p[i].kv);
		ck_assert_uint_eq(src->arch.ffn_dim, p[i].ffn);
		ck_assert_uint_eq(src->n_tensors, hc_rom_n_expected(&src->arch));
		ck_assert_uint_eq(src->tok->n_vocab, p[i].vocab);
		ck_assert_uint_eq(src->arch.dim % 32, 0);
		ck_assert_uint_eq(src->arch.ffn_dim % 32, 0);
		if (i == 3) {
			ck_assert_uint_eq(src->arch.rope_scaling, HC_ROPE_LLAMA3);
			ck_assert(src->arch.rope_factor == 8.0f && src->arch.rope_theta == 500000.0f);
			ck_assert_uint_eq(src->arch.rope_orig_ctx, 8192);
		}
		(void)row;
		src->close(src);
	}
}
END_TEST

START_TEST(test_bad_inputs)
{
	char path[512], tok[512];
	struct tmp t;
	uint8_t junk[4096];

	HC_REQUIRE_SHARED(STORIES, path);
	HC_REQUIRE_SHARED(L2TOK, tok);
	tmp_init(&t);
	/* llama2.c carries no tokenizer */
	expect_fail(&t, "carry no tokenizer",
		    (const char *[]){ path, "-o", tpath(&t, "x.rom"), NULL });
	/* a tokenizer of another vocabulary */
	expect_fail(&t, "tokenizer has 32000 tokens but the model's vocabulary is 512",
		    (const char *[]){ path, "--tokenizer", tok, "-o", tpath(&t, "x.rom"), NULL });
	expect_fail(&t, "cannot open tokenizer",
		    (const char *[]){ path, "--tokenizer", tpath(&t, "none.bin"), "-o",
				      tpath(&t, "x.rom"), NULL });
	/* truncated checkpoint */
	copy_prefix(path, tpath(&t, "trunc.bin"), 1056540 - 4);
	expect_fail(&t, "truncated: the llama2.c v0 header implies 1056540 bytes, the file has 1056536",
		    (const char *[]){ tpath(&t, "trunc.bin"), "--tokenizer", "builtin", "-o",
				      tpath(&t, "x.rom"), NULL });
	copy_prefix(path, tpath(&t, "trunc.bin"), 20);
	expect_fail(&t, "truncated",
		    (const char *[]){ tpath(&t, "trunc.bin"), "--tokenizer", "builtin", "-o",
				      tpath(&t, "x.rom"), NULL });
	/* no recognisable format */
	for (size_t i = 0; i < sizeof(junk); i++)
		junk[i] = (uint8_t)(i * 7 + 3);
	cw_write_file(tpath(&t, "junk.bin"), junk, sizeof(junk));
	expect_fail(&t, "unrecognised format",
		    (const char *[]){ tpath(&t, "junk.bin"), "--tokenizer", "builtin", "-o",
				      tpath(&t, "x.rom"), NULL });
	expect_fail(&t, "cannot open",
		    (const char *[]){ tpath(&t, "missing.bin"), "-o", tpath(&t, "x.rom"), NULL });
	mkdir(tpath(&t, "hf"), 0755);
	expect_fail(&t, "not a Hugging Face checkpoint",
		    (const char *[]){ tpath(&t, "hf"), "-o", tpath(&t, "x.rom"), NULL });
	/* llama2.c version 2 (int8) */
	{
		uint8_t v2[256] = { 0x32, 0x34, 0x6b, 0x61, 2 };

		cw_write_file(tpath(&t, "v2.bin"), v2, sizeof(v2));
		expect_fail(&t, "version 2",
			    (const char *[]){ tpath(&t, "v2.bin"), "--tokenizer", "builtin", "-o",
					      tpath(&t, "x.rom"), NULL });
	}
	/* stories260K's ffn 172 does not split into blocks of 32 */
	expect_fail(&t, "'blk.0.ffn_down.weight' row length 172 is not a multiple of 32",
		    (const char *[]){ path, "--tokenizer", "builtin", "--quant", "Q8", "-o",
				      tpath(&t, "x.rom"), NULL });
	/* output not writable */
	cw_write_file(tpath(&t, "file"), "x", 1);
	expect_fail(&t, "cannot create output",
		    (const char *[]){ "--synthetic", "tiny", "-o", tpath(&t, "file/x.rom"), NULL });
	/* --info on something that is not a ROM */
	expect_fail(&t, "bad magic", (const char *[]){ "--info", tpath(&t, "junk.bin"), NULL });
	tmp_fini(&t);
}
END_TEST

static void read_at(const char *path, void *buf, size_t len, off_t off)
{
	int fd = open(path, O_RDONLY);

	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(pread(fd, buf, len, off), (ssize_t)len);
	close(fd);
}

/*
 * stories260K (llama2.c legacy): bakes, --info shows its shape, the ROM holds the file's
 * exact floats; the same weights exported in the version 1 layout give the same ROM.
 */
START_TEST(test_stories260k)
{
	const struct hc_rom_tensor *te;
	char path[512], out[16384], cmd[1024];
	struct hc_rom *rom;
	struct tmp t;
	float *want;

	HC_REQUIRE_SHARED(STORIES, path);
	tmp_init(&t);
	ck_assert_int_eq(run(&t, NULL, 0, NULL, 0, (const char *[]){
		path, "--tokenizer", "builtin", "-o", tpath(&t, "s.rom"), NULL }), 0);
	ck_assert_int_eq(run(&t, out, sizeof(out), NULL, 0, (const char *[]){
		"--info", tpath(&t, "s.rom"), NULL }), 0);
	ck_assert_msg(strstr(out, "vocab 512, dim 64, layers 5, heads 8, kv heads 4, head dim 8, ffn 172"),
		      "%s", out);
	ck_assert_ptr_nonnull(strstr(out, "tied"));
	ck_assert_ptr_nonnull(strstr(out, "context:     512"));
	ck_assert_ptr_nonnull(strstr(out, "blk.4.ffn_down.weight"));
	ck_assert_ptr_nonnull(strstr(out, "[172, 64]"));
	ck_assert_ptr_nonnull(strstr(out, "identity:"));

	rom = open_rom(tpath(&t, "s.rom"));
	ck_assert_str_eq(hc_rom_header(rom)->name, "stories260K");
	ck_assert_ptr_null(hc_rom_find(rom, "output.weight"));
	/* token_embd is the first group after the 28-byte header */
	want = malloc(512 * 64 * 4);
	te = hc_rom_find(rom, "token_embd.weight");
	read_at(path, want, 512 * 64 * 4, 28);
	ck_assert_int_eq(memcmp(hc_rom_data(rom, te), want, 512 * 64 * 4), 0);
	/* blk.2.attn_k: after embd, 5 attn norms, 5 wq (64x64), 2 wk (32x64) */
	te = hc_rom_find(rom, "blk.2.attn_k.weight");
	read_at(path, want, 32 * 64 * 4, 28 + 4 * (32768 + 320 + 5 * 4096 + 2 * 2048));
	ck_assert_int_eq(memcmp(hc_rom_data(rom, te), want, 32 * 64 * 4), 0);
	/* output_norm: after ... w3, before freq_cis */
	te = hc_rom_find(rom, "output_norm.weight");
	read_at(path, want, 64 * 4, 1056540 - 4096 * 4 - 64 * 4);
	ck_assert_int_eq(memcmp(hc_rom_data(rom, te), want, 64 * 4), 0);
	free(want);

	/* the version 1 layout of the same weights: norms first, no freq_cis */
	{
		static const struct { off_t off; size_t len; } v0[] = {
			{ 28 + 4 * 32768, 4 * 320 },			/* attn norms */
			{ 28 + 4 * (32768 + 320 + 40960 + 20480), 4 * 320 },	/* ffn norms */
			{ 1056540 - 4096 * 4 - 64 * 4, 4 * 64 },	/* final norm */
			{ 28, 4 * 32768 },				/* embeddings */
			{ 28 + 4 * (32768 + 320), 4 * 61440 },		/* wq wk wv wo */
			{ 28 + 4 * (32768 + 320 + 61440 + 320), 4 * 165120 },	/* w1 w2 w3 */
		};
		int32_t hdr[9] = { 0x616b3432, 1, 64, 172, 5, 8, 4, 512, 512 };
		uint8_t head[256] = { 0 };
		char *buf = malloc(4 * 165120);
		int fd;

		mkdir(tpath(&t, "v1"), 0755);
		memcpy(head, hdr, sizeof(hdr));
		head[36] = 1;	/* shared classifier */
		fd = open(tpath(&t, "v1/stories260K.bin"), O_WRONLY | O_CREAT | O_TRUNC, 0644);
		ck_assert_int_eq(write(fd, head, 256), 256);
		for (size_t i = 0; i < sizeof(v0) / sizeof(v0[0]); i++) {
			read_at(path, buf, v0[i].len, v0[i].off);
			ck_assert_int_eq(write(fd, buf, v0[i].len), (ssize_t)v0[i].len);
		}
		close(fd);
		free(buf);
		ck_assert_int_eq(run(&t, NULL, 0, NULL, 0, (const char *[]){
			tpath(&t, "v1/stories260K.bin"), "--tokenizer", "builtin", "-o",
			tpath(&t, "v1.rom"), NULL }), 0);
		snprintf(cmd, sizeof(cmd), "cmp -s '%s' '%s'", tpath(&t, "s.rom"), tpath(&t, "v1.rom"));
		ck_assert_msg(system(cmd) == 0, "v0 and v1 exports bake differently");
	}
	hc_rom_close(rom);
	tmp_fini(&t);
}
END_TEST

/*
 * llama.cpp's BF16 fixture re-quantized by hc-bake and its Q8_0 fixture (llama-quantize's
 * blocks, copied unchanged) must give the same ROM, byte for byte.
 */
START_TEST(test_q8_rom_matches_llama_quantize)
{
	char bf[512], q8[512], cmd[1024];
	struct tmp t;

	HC_REQUIRE_SHARED("models/gguf/tiny-llama3-BF16.gguf", bf);
	HC_REQUIRE_SHARED("models/gguf/tiny-llama3-Q8_0.gguf", q8);
	tmp_init(&t);
	ck_assert_int_eq(run(&t, NULL, 0, NULL, 0, (const char *[]){
		bf, "--quant", "Q8", "-o", tpath(&t, "bf.rom"), NULL }), 0);
	ck_assert_int_eq(run(&t, NULL, 0, NULL, 0, (const char *[]){
		q8, "--quant", "Q8", "-o", tpath(&t, "q8.rom"), NULL }), 0);
	snprintf(cmd, sizeof(cmd), "cmp '%s' '%s'", tpath(&t, "bf.rom"), tpath(&t, "q8.rom"));
	ck_assert_msg(system(cmd) == 0, "re-quantized BF16 differs from llama-quantize's Q8_0");
	tmp_fini(&t);
}
END_TEST

/* --tokenizer sets a synthetic model's vocabulary; for GGUF it replaces the file's own. */
START_TEST(test_tokenizer_option)
{
	char l2[512], js[512], gg[512], out[16384];
	struct tmp t;

	HC_REQUIRE_SHARED(L2TOK, l2);
	HC_REQUIRE_SHARED("models/tiny-llama3-hf/tokenizer.json", js);
	HC_REQUIRE_SHARED("models/gguf/stories260K-F32.gguf", gg);
	tmp_init(&t);
	ck_assert_int_eq(run(&t, NULL, 0, NULL, 0, (const char *[]){
		"--synthetic", "tiny", "--quant", "Q4", "--tokenizer", l2, "-o",
		tpath(&t, "a.rom"), NULL }), 0);
	ck_assert_int_eq(run(&t, out, sizeof(out), NULL, 0, (const char *[]){
		"--info", tpath(&t, "a.rom"), NULL }), 0);
	ck_assert_msg(strstr(out, "vocab 32000, dim 128") && strstr(out, "32000 tokens"), "%s",
		      out);
	ck_assert_int_eq(run(&t, NULL, 0, NULL, 0, (const char *[]){
		"--synthetic", "tiny", "--quant", "Q4", "--tokenizer", js, "-o",
		tpath(&t, "b.rom"), NULL }), 0);
	ck_assert_int_eq(run(&t, out, sizeof(out), NULL, 0, (const char *[]){
		"--info", tpath(&t, "b.rom"), NULL }), 0);
	ck_assert_msg(strstr(out, "vocab 128256, dim 128") && strstr(out, "128256 tokens"), "%s",
		      out);
	ck_assert_int_eq(run(&t, NULL, 0, NULL, 0, (const char *[]){
		gg, "--tokenizer", "builtin", "-o", tpath(&t, "c.rom"), NULL }), 0);
	expect_fail(&t, "tokenizer has 32000 tokens but the model's vocabulary is 512",
		    (const char *[]){ gg, "--tokenizer", l2, "-o", tpath(&t, "x.rom"), NULL });
	tmp_fini(&t);
}
END_TEST

/* A fake source to reach the writer's own checks. */
static int fake_read(struct bake_source *src, uint32_t i, uint64_t row0, uint64_t n,
		     float *dst, char *err, size_t errlen)
{
	memset(dst, 0, n * src->tensors[i].shape[0] * sizeof(float));
	return 0;
}

static int fake_read_fails(struct bake_source *src, uint32_t i, uint64_t row0, uint64_t n,
			   float *dst, char *err, size_t errlen)
{
	if (i == 10) {
		snprintf(err, errlen, "fake: tensor %u unreadable", i);
		return -EIO;
	}
	return fake_read(src, i, row0, n, dst, err, errlen);
}

static int dir_entries(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	int n = 0;

	ck_assert_ptr_nonnull(d);
	while ((e = readdir(d)))
		n += e->d_name[0] != '.';
	closedir(d);
	return n;
}

START_TEST(test_writer_rejects)
{
	struct bake_source *src;
	struct tmp t;
	char err[512];

	tmp_init(&t);
	ck_assert_int_eq(bake_open_synthetic("tiny", 1, &src, err, sizeof(err)), 0);
	src->read_rows_f32 = fake_read;
	src->tensors[2].shape[1] += 1;
	ck_assert_int_ne(bake_write_rom(src, HC_WTYPE_F32, tpath(&t, "x.rom"), 0, err,
					sizeof(err)), 0);
	ck_assert_msg(strstr(err, "shape mismatch") && strstr(err, src->tensors[2].name), "%s",
		      err);
	src->tensors[2].shape[1] -= 1;
	src->tensors[3].type = 12;	/* GGML Q4_K */
	ck_assert_int_ne(bake_write_rom(src, HC_WTYPE_F32, tpath(&t, "x.rom"), 0, err,
					sizeof(err)), 0);
	ck_assert_msg(strstr(err, "unsupported type") && strstr(err, src->tensors[3].name), "%s",
		      err);
	src->tensors[3].type = HC_WTYPE_F32;
	/* a read error half way: the error is passed on and no file is left */
	src->read_rows_f32 = fake_read_fails;
	ck_assert_int_eq(bake_write_rom(src, HC_WTYPE_F32, tpath(&t, "x.rom"), 0, err,
					sizeof(err)), -EIO);
	ck_assert_str_eq(err, "fake: tensor 10 unreadable");
	ck_assert_int_eq(dir_entries(t.dir), 0);
	src->read_rows_f32 = fake_read;
	snprintf(src->tensors[4].name, sizeof(src->tensors[4].name), "blk.0.attn_x.weight");
	ck_assert_int_ne(bake_write_rom(src, HC_WTYPE_F32, tpath(&t, "x.rom"), 0, err,
					sizeof(err)), 0);
	ck_assert_msg(strstr(err, "unexpected tensor 'blk.0.attn_x.weight'"), "%s", err);
	src->n_tensors--;	/* drop output.weight: count no longer fits untied */
	snprintf(src->tensors[4].name, sizeof(src->tensors[4].name), "blk.0.attn_v.weight");
	src->arch.head_dim = 16;
	ck_assert_int_ne(bake_write_rom(src, HC_WTYPE_F32, tpath(&t, "x.rom"), 0, err,
					sizeof(err)), 0);
	ck_assert_msg(strstr(err, "head_dim"), "%s", err);
	src->arch.head_dim = 32;
	/* without output.weight the ROM becomes tied and bakes */
	ck_assert_msg(bake_write_rom(src, HC_WTYPE_Q4_0, tpath(&t, "x.rom"), 0, err,
				     sizeof(err)) == 0, "%s", err);
	{
		struct hc_rom *rom = open_rom(tpath(&t, "x.rom"));

		ck_assert(hc_rom_header(rom)->arch.flags & HC_ARCH_TIED_CLASSIFIER);
		hc_rom_close(rom);
	}
	src->n_tensors++;
	src->close(src);
	tmp_fini(&t);
}
END_TEST

/*
 * Input paths that are not regular files: a FIFO (nobody writes it: open() without
 * O_NONBLOCK would wait forever) as ROM, checkpoint, tokenizer and Hugging Face config, to
 * each tool that reads one. Each is refused at once, naming the path and what it is.
 */
START_TEST(test_fifo_inputs)
{
	const char *fifo_msg = "fifo: not a regular file (a FIFO)";
	struct tmp t;
	char fifo[256];

	tmp_init(&t);
	snprintf(fifo, sizeof(fifo), "%s", tpath(&t, "fifo"));	/* tpath() buffers rotate */
	ck_assert_int_eq(mkfifo(fifo, 0600), 0);
	expect_fail(&t, fifo_msg, (const char *[]){ "--info", fifo, NULL });
	expect_fail(&t, fifo_msg, (const char *[]){ fifo, "-o", tpath(&t, "x.rom"), NULL });
	expect_fail(&t, fifo_msg, (const char *[]){ "--synthetic", "tiny", "-t", fifo, "-o",
						    tpath(&t, "x.rom"), NULL });
	/* a Hugging Face directory whose config.json is a FIFO */
	ck_assert_int_eq(mkdir(tpath(&t, "hf"), 0755), 0);
	ck_assert_int_eq(mkfifo(tpath(&t, "hf/config.json"), 0600), 0);
	expect_fail(&t, "config.json: not a regular file (a FIFO)",
		    (const char *[]){ tpath(&t, "hf"), "-o", tpath(&t, "x.rom"), NULL });
	expect_prog_fail(&t, HC_RUN, fifo_msg,
			 (const char *[]){ "--rom", fifo, "--prompt-ids", "1", "-n", "1", NULL });
	expect_prog_fail(&t, HC_EMUD, fifo_msg,
			 (const char *[]){ "--rom", fifo, "--socket", tpath(&t, "emud.sock"),
					   NULL });
	/* the FIFO is still there, untouched */
	{
		struct stat st;

		ck_assert_int_eq(lstat(fifo, &st), 0);
		ck_assert(S_ISFIFO(st.st_mode));
	}
	tmp_fini(&t);
}
END_TEST

/* No file in @dir whose name starts with @prefix (a temporary output left behind). */
static void assert_none_like(const char *dir, const char *prefix)
{
	DIR *d = opendir(dir);
	struct dirent *e;

	ck_assert_ptr_nonnull(d);
	while ((e = readdir(d)))
		ck_assert_msg(strncmp(e->d_name, prefix, strlen(prefix)) != 0, "left behind: %s",
			      e->d_name);
	closedir(d);
}

/*
 * The output must be a regular file or a new path: a device node or a FIFO named by -o is
 * refused and left as it was (the atomic write would have renamed a regular file over it).
 * The device nodes are made in the test's own directory, never the system's.
 */
START_TEST(test_output_not_regular)
{
	static const struct { const char *name; mode_t mode; unsigned major, minor; } nodes[] = {
		{ "full", S_IFCHR, 1, 7 },	/* what /dev/full is */
		{ "null", S_IFCHR, 1, 3 },	/* what /dev/null is */
		{ "fifo", S_IFIFO, 0, 0 },
	};
	struct tmp t;
	size_t i;

	tmp_init(&t);
	for (i = 0; i < sizeof(nodes) / sizeof(nodes[0]); i++) {
		const char *path = tpath(&t, nodes[i].name);
		char tmpname[32];
		struct stat st;

		if (nodes[i].mode == S_IFCHR && geteuid() != 0) {
			printf("SKIP: %s: -o %s: mknod needs root\n", hc_test_current,
			       nodes[i].name);
			fflush(stdout);
			continue;
		}
		ck_assert_int_eq(mknod(path, nodes[i].mode | 0666,
				       makedev(nodes[i].major, nodes[i].minor)), 0);
		expect_fail(&t, "is not a regular file",
			    (const char *[]){ "--synthetic", "tiny", "-o", path, NULL });
		ck_assert_int_eq(lstat(path, &st), 0);
		ck_assert_msg((st.st_mode & S_IFMT) == nodes[i].mode, "-o %s: replaced",
			      nodes[i].name);
		snprintf(tmpname, sizeof(tmpname), "%s.tmp", nodes[i].name);
		assert_none_like(t.dir, tmpname);
	}
	tmp_fini(&t);
}
END_TEST

/* Messages that name the actual problem (issue 14, item 5). */
START_TEST(test_messages)
{
	char err[2048];
	struct tmp t;

	tmp_init(&t);
	expect_fail(&t, "hc-bake: -o: the output path is empty",
		    (const char *[]){ "--synthetic", "tiny", "-o", "", NULL });
	if (geteuid() == 0) {
		/* a device as tokenizer: what /dev/zero is, made here */
		ck_assert_int_eq(mknod(tpath(&t, "zero"), S_IFCHR | 0666, makedev(1, 5)), 0);
		expect_fail(&t, "zero: not a regular file (a character device)",
			    (const char *[]){ "--synthetic", "tiny", "-t", tpath(&t, "zero"), "-o",
					      tpath(&t, "x.rom"), NULL });
	} else {
		printf("SKIP: %s: -t DEVICE: mknod needs root\n", hc_test_current);
		fflush(stdout);
	}
	/* --seed: the same range and the same words in hc-bake and hc-run */
	expect_fail(&t, "hc-bake: --seed: '-1' is not an integer in [0, 18446744073709551615]",
		    (const char *[]){ "--synthetic", "tiny", "--seed", "-1", "-o",
				      tpath(&t, "x.rom"), NULL });
	expect_prog_fail(&t, HC_RUN,
			 "hc-run: --seed: '-1' is not an integer in [0, 18446744073709551615]",
			 (const char *[]){ "--seed", "-1", NULL });
	expect_fail(&t, "hc-bake: --seed: ' 7' is not an integer in [0, 18446744073709551615]",
		    (const char *[]){ "--synthetic", "tiny", "--seed", " 7", "-o",
				      tpath(&t, "x.rom"), NULL });
	ck_assert_int_eq(run(&t, NULL, 0, err, sizeof(err),
			     (const char *[]){ "--synthetic", "tiny", "--seed",
					       "18446744073709551615", "-o", tpath(&t, "x.rom"),
					       NULL }), 0);
	/* integer options print integer ranges, and take integers only */
	expect_prog_fail(&t, HC_RUN, "hc-run: -n: '-1' is not an integer in [0, 1073741824]",
			 (const char *[]){ "-n", "-1", NULL });
	expect_prog_fail(&t, HC_RUN, "hc-run: -n: '2.5' is not an integer in [0, 1073741824]",
			 (const char *[]){ "-n", "2.5", NULL });
	expect_prog_fail(&t, HC_RUN, "hc-run: -t: '0' is not an integer in [1, 256]",
			 (const char *[]){ "-t", "0", NULL });
	tmp_fini(&t);
}
END_TEST

static Suite *bake_suite(void)
{
	Suite *s = suite_create("bake");
	TCase *tc = hc_tcase(s, "bake", 300);

	tcase_add_test(tc, test_cli_usage);
	tcase_add_test(tc, test_synthetic_quant_and_determinism);
	tcase_add_test(tc, test_presets);
	tcase_add_test(tc, test_bad_inputs);
	tcase_add_test(tc, test_stories260k);
	tcase_add_test(tc, test_writer_rejects);
	tcase_add_test(tc, test_q8_rom_matches_llama_quantize);
	tcase_add_test(tc, test_tokenizer_option);
	tcase_add_test(tc, test_fifo_inputs);
	tcase_add_test(tc, test_output_not_regular);
	tcase_add_test(tc, test_messages);
	return s;
}

HC_TEST_MAIN(bake_suite)
