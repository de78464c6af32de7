// SPDX-License-Identifier: MIT
/*
 * hc-run: generate text with a baked model.
 *   hc-run [-d DEVICE] [options] "prompt"     on a card through libhc (run_card.c)
 *   hc-run --rom FILE [options] "prompt"      in-process emulator (run_direct.c)
 * Text streams to stdout as tokens are made; timings go to stderr.
 */
#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "hc/hc_version.h"
#include "run.h"
#include "run_card.h"

static void usage(FILE *f)
{
	fprintf(f,
		"usage: hc-run [-d DEVICE | --rom FILE] [options] [\"prompt\"]\n"
		"  -d, --device DEV  card to use: emu:/path/to/socket or /dev/accel/accelN\n"
		"                    (default: $HC_DEVICE, then discovery; see libhc(7))\n"
		"  --rom FILE        run the ROM in-process instead (exact emulator forward pass)\n"
		"  -i                interactive chat on the card, history kept in one context;\n"
		"                    Ctrl-C stops an answer, /reset starts over, /quit ends\n"
		"  --system TEXT     -i: system prompt at the start of the conversation\n"
		"  -n N              tokens to generate (default 256)\n"
		"  -t THREADS        worker threads for --rom (default: the CPUs it may use)\n"
		"  --temp T          temperature (default 0: greedy)\n"
		"  --top-k K         keep the K most likely tokens (0: off)\n"
		"  --top-p P         nucleus sampling (0 or 1: off)\n"
		"  --seed S          sampling seed (default 1)\n"
		"  --bos             put BOS before a text prompt\n"
		"  --no-parse-special  take \"<|eot_id|>\"-like text in a prompt literally\n"
		"                    (default: it is the special token, as in llama.cpp)\n"
		"  --chat            wrap the prompt as a user message in the model's chat format\n"
		"  --prompt-ids L    comma-separated prompt ids, used as given\n"
		"  --tokenize        print the prompt's ids and exit\n"
		"  --print-ids       print generated ids instead of text\n"
		"  --ignore-eos      do not stop at end-of-generation tokens\n"
		"  --reference       plain C reference path (same bits, slower)\n"
		"  -h, --help        this text\n"
		"  -V, --version     print the version and exit\n");
}

enum {
	OPT_ROM = 256, OPT_TEMP, OPT_TOPK, OPT_TOPP, OPT_SEED, OPT_BOS, OPT_CHAT, OPT_IDS,
	OPT_TOKENIZE, OPT_PRINT_IDS, OPT_IGNORE_EOS, OPT_REFERENCE, OPT_NO_SPECIAL, OPT_SYSTEM,
};

struct cli {
	struct run_opts o;
	struct run_gen g;
	const char *prompt;
	const char *prompt_ids;
	const char *system;		/* -i: the system prompt */
	int bos, chat, tokenize, print_ids, ignore_eos, interactive, no_special;
};

static int parse_num(const char *s, const char *what, double lo, double hi, double *out)
{
	char *end;
	double v;

	errno = 0;
	v = strtod(s, &end);
	if (errno || end == s || *end || !(v >= lo && v <= hi)) {
		fprintf(stderr, "hc-run: %s: '%s' is not a number in [%g, %g]\n", what, s, lo, hi);
		return -1;
	}
	*out = v;
	return 0;
}

/*
 * An integer in [@lo, @hi]; the range is printed as integers. Digits first: strtoull would
 * take "-1" (or " -1") and wrap it. hc-bake --seed says the same words.
 */
static int parse_uint(const char *s, const char *what, uint64_t lo, uint64_t hi,
		      uint64_t *out)
{
	char *end = NULL;
	uint64_t v = 0;

	errno = 0;
	if (isdigit((unsigned char)s[0]))
		v = strtoull(s, &end, 0);
	if (!end || errno || *end || v < lo || v > hi) {
		fprintf(stderr, "hc-run: %s: '%s' is not an integer in [%llu, %llu]\n", what, s,
			(unsigned long long)lo, (unsigned long long)hi);
		return -1;
	}
	*out = v;
	return 0;
}

