// SPDX-License-Identifier: MIT
/* Built against an installed libhc via pkg-config (make check-install): headers (also the card
 * interface's, for the HC_CAP_* bits of hc_card_info), .pc, .so, and the version calls. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <hc/hc.h>
#include <hc/uapi/hc_card.h>

int main(void)
{
	enum hc_backend be;
	char path[HC_URI_MAX];
	struct hc_card *card;
	int r;

	if (hc_parse_uri("emu:/tmp/x.sock", &be, path, sizeof(path)) || be != HC_BACKEND_EMU ||
	    strcmp(path, "/tmp/x.sock"))
		return 1;
	r = hc_open("emu:/nonexistent/hc-install-check.sock", &card);
	if (r != -ENOENT)
		return 2;
	if (strcmp(hc_version(), HC_VERSION_STRING) || !HC_CAP_FAULT_INJECTION)
		return 3;
	printf("libhc %s install ok: %s\n", hc_version(), hc_strerror(r));
	return 0;
}
