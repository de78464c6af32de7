/* SPDX-License-Identifier: MIT */
/* Shared helpers for the Check test programs. */
#ifndef HC_TEST_H
#define HC_TEST_H

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
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
			       hc_test_current, (buf));                               \
			fflush(stdout);                                               \
			return;                                                       \
		}                                                                     \
	} while (0)

#define HC_SKIP(...)                                  \
	do {                                          \
		printf("SKIP: %s: ", hc_test_current); \
		printf(__VA_ARGS__);                  \
		printf("\n");                         \
		fflush(stdout);                       \
		return;                               \
	} while (0)

/*
 * Bounds and times. Every test case is made by hc_tcase(), which gives it an explicit
 * timeout (scaled by Check's CK_TIMEOUT_MULTIPLIER, as Check scales it) and records it, so
 * that each test can print what it took against its bound:
 *   RUN  test_name (bound 300 s)        when it starts: a killed program or boot names it
 *   TIME test_name 1.234 s of 300 s     when it returns (a failed assertion ends it earlier)
 * Both go to stderr in one write each. run-tests.sh and the guest's libhc-checks.sh read them.
 */
/* The bound of each test, by name: hc_tcase() knows its case's, _tcase_add_test its tests. */
struct hc_test_bound {
	const void *key;	/* a TCase *, or a test's name */
	double seconds;
};
static struct hc_test_bound hc_tcase_bounds[8] __attribute__((unused));
static struct hc_test_bound hc_test_bounds[64] __attribute__((unused));
static unsigned hc_tcase_nbounds __attribute__((unused)), hc_test_nbounds __attribute__((unused));
static const char *hc_test_current __attribute__((unused)) = "?";	/* for SKIP lines */

static inline double hc_test_multiplier(void)
{
	const char *m = getenv("CK_TIMEOUT_MULTIPLIER");
	double v = m ? strtod(m, NULL) : 1.0;

	return v > 0 ? v : 1.0;
}

/* A test case with its own bound in seconds, added to @s. */
static inline TCase *hc_tcase(Suite *s, const char *name, unsigned timeout_s)
{
	TCase *tc = tcase_create(name);

	tcase_set_timeout(tc, timeout_s);
	if (hc_tcase_nbounds < sizeof(hc_tcase_bounds) / sizeof(hc_tcase_bounds[0]))
		hc_tcase_bounds[hc_tcase_nbounds++] =
			(struct hc_test_bound){ tc, timeout_s * hc_test_multiplier() };
	suite_add_tcase(s, tc);
	return tc;
}

/* Check's tcase_add_test() and tcase_add_loop_test() land here: note the test's bound. */
static inline void hc_tcase_add_test(TCase *tc, const TTest *tt, int sig, int exit_value,
				     int start, int end)
{
	unsigned i;

	for (i = 0; i < hc_tcase_nbounds; i++)
		if (hc_tcase_bounds[i].key == tc &&
		    hc_test_nbounds < sizeof(hc_test_bounds) / sizeof(hc_test_bounds[0]))
			hc_test_bounds[hc_test_nbounds++] =
				(struct hc_test_bound){ tt->name, hc_tcase_bounds[i].seconds };
	_tcase_add_test(tc, tt, sig, exit_value, start, end);
}
#define _tcase_add_test hc_tcase_add_test

/* This test's bound (tcase_name() is the running test's name), 0 if not made by hc_tcase(). */
static inline double hc_test_bound(void)
{
	const char *name = tcase_name();
	unsigned i;

	for (i = 0; name && i < hc_test_nbounds; i++)
		if (!strcmp(hc_test_bounds[i].key, name))
			return hc_test_bounds[i].seconds;
	return 0;
}

static inline double hc_test_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static inline void hc_test_say(const char *line, int len)
{
	if (len > 0 && write(2, line, (size_t)len) < 0)
		return;	/* nothing to do about a closed stderr */
}

static inline double hc_test_begin(const char *name)
{
	char line[200];

	hc_test_current = name;
	hc_test_say(line, snprintf(line, sizeof(line), "RUN  %s (bound %.0f s)\n", name,
				   hc_test_bound()));
	return hc_test_now();
}

static inline void hc_test_end(const char *name, double start)
{
	char line[200];

	hc_test_say(line, snprintf(line, sizeof(line), "TIME %s %.3f s of %.0f s\n", name,
				   hc_test_now() - start, hc_test_bound()));
}

/* Check's START_TEST, with the RUN and TIME lines around the test's body. */
#undef START_TEST
#define START_TEST(__testname)                                                          \
	static void __testname##_body(int _i CK_ATTRIBUTE_UNUSED);                      \
	static void __testname##_fn(int _i)                                             \
	{                                                                               \
		double t0_ = hc_test_begin(#__testname);                                \
		__testname##_body(_i);                                                  \
		hc_test_end(#__testname, t0_);                                          \
	}                                                                               \
	static const TTest __testname##_ttest = { "" #__testname, __testname##_fn,     \
						  __FILE__, __LINE__ };                 \
	static const TTest *__testname = &__testname##_ttest;                           \
	static void __testname##_body(int _i CK_ATTRIBUTE_UNUSED)

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
