/* SPDX-License-Identifier: MIT */
/* Helpers shared by test_forward and test_golden: bake ROMs with build/hc-bake. */
#ifndef HC_TESTS_FORWARD_UTIL_H
#define HC_TESTS_FORWARD_UTIL_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

/* Run build/hc-bake with @argv (NULL-terminated, argv[0] ignored); 0 on success. Its
 * output goes to @log (stderr and stdout both) so a failure can be shown. */
static inline int ft_bake(char *const argv[], const char *log)
{
	pid_t pid = fork();
	int st;

	if (pid < 0)
		return -1;
	if (pid == 0) {
		FILE *f = freopen(log, "w", stdout);

		if (f)
			dup2(fileno(stdout), 2);
		execv("build/hc-bake", argv);
		_exit(127);
	}
	if (waitpid(pid, &st, 0) != pid)
		return -1;
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* Print @log's content (hc-bake's messages) to stdout. */
static inline void ft_show_log(const char *log)
{
	char line[512];
	FILE *f = fopen(log, "r");

	if (!f)
		return;
	while (fgets(line, sizeof(line), f))
		printf("  hc-bake: %s", line);
	fclose(f);
}

/* Remove @dir and the plain files in it. */
static inline void ft_rmdir(const char *dir)
{
	char cmd[600];

	if (!dir[0] || strncmp(dir, "/tmp/", 5))
		return;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "cannot remove %s\n", dir);
}

#endif