static int parse_args(int argc, char **argv, struct cli *c)
{
	static const struct option opts[] = {
		{ "rom", required_argument, NULL, OPT_ROM },
		{ "device", required_argument, NULL, 'd' },
		{ "temp", required_argument, NULL, OPT_TEMP },
		{ "top-k", required_argument, NULL, OPT_TOPK },
		{ "top-p", required_argument, NULL, OPT_TOPP },
		{ "seed", required_argument, NULL, OPT_SEED },
		{ "bos", no_argument, NULL, OPT_BOS },
		{ "no-parse-special", no_argument, NULL, OPT_NO_SPECIAL },
		{ "chat", no_argument, NULL, OPT_CHAT },
		{ "prompt-ids", required_argument, NULL, OPT_IDS },
		{ "tokenize", no_argument, NULL, OPT_TOKENIZE },
		{ "print-ids", no_argument, NULL, OPT_PRINT_IDS },
		{ "ignore-eos", no_argument, NULL, OPT_IGNORE_EOS },
		{ "system", required_argument, NULL, OPT_SYSTEM },
		{ "reference", no_argument, NULL, OPT_REFERENCE },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ 0 }
	};
	double v;
	uint64_t u;
	int ch;

	c->o.n_threads = hc_model_default_threads();
	c->g.max_new = 256;
	c->g.sampling.seed = 1;
	while ((ch = getopt_long(argc, argv, "d:n:t:hiV", opts, NULL)) != -1) {
		switch (ch) {
		case OPT_ROM: c->o.rom_path = optarg; break;
		case 'd': c->o.device = optarg; break;
		case 'i': c->interactive = 1; break;
		case OPT_SYSTEM: c->system = optarg; break;
		case 'n':
			if (parse_uint(optarg, "-n", 0, 1 << 30, &u))
				return -1;
			c->g.max_new = (uint32_t)u;
			break;
		case 't':
			if (parse_uint(optarg, "-t", 1, 256, &u))
				return -1;
			c->o.n_threads = (int)u;
			break;
		case OPT_TEMP:
			if (parse_num(optarg, "--temp", 0, 100, &v))
				return -1;
			c->g.sampling.temperature = (float)v;
			break;
		case OPT_TOPK:
			if (parse_uint(optarg, "--top-k", 0, 1 << 30, &u))
				return -1;
			c->g.sampling.top_k = (uint32_t)u;
			break;
		case OPT_TOPP:
			if (parse_num(optarg, "--top-p", 0, 1, &v))
				return -1;
			c->g.sampling.top_p = (float)v;
			break;
		case OPT_SEED:
			if (parse_uint(optarg, "--seed", 0, UINT64_MAX, &u))
				return -1;
			c->g.sampling.seed = u;
			break;
		case OPT_BOS: c->bos = 1; break;
		case OPT_NO_SPECIAL: c->no_special = 1; break;
		case OPT_CHAT: c->chat = 1; break;
		case OPT_IDS: c->prompt_ids = optarg; break;
		case OPT_TOKENIZE: c->tokenize = 1; break;
		case OPT_PRINT_IDS: c->print_ids = 1; break;
		case OPT_IGNORE_EOS: c->ignore_eos = 1; break;
		case OPT_REFERENCE: c->o.reference = 1; break;
		case 'h': usage(stdout); exit(0);
		case 'V': printf("hc-run " HC_VERSION_STRING "\n"); exit(0);
		default: usage(stderr); return -1;
		}
	}
	if (optind < argc)
		c->prompt = argv[optind++];
	if (optind < argc) {
		fprintf(stderr, "hc-run: one prompt argument expected, got '%s' too (quote it)\n",
			argv[optind]);
		return -1;
	}
	if (c->o.rom_path && c->o.device) {
		fprintf(stderr, "hc-run: give one of --rom FILE or -d DEVICE, not both\n");
		return -1;
	}
	if (c->system && !c->interactive) {
		fprintf(stderr, "hc-run: --system goes with -i\n");
		return -1;
	}
	if (c->interactive && (c->o.rom_path || c->prompt || c->prompt_ids || c->tokenize)) {
		fprintf(stderr, "hc-run: -i runs on a card and reads the prompts from stdin\n");
		return -1;
	}
	if (c->prompt_ids && (c->prompt || c->chat || c->bos)) {
		fprintf(stderr, "hc-run: --prompt-ids takes no text prompt, --chat or --bos\n");
		return -1;
	}
	return 0;
}

static int parse_ids(const char *s, uint32_t vocab, int32_t **ids, size_t *n)
{
	size_t cap = 16;
	int32_t *v = malloc(cap * sizeof(*v));

	*n = 0;
	while (v) {
		char *end;
		long x;

		errno = 0;
		x = strtol(s, &end, 10);
		if (errno || end == s || x < 0 || (unsigned long)x >= vocab ||
		    (*end && *end != ',')) {
			fprintf(stderr, "hc-run: --prompt-ids: bad id at '%s' (ids are 0..%u, "
				"comma-separated)\n", s, vocab - 1);
			free(v);
			return -1;
		}
		if (*n == cap) {
			int32_t *nv = realloc(v, 2 * cap * sizeof(*v));

			if (!nv)
				break;
			v = nv;
			cap *= 2;
		}
		v[(*n)++] = (int32_t)x;
		if (!*end) {
			*ids = v;
			return 0;
		}
		s = end + 1;
	}
	free(v);
	fprintf(stderr, "hc-run: out of memory\n");
	return -1;
}

