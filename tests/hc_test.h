/* SPDX-License-Identifier: MIT */
/* Shared helpers for the Check test programs. */
#ifndef HC_TEST_H
#define HC_TEST_H

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Path of a file under the shared test data (../shared, or $HC_SHARED_DIR). */
static inline const char *hc_test_shared(const char *rel, char *buf, size_t len)
{
	const char *dir = getenv("HC_SHARED_DIR");

	snprintf(buf, len, "%s/%s", dir ? dir : "../shared", rel);
	return buf;
}

/* Skip the current test (counts as skipped, not passed) when shared data is missing. */
#define HC_REQUIRE_SHARED(rel, buf)                                                   \
	do {                                                                          \
		if (access(hc_test_shared((rel), (buf), sizeof(buf)), R_OK) != 0) {   \
			printf("SKIP: %s: %s not found (shared test data absent)\n",  \
			       __func__, (buf));                                      \
			fflush(stdout);                                               \
			return;                                                       \
		}                                                                     \
	} while (0)

#define HC_SKIP(...)                                  \
	do {                                          \
		printf("SKIP: %s: ", __func__);       \
		printf(__VA_ARGS__);                  \
		printf("\n");                         \
		fflush(stdout);                       \
		return;                               \
	} while (0)

/* main() for a test program built from one suite constructor. */
#define HC_TEST_MAIN(suite_fn)                                        \
	int main(void)                                                \
	{                                                             \
		SRunner *sr = srunner_create(suite_fn());             \
		int nf;                                               \
		srunner_run_all(sr, CK_NORMAL);                       \
		nf = srunner_ntests_failed(sr);                       \
		srunner_free(sr);                                     \
		return nf ? EXIT_FAILURE : EXIT_SUCCESS;              \
	}

#endif
