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
	uint32_t expect[DECODE_CASE_TOKENS], ids[DECODE_CASE_TOKENS];
	char sysdir[512], link[512], path[600], method[128] = "";
	struct kt_ctx c;
	struct kt_stream s;
	struct drm_hc_cqe cqe;
	long long resets0;
	ssize_t n;
	FILE *f;
	int fd, i, rc;

	fd = kt_open(sysdir, sizeof(sysdir));
	if (fd < 0)
		return 1;
	snprintf(path, sizeof(path), "%s/device", sysdir);
	n = readlink(path, link, sizeof(link) - 1);
	KT_CHECK(n > 0, "PCI device of the node");
	if (n <= 0)
		return kt_exit();
	link[n] = 0;
	snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/reset_method", strrchr(link, '/') + 1);
	kt_read_file(path, method, sizeof(method));
	snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/reset", strrchr(link, '/') + 1);
	KT_CHECK(access(path, W_OK) == 0, "the function can be reset (%s)", method);
	f = fopen("/etc/expected-decode.txt", "r");
	for (i = 0; f && i < DECODE_CASE_TOKENS && fscanf(f, "%u", &expect[i]) == 1; i++)
		;
	if (f)
		fclose(f);
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

	KT_CHECK(kt_ctx_create(fd, &c, 4) == 0 && kt_stream_create(fd, &s, DECODE_CASE_RING) == 0,
		 "new context");
	kt_prefill(&c, decode_case_prompt, DECODE_CASE_PROMPT_LEN, 1);
	kt_decode(&c, &s, DECODE_CASE_TOKENS, 2);
	KT_CHECK(kt_stream_read(&c, &s, ids, DECODE_CASE_TOKENS, KT_EVENT_MS) == DECODE_CASE_TOKENS &&
		 !memcmp(ids, expect, sizeof(ids)), "decodes exactly as before the reset");
	kt_wait_cqe(&c, &cqe, KT_EVENT_MS);
	kt_wait_cqe(&c, &cqe, KT_EVENT_MS);
	kt_stream_destroy(&s);
	kt_ctx_destroy(&c);
	close(fd);
	return kt_exit();
}
