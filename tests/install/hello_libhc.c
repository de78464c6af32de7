// SPDX-License-Identifier: MIT
/* Built against an installed libhc via pkg-config (make check-install): headers, .pc, .so. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <hc/hc.h>

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
	printf("libhc install ok: %s\n", hc_strerror(r));
	return 0;
}
