// SPDX-License-Identifier: MIT
/*
 * Kernel backend hook, built only while lib/hc_kernel.c does not exist. The kernel-driver
 * issue provides lib/hc_kernel.c (open /dev/accel/accelN, map the process's card-memory
 * regions, doorbells and interrupt fds through the driver's ioctls) with the same functions.
 */
#include <errno.h>
#include "hc_internal.h"

int hc_kernel_open(struct hc_card *card, const char *devnode)
{
	(void)card;
	(void)devnode;
	return -ENODEV;
}
