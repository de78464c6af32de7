// SPDX-License-Identifier: MIT
/*
 * The module bound exactly the HC-signed ivshmem device (the guest also has a plain one),
 * its node exists and answers GET_INFO; the identity in sysfs matches. The versions libhc
 * reports (hc_card_versions): the card firmware's passes through GET_INFO (hc-emud is the
 * card: the project's version) and the driver's is its module's, through the device's link.
 */
#include "ktest.h"
#include "hc/hc_version.h"

int main(void)
{
	char sysdir[512], buf[256], path[600];
	struct drm_hc_info info = { 0 };
	drmVersionPtr ver;
	int fd, bound = 0, ivshmem = 0;
	DIR *d;
	struct dirent *e;

	/* Count ivshmem functions and those bound to us. */
	d = opendir("/sys/bus/pci/devices");
	while (d && (e = readdir(d))) {
		char link[512];
		ssize_t n;

		if (e->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/vendor", e->d_name);
		if (kt_read_file(path, buf, sizeof(buf)) || strcmp(buf, "0x1af4"))
			continue;
		snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/device", e->d_name);
		if (kt_read_file(path, buf, sizeof(buf)) || strcmp(buf, "0x1110"))
			continue;
		ivshmem++;
		snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/driver", e->d_name);
		n = readlink(path, link, sizeof(link) - 1);
		if (n > 0) {
			link[n] = 0;
			if (strstr(link, "/hc_accel"))
				bound++;
		}
	}
	if (d)
		closedir(d);
	KT_CHECK(ivshmem == 2, "two ivshmem devices present (%d)", ivshmem);
	KT_CHECK(bound == 1, "hc_accel bound exactly one of them (%d)", bound);

	fd = kt_open(sysdir, sizeof(sysdir));
	KT_CHECK(fd >= 0, "device node opened (%s)", sysdir);
	if (fd < 0)
		return kt_exit();
#ifdef HC_EXPECT_ACCEL
	KT_CHECK(strstr(sysdir, "/accel/") != NULL, "node is an accel node");
#endif
	ver = drmGetVersion(fd);
	KT_CHECK(ver && !strcmp(ver->name, "hc_accel"), "drmGetVersion name %s",
		 ver ? ver->name : "(null)");
	drmFreeVersion(ver);

	KT_CHECK(ioctl(fd, DRM_IOCTL_HC_GET_INFO, &info) == 0, "GET_INFO");
	KT_CHECK(info.interface_version == HC_CARD_VERSION, "interface version %u",
		 info.interface_version);
	KT_CHECK(info.vocab_size > 0 && info.n_contexts > 0, "vocab %u, %u contexts",
		 info.vocab_size, info.n_contexts);
	KT_CHECK(info.caps & HC_CAP_TRANSPORT_PCI, "PCI transport capability");
	KT_CHECK(info.fw_version == HC_VERSION_NUMBER, "GET_INFO fw_version 0x%x (want 0x%x)",
		 info.fw_version, HC_VERSION_NUMBER);
	snprintf(path, sizeof(path), "%s/device/driver/module/version", sysdir);
	KT_CHECK(!kt_read_file(path, buf, sizeof(buf)) && !strcmp(buf, HC_VERSION_STRING),
		 "driver module version '%s' == '%s'", buf, HC_VERSION_STRING);
	snprintf(path, sizeof(path), "%s/device/hc/model_name", sysdir);
	KT_CHECK(!kt_read_file(path, buf, sizeof(buf)) && !strcmp(buf, info.model_name),
		 "sysfs model_name '%s' == '%s'", buf, info.model_name);
	snprintf(path, sizeof(path), "%s/device/hc/model_identity", sysdir);
	if (!kt_read_file(path, buf, sizeof(buf))) {
		char hex[65];
		int i;

		for (i = 0; i < 32; i++)
			sprintf(hex + 2 * i, "%02x", info.model_identity[i]);
		KT_CHECK(!strcmp(buf, hex), "sysfs model_identity matches GET_INFO");
	} else {
		KT_CHECK(0, "sysfs model_identity readable");
	}
	close(fd);
	return kt_exit();
}
