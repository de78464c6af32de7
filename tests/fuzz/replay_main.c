// SPDX-License-Identifier: MIT
/*
 * A fuzz target without libFuzzer: runs LLVMFuzzerTestOneInput once per file named on the
 * command line, or per file in a named folder (sorted, so a failure names the same input
 * every time). What `make check` uses to replay the corpora and crash cases under
 * ASan + UBSan with gcc; a sanitizer report aborts the process.
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include "fuzz.h"

int LLVMFuzzerInitialize(int *argc, char ***argv) __attribute__((weak));

static int run_file(const char *path)
{
	FILE *f = fopen(path, "rb");
	uint8_t *buf = NULL;
	long n;

	if (!f || fseek(f, 0, SEEK_END) || (n = ftell(f)) < 0 || fseek(f, 0, SEEK_SET)) {
		perror(path);
		if (f)
			fclose(f);
		return -1;
	}
	/* exactly @n bytes on the heap: ASan sees any read past the input */
	buf = malloc(n ? (size_t)n : 1);
	if (!buf || fread(buf, 1, (size_t)n, f) != (size_t)n) {
		perror(path);
		fclose(f);
		free(buf);
		return -1;
	}
	fclose(f);
	LLVMFuzzerTestOneInput(buf, (size_t)n);
	free(buf);
	return 0;
}

static int skip_name(const struct dirent *e)
{
	return e->d_name[0] != '.' && strcmp(e->d_name, "README.md") != 0;
}

int main(int argc, char **argv)
{
	unsigned long inputs = 0, bad = 0;

	if (LLVMFuzzerInitialize)
		LLVMFuzzerInitialize(&argc, &argv);
	for (int i = 1; i < argc; i++) {
		struct stat st;

		if (stat(argv[i], &st)) {
			perror(argv[i]);
			bad++;
		} else if (S_ISDIR(st.st_mode)) {
			struct dirent **list;
			int n = scandir(argv[i], &list, skip_name, alphasort);

			for (int k = 0; k < n; k++) {
				char p[4096];

				snprintf(p, sizeof(p), "%s/%s", argv[i], list[k]->d_name);
				if (stat(p, &st) == 0 && S_ISREG(st.st_mode)) {
					bad += run_file(p) != 0;
					inputs++;
				}
				free(list[k]);
			}
			if (n >= 0)
				free(list);
		} else {
			bad += run_file(argv[i]) != 0;
			inputs++;
		}
	}
	printf("%s: %lu inputs replayed%s\n", argv[0], inputs, bad ? ", some unreadable" : "");
	return bad ? 1 : 0;
}
