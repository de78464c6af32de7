// SPDX-License-Identifier: MIT
/*
 * One version everywhere (include/hc/hc_version.h): every program answers --version with
 * "NAME VERSION", and the driver (dkms.conf, MODULE_VERSION) and every man page say the same.
 * Run from the top of the tree, as make check does.
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include "hc/hc_version.h"
#include "hc_test.h"

/* The first line of @path that starts with @prefix, or "" (static buffer). */
static const char *line_with(const char *path, const char *prefix)
{
	static char line[512];
	FILE *f = fopen(path, "r");

	ck_assert_msg(f, "cannot open %s", path);
	while (fgets(line, sizeof(line), f))
		if (!strncmp(line, prefix, strlen(prefix))) {
			line[strcspn(line, "\n")] = 0;
			fclose(f);
			return line;
		}
	fclose(f);
	return "";
}

START_TEST(test_programs_answer_version)
{
	static const char *const progs[] = {
		"hc-bake", "hc-run", "hc-smi", "hc-emud", "hc-bench", "hc-bench-stack", "hc-serve",
		"hc-bench-batch",
	};

	for (size_t i = 0; i < sizeof(progs) / sizeof(progs[0]); i++) {
		char cmd[256], out[256] = "", want[256];
		struct stat st;
		FILE *p;
		int status;

		snprintf(cmd, sizeof(cmd), "build/%s", progs[i]);
		if (stat(cmd, &st))	/* a program its module did not build here */
			continue;
		snprintf(cmd, sizeof(cmd), "build/%s --version 2>&1", progs[i]);
		p = popen(cmd, "r");
		ck_assert_ptr_nonnull(p);
		if (!fgets(out, sizeof(out), p))
			out[0] = 0;
		status = pclose(p);
		out[strcspn(out, "\n")] = 0;
		snprintf(want, sizeof(want), "%s %s", progs[i], HC_VERSION_STRING);
		ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0,
			      "%s --version exited with status %d", progs[i], status);
		ck_assert_msg(!strcmp(out, want), "%s --version said '%s', expected '%s'", progs[i],
			      out, want);
	}
}
END_TEST

START_TEST(test_driver_version)
{
	char want[128];

	snprintf(want, sizeof(want), "PACKAGE_VERSION=\"%s\"", HC_VERSION_STRING);
	ck_assert_str_eq(line_with("driver/dkms.conf", "PACKAGE_VERSION="), want);
	snprintf(want, sizeof(want), "#define HC_DRIVER_VERSION\t\"%s\"", HC_VERSION_STRING);
	ck_assert_msg(!strncmp(line_with("driver/hc_drv.h", "#define HC_DRIVER_VERSION"), want,
			       strlen(want)),
		      "driver/hc_drv.h: HC_DRIVER_VERSION is not \"%s\"", HC_VERSION_STRING);
	ck_assert_str_eq(line_with("lib/libhc.pc.in", "Version:"), "Version: @VERSION@");
}
END_TEST

/* .TH NAME SECTION DATE "SOURCE VERSION" "MANUAL": the source field ends with the version. */
START_TEST(test_man_pages_version)
{
	DIR *d = opendir("man");
	struct dirent *e;
	char want[64];
	int n = 0;

	ck_assert_ptr_nonnull(d);
	snprintf(want, sizeof(want), " %s\"", HC_VERSION_STRING);
	while ((e = readdir(d))) {
		char path[512];
		const char *th, *q;

		if (e->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "man/%s", e->d_name);
		if (!strncmp(line_with(path, ".so "), ".so ", 4))
			continue;	/* an alias of another page */
		th = line_with(path, ".TH ");
		q = strchr(th, '"');
		ck_assert_msg(q, "%s: no .TH line with a quoted source", path);
		q = strchr(q + 1, '"');
		ck_assert_msg(q && !strncmp(q - strlen(want) + 1, want, strlen(want)),
			      "%s: .TH source does not end with version %s: %s", path,
			      HC_VERSION_STRING, th);
		n++;
	}
	closedir(d);
	ck_assert_int_gt(n, 3);
}
END_TEST

static Suite *version_suite(void)
{
	Suite *s = suite_create("version");
	TCase *tc = hc_tcase(s, "version", 60);

	tcase_add_test(tc, test_programs_answer_version);
	tcase_add_test(tc, test_driver_version);
	tcase_add_test(tc, test_man_pages_version);
	return s;
}

HC_TEST_MAIN(version_suite)
