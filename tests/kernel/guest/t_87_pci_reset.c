// SPDX-License-Identifier: MIT
/*
 * A reset of the PCI function (sysfs reset, here a secondary bus reset: the card sits behind a
 * bridge) is a card reset for the driver (reset_prepare/reset_done): the decode in flight
 * fails with DRM_HC_REASON_RESET, the old context answers -ECANCELED, the resets counter
 * moves, and a new context decodes exactly as before. (At 27ebc51 the driver had no PCI
 * reset or error handlers: the card was reset under it and the driver went on as if not.)
 */
#include "ktest.h"
#include "decode_case.h"

int main(void)
{
	char sysdir[512], bdf[64], path[600], method[128] = "";
	struct kt_ctx c;
	struct kt_stream s;
	struct drm_hc_cqe cqe;
	long long resets0;
	int fd, rc;

	fd = kt_open(sysdir, sizeof(sysdir));
	if (fd < 0)
		return 1;
	KT_CHECK(kt_pci_bdf(sysdir, bdf, sizeof(bdf)) == 0, "PCI device of the node: %s", bdf);
	snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/reset_method", bdf);
	kt_read_file(path, method, sizeof(method));
	snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/reset", bdf);
	KT_CHECK(access(path, W_OK) == 0, "the function can be reset (%s)", method);
	resets0 = kt_counter(sysdir, "resets");

	KT_CHECK(kt_ctx_create(fd, &c, 4) == 0 && kt_stream_create(fd, &s, 16) == 0,
		 "context and stream");
	kt_prefill(&c, decode_case_prompt, DECODE_CASE_PROMPT_LEN, 1);
	kt_decode(&c, &s, 100000, 2);	/* fills the ring, then waits for space */
	KT_CHECK(kt_wait_cqe(&c, &cqe, KT_EVENT_MS) == 0 && cqe.user_data == 1,
		 "prefill done, decode running");
	KT_CHECK(kt_write_file(path, "1") == 0, "PCI function reset");
	rc = kt_wait_cqe(&c, &cqe, KT_EVENT_MS);
	KT_CHECK(rc == 0 && cqe.user_data == 2 && cqe.status == DRM_HC_STATUS_ERROR &&
		 cqe.reason == DRM_HC_REASON_RESET, "the decode failed with RESET (status %u reason "
		 "%#x)", cqe.status, cqe.reason);
	KT_CHECK(kt_counter(sysdir, "resets") == resets0 + 1, "resets +1");
	rc = kt_prefill(&c, decode_case_prompt, 1, 3);
	KT_CHECK(rc == -ECANCELED, "the old context answers %s (want ECANCELED)",
		 rc < 0 ? strerror(-rc) : "success");
	kt_stream_destroy(&s);
	kt_ctx_destroy(&c);

	KT_CHECK(kt_decode_case_exact(fd), "a new context decodes exactly as before the reset");
	close(fd);
	return kt_exit();
}
