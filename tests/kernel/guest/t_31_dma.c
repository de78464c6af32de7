// SPDX-License-Identifier: MIT
/*
 * The DMA device model: the card (hc-emud --guest-ram) writes completions and tokens into
 * guest RAM at the bus addresses the driver got from the DMA API. A DECODE pointed outside
 * host memory (debugfs fault_dma) is a DMA fault: the job fails with HC_REASON_DMA_FAULT,
 * the card writes nothing into the stream, the driver counts and logs it, and the same
 * context then decodes normally. sysfs host_mem_used_bytes counts the memory and returns.
 */
#include "ktest.h"
#include "decode_case.h"

#define TOKENS 8

/* A counter of debugfs ring_state; -1 if missing. */
static long long ring_state(const char *dbg, const char *name)
{
	char path[600], buf[2048];
	const char *p;

	snprintf(path, sizeof(path), "%s/ring_state", dbg);
	if (kt_read_file(path, buf, sizeof(buf)) || !(p = strstr(buf, name)))
		return -1;
	return atoll(p + strlen(name));
}

int main(void)
{
	char sysdir[512], dbg[512], path[600], buf[2048];
	struct drm_hc_cqe cqe;
	struct kt_ctx c;
	struct kt_stream s;
	uint32_t ids[TOKENS];
	long long host0, faults0;
	int fd, rc;

	fd = kt_open(sysdir, sizeof(sysdir));
	if (fd < 0)
		return 1;
	KT_CHECK(kt_debugfs(dbg, sizeof(dbg)) == 0, "debugfs at %s", dbg);
	snprintf(path, sizeof(path), "%s/ring_state", dbg);
	KT_CHECK(kt_read_file(path, buf, sizeof(buf)) == 0 && strstr(buf, "in host memory (DMA)"),
		 "the card's CQ is in host memory");
	host0 = kt_counter(sysdir, "host_mem_used_bytes");
	KT_CHECK(host0 > 0, "host_mem_used_bytes %lld (the CQ)", host0);
	faults0 = ring_state(dbg, "dma_faults: ");

	KT_CHECK(kt_ctx_create(fd, &c, 8) == 0 && kt_stream_create(fd, &s, 16) == 0,
		 "context and stream");
	KT_CHECK(kt_counter(sysdir, "host_mem_used_bytes") > host0, "the stream is host memory");
	KT_CHECK(kt_prefill(&c, decode_case_prompt, DECODE_CASE_PROMPT_LEN, 1) == 1, "prefill");
	KT_CHECK(kt_wait_cqe(&c, &cqe, KT_EVENT_MS) == 0 && cqe.status == DRM_HC_STATUS_OK,
		 "prefilled");

	snprintf(path, sizeof(path), "%s/fault_dma", dbg);
	KT_CHECK(kt_write_file(path, "1") == 0, "fault: the next DECODE outside host memory");
	KT_CHECK(kt_decode(&c, &s, TOKENS, 2) == 1, "decode submitted");
	rc = kt_wait_cqe(&c, &cqe, KT_EVENT_MS);
	KT_CHECK(rc == 0 && cqe.status == DRM_HC_STATUS_ERROR && cqe.reason == HC_REASON_DMA_FAULT,
		 "it failed with a DMA fault (status %u reason %u)", cqe.status, cqe.reason);
	KT_CHECK(hc_ring_load_acquire(&s.r.hdr->tail) == 0, "the card wrote no token");
	KT_CHECK(ring_state(dbg, "dma_faults: ") == faults0 + 1, "dma_faults +1");

	KT_CHECK(kt_decode(&c, &s, TOKENS, 3) == 1, "decode again");
	KT_CHECK(kt_stream_read(&c, &s, ids, TOKENS, KT_EVENT_MS) == TOKENS, "it decodes %d tokens",
		 TOKENS);
	rc = kt_wait_cqe(&c, &cqe, KT_EVENT_MS);
	KT_CHECK(rc == 0 && cqe.status == DRM_HC_STATUS_DONE_MAX_TOKENS, "and completes (%u)",
		 cqe.status);

	kt_stream_destroy(&s);
	KT_CHECK(kt_ctx_destroy(&c) == 0, "context destroyed");
	KT_CHECK(kt_counter_wait(sysdir, "host_mem_used_bytes", host0, KT_EVENT_MS) == host0,
		 "host memory back to %lld bytes", host0);
	close(fd);
	return kt_exit();
}
