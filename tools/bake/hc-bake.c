// SPDX-License-Identifier: MIT
/*
 * hc-bake: turn a checkpoint (GGUF, Hugging Face directory, llama2.c) or a synthetic
 * preset into an HC ROM image (docs/rom-format.md), or describe a ROM with --info.
 */
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <fcntl.h>
#include "hc/hc_version.h"
#include "bake.h"
#include "bake_io.h"
#include "bake_tokfile.h"
#include "quant.h"
#include "rom.h"
#include "tokenizer.h"

static void usage(FILE *f)
{
	fprintf(f,
		"usage: hc-bake [--quant F32|Q8|Q4] [--tokenizer FILE|builtin] INPUT -o OUT.rom\n"
		"       hc-bake --synthetic PRESET [--seed N] [--quant ...] [--tokenizer FILE] -o OUT.rom\n"
		"       hc-bake --info ROM\n"
		"\n"
		"INPUT is recognised by its content: a GGUF file, a Hugging Face directory\n"
		"(config.json + *.safetensors) or a llama2.c checkpoint (legacy or version 1).\n"
		"\n"
		"  -q, --quant TYPE      matrix type of the ROM: F32 (default), Q8 (Q8_0), Q4 (Q4_0);\n"
		"                        norms are always F32\n"
		"  -t, --tokenizer FILE  tokenizer.bin (llama2.c) or tokenizer.json (Hugging Face);\n"
		"                        'builtin' = the project's tokenizer with the model's vocabulary.\n"
		"                        Required for llama2.c checkpoints, which carry none.\n"
		"  -s, --synthetic NAME  deterministic random weights: tiny, 15M, 110M, llama3.1-8b\n"
		"      --seed N          seed of the synthetic weights (default 1)\n"
		"      --max-ctx N       longest context the card accepts (default: the input's)\n"
		"  -o, --output FILE     ROM to write (created atomically: all or nothing)\n"
		"  -i, --info ROM        verify a ROM and print its header, tensors and tokenizer\n"
		"  -V, --version         print the version and exit\n"
		"      --progress        progress bar even when stderr is not a terminal\n"
		"      --no-progress     no progress bar\n"
		"  -h, --help            this text\n");
}

static int parse_quant(const char *s, uint32_t *t)
{
	if (!strcasecmp(s, "F32"))
		*t = HC_WTYPE_F32;
	else if (!strcasecmp(s, "Q8") || !strcasecmp(s, "Q8_0"))
		*t = HC_WTYPE_Q8_0;
	else if (!strcasecmp(s, "Q4") || !strcasecmp(s, "Q4_0"))
		*t = HC_WTYPE_Q4_0;
	else
		return -EINVAL;
	return 0;
}

