// SPDX-License-Identifier: MIT
/* Device URIs and discovery: $HC_DEVICE, then hc kernel-driver accel nodes, then hc-emud. */
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>
#include "hc/hc.h"
#include "hc_internal.h"

#define EMU_SCHEME "emu:"
#define ACCEL_DIR  "/dev/accel/accel"

static int copy_path(const char *src, char *dst, size_t len, size_t max)
{
	size_t n = strlen(src);

	if (n >= max)
		return -ENAMETOOLONG;
	if (dst) {
		if (n >= len)
			return -ENAMETOOLONG;
		memcpy(dst, src, n + 1);
	}
	return 0;
}

int hc_parse_uri(const char *uri, enum hc_backend *backend, char *path, size_t len)
{
	struct sockaddr_un sun;
	const char *p;

	if (!uri || !*uri)
		return -EINVAL;
	if (!strncmp(uri, EMU_SCHEME, strlen(EMU_SCHEME))) {
		p = uri + strlen(EMU_SCHEME);
		if (!*p)
			return -EINVAL;
		if (backend)
			*backend = HC_BACKEND_EMU;
		return copy_path(p, path, len, sizeof(sun.sun_path));
	}
	if (!strncmp(uri, ACCEL_DIR, strlen(ACCEL_DIR))) {
		p = uri + strlen(ACCEL_DIR);
		/* accelN: decimal minor, nothing after it */
		if (*p < '0' || *p > '9')
			return -EINVAL;
		while (*p >= '0' && *p <= '9')
			p++;
		if (*p)
			return -EINVAL;
		if (backend)
			*backend = HC_BACKEND_KERNEL;
		return copy_path(uri, path, len, PATH_MAX);
	}
	return -EINVAL;
}

/* Is /sys/class/accel/@name bound to the hc driver? Checks the device's driver link. */
static int accel_is_ours(const char *name)
{
	static const char *const drivers[] = { HC_KERNEL_DRIVER_NAMES };
	char link[PATH_MAX], target[PATH_MAX];
	const char *base;
	ssize_t n;
	size_t i;

	snprintf(link, sizeof(link), "/sys/class/accel/%s/device/driver", name);
	n = readlink(link, target, sizeof(target) - 1);
	if (n <= 0)
		return 0;
	target[n] = 0;
	base = strrchr(target, '/');
	base = base ? base + 1 : target;
	for (i = 0; i < sizeof(drivers) / sizeof(drivers[0]); i++)
		if (!strcmp(base, drivers[i]))
			return 1;
	return 0;
}

static int cmp_accel(const void *a, const void *b)
{
	const char *x = a, *y = b;
	long nx = strtol(x + 5, NULL, 10), ny = strtol(y + 5, NULL, 10);

	return nx < ny ? -1 : nx > ny;
}

static void add(struct hc_device_desc *out, size_t cap, size_t *n, const char *uri,
		enum hc_backend backend)
{
	size_t i;

	for (i = 0; i < *n && i < cap; i++)
		if (!strcmp(out[i].uri, uri))
			return;
	if (*n < cap) {
		memset(&out[*n], 0, sizeof(out[*n]));
		snprintf(out[*n].uri, sizeof(out[*n].uri), "%s", uri);
		out[*n].backend = backend;
	}
	(*n)++;
}

int hc_list_devices(struct hc_device_desc *out, size_t cap, size_t *n_out)
{
	char names[64][16];
	const char *env = getenv(HC_DEVICE_ENV);
	enum hc_backend be;
	size_t n = 0, n_accel = 0, i;
	struct dirent *de;
	struct stat st;
	DIR *d;

	if (!n_out || (cap && !out))
		return -EINVAL;
	if (env && hc_parse_uri(env, &be, NULL, 0) == 0)
		add(out, cap, &n, env, be);

	d = opendir("/sys/class/accel");
	if (d) {
		while ((de = readdir(d)) && n_accel < 64) {
			if (strncmp(de->d_name, "accel", 5) || strlen(de->d_name) >= 16)
				continue;
			if (de->d_name[5] < '0' || de->d_name[5] > '9' || !accel_is_ours(de->d_name))
				continue;
			strcpy(names[n_accel++], de->d_name);
		}
		closedir(d);
		qsort(names, n_accel, sizeof(names[0]), cmp_accel);
		for (i = 0; i < n_accel; i++) {
			char uri[HC_URI_MAX];

			snprintf(uri, sizeof(uri), "/dev/accel/%.15s", names[i]);
			add(out, cap, &n, uri, HC_BACKEND_KERNEL);
		}
	}

	/* hc-emud's defaults: the user's runtime dir, then the system socket */
	env = getenv("XDG_RUNTIME_DIR");
	if (env && *env && strlen(env) < 200) {
		char uri[HC_URI_MAX];

		snprintf(uri, sizeof(uri), EMU_SCHEME "%.200s/" HC_EMU_SOCKET_BASENAME, env);
		if (stat(uri + strlen(EMU_SCHEME), &st) == 0 && S_ISSOCK(st.st_mode))
			add(out, cap, &n, uri, HC_BACKEND_EMU);
	}
	if (stat(HC_DEFAULT_EMU_SOCKET, &st) == 0 && S_ISSOCK(st.st_mode))
		add(out, cap, &n, EMU_SCHEME HC_DEFAULT_EMU_SOCKET, HC_BACKEND_EMU);

	*n_out = n;
	return n > cap ? -ENOSPC : 0;
}
