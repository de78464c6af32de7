// SPDX-License-Identifier: MIT
/*
 * Deferred stream wake-ups through the driver (the kernel side of libhc's latency budgets):
 * GET_INFO reports HC_CAP_WAKEUP_DELAY (and no card capability the driver does not pass on),
 * a DECODE with wakeup_usec and wakeup_tokens produces exactly the host's tokens through a
 * ring smaller than the output, and out-of-range values are refused.
 */
#include "ktest.h"
#include "decode_case.h"

int main(void)
{
	uint32_t expect[DECODE_CASE_TOKENS], ids[DECODE_CASE_TOKENS];
	struct drm_hc_info info = { 0 };
	struct drm_hc_cqe cqe;
	struct drm_hc_job j;
	struct kt_ctx c;
	struct kt_stream s;
	char sysdir[512];
	int fd, rc;

	fd = kt_open(sysdir, sizeof(sysdir));
	if (fd < 0)
		return 1;
	KT_CHECK(ioctl(fd, DRM_IOCTL_HC_GET_INFO, &info) == 0, "GET_INFO");
	KT_CHECK(info.caps & HC_CAP_WAKEUP_DELAY, "caps %#llx have HC_CAP_WAKEUP_DELAY",
		 (unsigned long long)info.caps);
	KT_CHECK(!(info.caps & (HC_CAP_COALESCE | HC_CAP_TRANSPORT_SOCKET)),
		 "and no capability the driver does not pass on");
	KT_CHECK(kt_expected_tokens(expect) == DECODE_CASE_TOKENS, "the host's tokens");

	KT_CHECK(kt_ctx_create(fd, &c, 4) == 0 && kt_stream_create(fd, &s, DECODE_CASE_RING) == 0,
		 "context and %d-entry stream", DECODE_CASE_RING);
#define DEC(usec, toks) do {							\
	memset(&j, 0, sizeof(j)); j.opcode = DRM_HC_OP_DECODE; j.user_data = 2;	\
	j.decode.stream_handle = s.handle; j.decode.max_tokens = DECODE_CASE_TOKENS;	\
	j.decode.wakeup_usec = (usec); j.decode.wakeup_tokens = (toks);		\
} while (0)
	DEC(1000001, 0);
	rc = kt_submit(&c, &j);
	KT_CHECK(rc == -EINVAL, "wakeup_usec 1000001 -> %s", rc < 0 ? strerror(-rc) : "taken");
	c.sq.local = hc_ring_load_acquire(&c.sq.hdr->head);
	hc_ring_store_release(&c.sq.hdr->tail, c.sq.local);
	DEC(2000, DECODE_CASE_RING + 1);
	rc = kt_submit(&c, &j);
	KT_CHECK(rc == -EINVAL, "wakeup_tokens above the stream's entries -> %s",
		 rc < 0 ? strerror(-rc) : "taken");
	c.sq.local = hc_ring_load_acquire(&c.sq.hdr->head);
	hc_ring_store_release(&c.sq.hdr->tail, c.sq.local);

	kt_prefill(&c, decode_case_prompt, DECODE_CASE_PROMPT_LEN, 1);
	DEC(2000, 4);
	KT_CHECK(kt_submit(&c, &j) == 1, "DECODE with a 2 ms, 4-token wake-up budget");
	KT_CHECK(kt_stream_read(&c, &s, ids, DECODE_CASE_TOKENS, KT_EVENT_MS) ==
		 DECODE_CASE_TOKENS && !memcmp(ids, expect, sizeof(ids)),
		 "tokens identical to hc-emud's socket path");
	KT_CHECK(kt_wait_cqe(&c, &cqe, KT_EVENT_MS) == 0 && cqe.status == DRM_HC_STATUS_OK,
		 "prefill completion");
	KT_CHECK(kt_wait_cqe(&c, &cqe, KT_EVENT_MS) == 0 &&
		 cqe.status == DRM_HC_STATUS_DONE_MAX_TOKENS && cqe.count == DECODE_CASE_TOKENS,
		 "decode completion (status %u count %u)", cqe.status, cqe.count);
	kt_stream_destroy(&s);
	kt_ctx_destroy(&c);
	close(fd);
	return kt_exit();
}