/* The prompt as ids: given ids, a chat message, or encoded text. */
static int make_prompt(const struct cli *c, struct run_engine *e, int32_t **ids, size_t *n)
{
	const char *text = c->prompt ? c->prompt : "";
	size_t cap = strlen(text) + 16, need = 0;
	int rc;

	if (c->prompt_ids)
		return parse_ids(c->prompt_ids, e->vocab_size, ids, n);
	for (int tries = 0; tries < 2; tries++) {
		*ids = malloc(cap * sizeof(**ids));
		if (!*ids) {
			fprintf(stderr, "hc-run: out of memory\n");
			return -1;
		}
		if (c->chat) {
			rc = e->ops->chat(e, text, *ids, cap, &need);
		} else {
			rc = e->ops->encode(e, text, (c->bos ? HC_ENC_BOS : 0) |
					    (c->no_special ? 0 : HC_ENC_PARSE_SPECIAL), *ids, cap,
					    &need);
		}
		if (rc != -ENOSPC)
			break;
		free(*ids);
		*ids = NULL;
		cap = need;
	}
	if (rc) {
		fprintf(stderr, "hc-run: cannot tokenize the prompt: %s\n", strerror(-rc));
		free(*ids);
		*ids = NULL;
		return -1;
	}
	*n = need;
	return 0;
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

struct out_state {
	const struct cli *c;
	struct run_engine *e;
	const int32_t *stop;
	uint32_t n_stop;
	uint32_t count;
	double t_first;
};

static int on_token(void *arg, int32_t id)
{
	struct out_state *s = arg;
	char buf[512];
	size_t len;

	if (s->count++ == 0)
		s->t_first = now();
	if (s->c->print_ids) {
		printf(s->count > 1 ? " %d" : "%d", id);
		fflush(stdout);
		return 0;
	}
	for (uint32_t i = 0; i < s->n_stop; i++)
		if (s->stop[i] == id)
			return 0;	/* end of text: nothing to print */
	len = s->e->ops->detok_push(s->e, id, buf, sizeof(buf));
	fwrite(buf, 1, len, stdout);
	fflush(stdout);
	return 0;
}

int main(int argc, char **argv)
{
	static const struct run_engine_ops *engines[] = { &run_direct_ops, &run_card_ops };
	struct cli c = { 0 };
	struct run_engine *e = NULL;
	const struct run_engine_ops *ops = NULL;
	struct out_state st = { 0 };
	int32_t *prompt = NULL, stop[16];
	size_t n_prompt = 0;
	char err[512], buf[512];
	double t0, t1;
	int rc, ret = 1;

	if (parse_args(argc, argv, &c))
		return 2;
	for (size_t i = 0; i < sizeof(engines) / sizeof(engines[0]); i++)
		if (strcmp(engines[i]->name, c.o.rom_path ? "direct" : "card") == 0)
			ops = engines[i];
	if (!ops) {
		fprintf(stderr, "hc-run: -d %s: this build has no card engine\n", c.o.device);
		return 1;
	}
	rc = ops->open(&c.o, &e, err, sizeof(err));
	if (rc) {
		fprintf(stderr, "hc-run: %s\n", err);
		return 1;
	}
	if (c.interactive) {
		c.g.stop_ids = stop;
		c.g.n_stop = c.ignore_eos ? 0 : e->ops->stop_ids(e, stop, 16);
		rc = run_card_interactive(e, &c.g, c.system, c.print_ids, stdin, err, sizeof(err));
		if (rc)
			fprintf(stderr, "hc-run: %s\n", err);
		ret = rc ? 1 : 0;
		goto out;
	}
	if (make_prompt(&c, e, &prompt, &n_prompt))
		goto out;
	if (c.tokenize) {
		for (size_t i = 0; i < n_prompt; i++)
			printf(i ? " %d" : "%d", prompt[i]);
		printf("\n");
		ret = 0;
		goto out;
	}
	if (n_prompt == 0) {
		int32_t bos = e->ops->bos(e);

		if (bos < 0) {
			fprintf(stderr, "hc-run: empty prompt and the model has no BOS token\n");
			goto out;
		}
		prompt[n_prompt++] = bos;
	}
	c.g.stop_ids = stop;
	c.g.n_stop = c.ignore_eos ? 0 : e->ops->stop_ids(e, stop, 16);
	st.c = &c;
	st.e = e;
	st.stop = stop;
	st.n_stop = c.g.n_stop;
	/* the prompt sets the decoder's state (e.g. no dummy space after BOS) */
	if (e->ops->detok_start(e, prompt, n_prompt)) {
		fprintf(stderr, "hc-run: out of memory\n");
		goto out;
	}

	t0 = now();
	rc = ops->generate(e, prompt, n_prompt, &c.g, on_token, &st, err, sizeof(err));
	t1 = now();
	if (!c.print_ids) {
		size_t len = e->ops->detok_flush(e, buf, sizeof(buf));

		fwrite(buf, 1, len, stdout);
	}
	printf("\n");
	fflush(stdout);
	if (rc < 0) {
		fprintf(stderr, "hc-run: %s\n", err);
		goto out;
	}
	fprintf(stderr, "hc-run: %zu prompt tokens, %d generated", n_prompt, rc);
	if (rc > 0)
		fprintf(stderr, "; time to first token %.1f ms", (st.t_first - t0) * 1e3);
	if (rc > 1)
		fprintf(stderr, "; %.2f tokens/s", (rc - 1) / (t1 - st.t_first));
	fprintf(stderr, "\n");
	ret = 0;
out:
	free(prompt);
	ops->close(e);
	return ret;
}
