// SPDX-License-Identifier: MIT
/*
 * Unload and reload the module (no warnings: the host scans the console), then the card
 * works again. Runs last.
 */
#include "ktest.h"

int main(void)
{
	char sysdir[512], dev[256];
	struct drm_hc_info info = { 0 };
	int fd;

	KT_CHECK(system("rmmod hc_accel") == 0, "rmmod hc_accel");
	KT_CHECK(kt_find_node(dev, sizeof(dev), NULL, 0) != 0, "node gone");
	KT_CHECK(system("insmod /lib/modules/hc_accel.ko") == 0, "insmod hc_accel.ko again");
	fd = kt_open(sysdir, sizeof(sysdir));
	KT_CHECK(fd >= 0, "node back");
	if (fd < 0)
		return kt_exit();
	KT_CHECK(ioctl(fd, DRM_IOCTL_HC_GET_INFO, &info) == 0 && info.vocab_size > 0,
		 "GET_INFO after reload");
	{
		struct kt_ctx c;

		KT_CHECK(kt_ctx_create(fd, &c, 4) == 0, "context after reload");
		KT_CHECK(kt_ctx_destroy(&c) == 0, "destroyed");
	}
	close(fd);
	KT_CHECK(system("rmmod hc_accel") == 0 && system("insmod /lib/modules/hc_accel.ko") == 0,
		 "second unload/reload cycle");
	return kt_exit();
}