static int info(const char *path)
{
	const struct hc_rom_header *h;
	const struct hc_rom_arch *a;
	struct hc_tokenizer *tok = NULL;
	struct hc_rom *rom;
	char err[512];
	const void *blob;
	size_t blob_len;
	int ret;

	ret = hc_rom_open(path, &rom, err, sizeof(err));
	if (ret) {
		fprintf(stderr, "hc-bake: %s\n", err);
		return 1;
	}
	h = hc_rom_header(rom);
	a = &h->arch;
	printf("file:        %s\n", path);
	printf("format:      HC ROM version %u, %llu bytes, verified\n", h->version,
	       (unsigned long long)h->file_size);
	printf("identity:    ");
	for (int i = 0; i < 32; i++)
		printf("%02x", h->identity[i]);
	printf("\nname:        %s\n", h->name);
	printf("weights:     %s\n", hc_wtype_name(h->wtype));
	printf("arch:        vocab %u, dim %u, layers %u, heads %u, kv heads %u, head dim %u, ffn %u\n",
	       a->vocab_size, a->dim, a->n_layers, a->n_heads, a->n_kv_heads, a->head_dim,
	       a->ffn_dim);
	printf("context:     %u\n", a->max_ctx);
	printf("rope:        theta %g", (double)a->rope_theta);
	if (a->rope_scaling == HC_ROPE_LLAMA3)
		printf(", llama3 scaling factor %g low %g high %g original context %u",
		       (double)a->rope_factor, (double)a->rope_low_freq_factor,
		       (double)a->rope_high_freq_factor, a->rope_orig_ctx);
	printf("\nnorm eps:    %g\n", (double)a->norm_eps);
	printf("classifier:  %s\n", a->flags & HC_ARCH_TIED_CLASSIFIER ?
	       "tied (token_embd.weight)" : "output.weight");

	blob = hc_rom_tokenizer_blob(rom, &blob_len);
	printf("tokenizer:   %zu bytes at 0x%llx", blob_len,
	       (unsigned long long)h->tokenizer_offset);
	if (hc_tok_load(blob, blob_len, &tok, err, sizeof(err)) == 0) {
		printf(", %u tokens, bos %d, eos %d\n", hc_tok_vocab_size(tok), hc_tok_bos(tok),
		       hc_tok_eos(tok));
		hc_tok_free(tok);
	} else {
		printf(", does not load: %s\n", err);
	}
	printf("tensors:     %u, data %llu bytes at 0x%llx\n", h->n_tensors,
	       (unsigned long long)h->data_size, (unsigned long long)h->data_offset);
	printf("  %-28s %-5s %-16s %12s %12s\n", "name", "type", "shape", "offset", "bytes");
	for (uint32_t i = 0; i < h->n_tensors; i++) {
		const struct hc_rom_tensor *t = hc_rom_tensor_at(rom, i);
		char shape[48];

		if (t->n_dims == 1)
			snprintf(shape, sizeof(shape), "[%llu]", (unsigned long long)t->shape[0]);
		else
			snprintf(shape, sizeof(shape), "[%llu, %llu]",
				 (unsigned long long)t->shape[0], (unsigned long long)t->shape[1]);
		printf("  %-28s %-5s %-16s %#12llx %12llu\n", t->name, hc_wtype_name(t->type),
		       shape, (unsigned long long)t->offset, (unsigned long long)t->size);
	}
	hc_rom_close(rom);
	return 0;
}

/* The input's format, from its content (never its name). */
static int open_input(const char *in, const char *tok_path, struct bake_source **src,
		      char *err, size_t errlen)
{
	char magic[8] = { 0 }, cfg[4096];
	struct stat st;
	int fd, ret;

	if (stat(in, &st) < 0) {
		ret = -errno;
		snprintf(err, errlen, "%s: cannot open: %s", in, strerror(errno));
		return ret;
	}
	if (S_ISDIR(st.st_mode)) {
		snprintf(cfg, sizeof(cfg), "%s/config.json", in);
		if (access(cfg, R_OK) != 0) {
			snprintf(err, errlen,
				 "%s: a directory without config.json: not a Hugging Face checkpoint",
				 in);
			return -EINVAL;
		}
		ret = bake_open_hf(in, src, err, errlen);
	} else {
		/* a FIFO or a device is refused here, before any reader waits on it */
		fd = hc_open_regular(in, NULL, NULL, err, errlen);
		if (fd < 0)
			return fd;
		if (read(fd, magic, sizeof(magic)) < 0)
			magic[0] = 0;
		close(fd);
		if (memcmp(magic, "GGUF", 4) == 0) {
			ret = bake_open_gguf(in, src, err, errlen);
		} else if (memcmp(magic, HC_ROM_MAGIC, 8) == 0) {
			snprintf(err, errlen, "%s: is already an HC ROM (see hc-bake --info)", in);
			return -EINVAL;
		} else {
			/* llama2.c has no magic in its legacy form: its opener judges the header */
			return bake_open_llama2c(in, tok_path, src, err, errlen);
		}
	}
	if (ret == -ENOTSUP && !err[0])
		snprintf(err, errlen, "%s: this reader is not available in this build", in);
	if (ret || !tok_path)
		return ret;
	/* an explicit --tokenizer replaces the checkpoint's own */
	struct hc_tok_spec *tok;

	ret = bake_tokfile_open(tok_path, (*src)->arch.vocab_size, &tok, err, errlen);
	if (ret) {
		(*src)->close(*src);
		*src = NULL;
		return ret;
	}
	hc_tok_spec_free((*src)->tok);
	(*src)->tok = tok;
	return 0;
}

