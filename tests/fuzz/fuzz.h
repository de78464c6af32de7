/* SPDX-License-Identifier: MIT */
/*
 * What the fuzz targets share (tests/fuzz/README.md). Each target defines
 * LLVMFuzzerTestOneInput; it is linked either with libFuzzer (clang -fsanitize=fuzzer) or
 * with replay_main.c, which runs it over files and folders (gcc or clang, ASan + UBSan).
 */
#ifndef HC_TESTS_FUZZ_H
#define HC_TESTS_FUZZ_H

#include <stddef.h>
#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The readers take paths: a private temporary folder, removed at exit. Aborts on failure. */
const char *fz_dir(void);
/* Write @name in fz_dir() with @len bytes of @data; its path in @path. */
void fz_write(const char *name, const void *data, size_t len, char *path, size_t pathlen);
/* Remove @name from fz_dir() if it is there. */
void fz_remove(const char *name);

/*
 * Several files in one input: parts separated by FZ_SPLIT (a line of its own in text, an
 * unlikely byte string in binary). Fills @parts/@lens with at most @max parts and returns
 * how many there are (1 for an input without separator).
 */
#define FZ_SPLIT "\n#-hc-fuzz-split-#\n"
size_t fz_split(const uint8_t *data, size_t size, const uint8_t **parts, size_t *lens,
		size_t max);

struct bake_source;
/*
 * Everything a bake does with an opened source short of writing the ROM: the first and last
 * row of every tensor (as float and as stored), and the tokenizer serialised and loaded
 * back the way hc-emud and libhc load it.
 */
void fz_use_source(struct bake_source *src);

/* Round-trip an imported tokenizer spec through the blob format and the run-time loader. */
struct hc_tok_spec;
void fz_use_spec(const struct hc_tok_spec *spec);

/*
 * A byte-level BPE tokenizer spec as Llama 3's: GPT-2's byte-to-unicode alphabet, a few
 * merges, the chat special tokens, HC_CHAT_LLAMA3. Free with hc_tok_spec_free().
 */
struct hc_tok_spec *fz_bpe_spec(void);

#endif
