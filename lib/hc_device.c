// SPDX-License-Identifier: MIT
/*
 * Device URIs and discovery: $HC_DEVICE, then hc kernel-driver accel nodes, then its DRM render
 * nodes (kernels without the accel subsystem, e.g. 6.1, get the same UAPI there), then hc-emud.
 */
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
#define RENDER_DIR "/dev/dri/renderD"

/* Kernel nodes: device path prefix, sysfs class and node name prefix, discovery order. */
static const struct node_kind {
	const char *dev, *class, *name;
} node_kinds[] = {
	{ ACCEL_DIR, "accel", "accel" },
	{ RENDER_DIR, "drm", "renderD" },
};

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
	for (size_t i = 0; i < sizeof(node_kinds) / sizeof(node_kinds[0]); i++) {
		size_t plen = strlen(node_kinds[i].dev);

		if (strncmp(uri, node_kinds[i].dev, plen))
			continue;
		p = uri + plen;
		/* accelN / renderDN: decimal minor, nothing after it */
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

/* Is /sys/class/@class/@name bound to the hc driver? Checks the device's driver link. */
static int node_is_ours(const char *class, const char *name)
{
	static const char *const drivers[] = { HC_KERNEL_DRIVER_NAMES };
	char link[PATH_MAX], target[PATH_MAX];
	const char *base;
	ssize_t n;
	size_t i;

	snprintf(link, sizeof(link), "/sys/class/%s/%s/device/driver", class, name);
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

/* Node names sorted by their minor number (after the kind's name prefix). */
struct node_name {
	char name[16];
	long minor;
};

static int cmp_node(const void *a, const void *b)
{
	const struct node_name *x = a, *y = b;

	return x->minor < y->minor ? -1 : x->minor > y->minor;
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
	const char *env = getenv(HC_DEVICE_ENV);
	enum hc_backend be;
	size_t n = 0, i, k;
	struct dirent *de;
	struct stat st;
	DIR *d;

	if (!n_out || (cap && !out))
		return -EINVAL;
	if (env && hc_parse_uri(env, &be, NULL, 0) == 0)
		add(out, cap, &n, env, be);

	for (k = 0; k < sizeof(node_kinds) / sizeof(node_kinds[0]); k++) {
		const struct node_kind *nk = &node_kinds[k];
		size_t plen = strlen(nk->name), n_nodes = 0;
		struct node_name names[64];
		char dir[64];

		snprintf(dir, sizeof(dir), "/sys/class/%s", nk->class);
		d = opendir(dir);
		if (!d)
			continue;
		while ((de = readdir(d)) && n_nodes < 64) {
			if (strncmp(de->d_name, nk->name, plen) || strlen(de->d_name) >= 16)
				continue;
			if (de->d_name[plen] < '0' || de->d_name[plen] > '9' ||
			    !node_is_ours(nk->class, de->d_name))
				continue;
			strcpy(names[n_nodes].name, de->d_name);
			names[n_nodes++].minor = strtol(de->d_name + plen, NULL, 10);
		}
		closedir(d);
		qsort(names, n_nodes, sizeof(names[0]), cmp_node);
		for (i = 0; i < n_nodes; i++) {
			char uri[HC_URI_MAX];

			snprintf(uri, sizeof(uri), "%.20s%s", nk->dev, names[i].name + plen);
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