int main(int argc, char **argv)
{
	enum { OPT_SEED = 256, OPT_PROGRESS, OPT_NO_PROGRESS, OPT_MAX_CTX };
	static const struct option opts[] = {
		{ "quant", required_argument, NULL, 'q' },
		{ "tokenizer", required_argument, NULL, 't' },
		{ "synthetic", required_argument, NULL, 's' },
		{ "seed", required_argument, NULL, OPT_SEED },
		{ "max-ctx", required_argument, NULL, OPT_MAX_CTX },
		{ "output", required_argument, NULL, 'o' },
		{ "info", required_argument, NULL, 'i' },
		{ "progress", no_argument, NULL, OPT_PROGRESS },
		{ "no-progress", no_argument, NULL, OPT_NO_PROGRESS },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	const char *tok_path = NULL, *preset = NULL, *out = NULL, *info_path = NULL;
	int progress = isatty(2), c, ret;
	uint32_t wtype = HC_WTYPE_F32;
	struct bake_source *src = NULL;
	unsigned long long seed = 1, max_ctx = 0;
	int seed_set = 0;
	char err[1024] = "", *end;

	while ((c = getopt_long(argc, argv, "q:t:s:o:i:hV", opts, NULL)) != -1) {
		switch (c) {
		case 'q':
			if (parse_quant(optarg, &wtype)) {
				fprintf(stderr, "hc-bake: --quant %s: use F32, Q8 or Q4\n", optarg);
				return 2;
			}
			break;
		case 't': tok_path = optarg; break;
		case 's': preset = optarg; break;
		case 'o':
			if (!optarg[0]) {
				fprintf(stderr, "hc-bake: -o: the output path is empty\n");
				return 2;
			}
			out = optarg;
			break;
		case 'i': info_path = optarg; break;
		case OPT_SEED:
			/* as hc-run --seed: digits first (strtoull would wrap "-1"), 64 bits */
			errno = 0;
			seed = isdigit((unsigned char)optarg[0]) ? strtoull(optarg, &end, 0) : 0;
			if (!isdigit((unsigned char)optarg[0]) || errno || *end) {
				fprintf(stderr, "hc-bake: --seed: '%s' is not an integer in [0, %llu]\n",
					optarg, ULLONG_MAX);
				return 2;
			}
			seed_set = 1;
			break;
		case OPT_MAX_CTX:
			errno = 0;
			max_ctx = strtoull(optarg, &end, 0);
			if (errno || end == optarg || *end || !max_ctx || max_ctx > (1u << 24)) {
				fprintf(stderr, "hc-bake: --max-ctx %s: expected 1 to %u\n", optarg,
					1u << 24);
				return 2;
			}
			break;
		case OPT_PROGRESS: progress = 1; break;
		case OPT_NO_PROGRESS: progress = 0; break;
		case 'h':
			usage(stdout);
			return 0;
		case 'V':
			printf("hc-bake " HC_VERSION_STRING "\n");
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (info_path) {
		if (optind != argc || out || preset) {
			fprintf(stderr, "hc-bake: --info takes a ROM and nothing else\n");
			return 2;
		}
		return info(info_path);
	}
	if ((preset ? optind != argc : optind != argc - 1) || !out) {
		fprintf(stderr, "hc-bake: %s\n", !out ? "missing -o OUT.rom" :
			preset ? "--synthetic takes no INPUT" : "expected one INPUT");
		usage(stderr);
		return 2;
	}
	if (seed_set && !preset) {
		fprintf(stderr, "hc-bake: --seed applies to --synthetic only\n");
		return 2;
	}
	if (preset)
		ret = bake_open_synthetic_tok(preset, seed, tok_path, &src, err, sizeof(err));
	else
		ret = open_input(argv[optind], tok_path, &src, err, sizeof(err));
	if (ret) {
		fprintf(stderr, "hc-bake: %s\n", err[0] ? err : strerror(-ret));
		return 1;
	}
	if (max_ctx)
		src->arch.max_ctx = (uint32_t)max_ctx;	/* RoPE has no learned positions */
	ret = bake_write_rom(src, wtype, out, progress, err, sizeof(err));
	src->close(src);
	if (ret) {
		fprintf(stderr, "hc-bake: %s\n", err[0] ? err : strerror(-ret));
		return 1;
	}
	return 0;
}
