// SPDX-License-Identifier: MIT
/*
 * A decode through the driver produces exactly the tokens hc-emud's socket path produced on
 * the host (/etc/expected-decode.txt, from host_ref), through a stream ring smaller than the
 * output (the card must wait for space and be woken), and the completions are right. The
 * card (hc-emud --guest-ram) writes those completions and the tokens into guest RAM by DMA
 * (debugfs ring_state says where the CQ is and how many streams went where).
 */
#include "ktest.h"
#include "decode_case.h"

static int load_expected(uint32_t *ids, int n)
{
	FILE *f = fopen("/etc/expected-decode.txt", "r");
	int i = 0;

	if (!f)
		return -1;
	while (i < n && fscanf(f, "%u", &ids[i]) == 1)
		i++;
	fclose(f);
	return i;
}

static int run_case(int fd, uint32_t *out)
{
	struct drm_hc_job j;
	struct drm_hc_cqe cqe;
	struct kt_ctx c;
	struct kt_stream s;
	int rc, got;

	rc = kt_ctx_create(fd, &c, 8);
	KT_CHECK(rc == 0, "context created (%s)", strerror(-rc));
	if (rc)
		return -1;
	rc = kt_stream_create(fd, &s, DECODE_CASE_RING);
	KT_CHECK(rc == 0, "stream of %d entries created (%s)", DECODE_CASE_RING, strerror(-rc));
	if (rc)
		return -1;

	memset(&j, 0, sizeof(j));
	j.opcode = DRM_HC_OP_PREFILL;
	j.user_data = 0x1111;
	j.prefill.tokens_ptr = (uintptr_t)decode_case_prompt;
	j.prefill.n_tokens = DECODE_CASE_PROMPT_LEN;
	KT_CHECK(kt_submit(&c, &j) == 1, "prefill submitted");
	memset(&j, 0, sizeof(j));
	j.opcode = DRM_HC_OP_DECODE;
	j.user_data = 0x2222;
	j.decode.stream_handle = s.handle;
	j.decode.max_tokens = DECODE_CASE_TOKENS;
	KT_CHECK(kt_submit(&c, &j) == 1, "decode submitted");

	got = kt_stream_read(&c, &s, out, DECODE_CASE_TOKENS, KT_EVENT_MS);
	KT_CHECK(got == DECODE_CASE_TOKENS, "read %d of %d tokens", got, DECODE_CASE_TOKENS);

	rc = kt_wait_cqe(&c, &cqe, KT_EVENT_MS);
	KT_CHECK(rc == 0 && cqe.user_data == 0x1111 && cqe.status == HC_STATUS_OK &&
		 cqe.count == DECODE_CASE_PROMPT_LEN && cqe.ctx_id == c.handle,
		 "prefill completion: user_data %#llx status %u count %u",
		 (unsigned long long)cqe.user_data, cqe.status, cqe.count);
	rc = kt_wait_cqe(&c, &cqe, KT_EVENT_MS);
	KT_CHECK(rc == 0 && cqe.user_data == 0x2222 && cqe.status == HC_STATUS_DONE_MAX_TOKENS &&
		 cqe.count == DECODE_CASE_TOKENS,
		 "decode completion: user_data %#llx status %u count %u",
		 (unsigned long long)cqe.user_data, cqe.status, cqe.count);
	kt_stream_destroy(&s);
	KT_CHECK(kt_ctx_destroy(&c) == 0, "context destroyed");
	return got;
}

int main(void)
{
	uint32_t expect[DECODE_CASE_TOKENS], a[DECODE_CASE_TOKENS], b[DECODE_CASE_TOKENS];
	char sysdir[512];
	int fd, n;

	fd = kt_open(sysdir, sizeof(sysdir));
	if (fd < 0)
		return 1;
	{
		char dbg[512], path[600], buf[1024];

		KT_CHECK(kt_debugfs(dbg, sizeof(dbg)) == 0, "debugfs at %s", dbg);
		snprintf(path, sizeof(path), "%s/ring_state", dbg);
		KT_CHECK(kt_read_file(path, buf, sizeof(buf)) == 0 &&
			 strstr(buf, "in host memory (DMA)"), "the CQ is in host memory (debugfs ring_state)");
	}
	n = load_expected(expect, DECODE_CASE_TOKENS);
	KT_CHECK(n == DECODE_CASE_TOKENS, "expected tokens from the host socket path (%d)", n);
	if (run_case(fd, a) == DECODE_CASE_TOKENS)
		KT_CHECK(!memcmp(a, expect, sizeof(a)), "tokens identical to hc-emud's socket path");
	if (run_case(fd, b) == DECODE_CASE_TOKENS)
		KT_CHECK(!memcmp(a, b, sizeof(a)), "second run identical");
	{
		char dbg[512], path[600], buf[1024];
		const char *h;

		kt_debugfs(dbg, sizeof(dbg));
		snprintf(path, sizeof(path), "%s/ring_state", dbg);
		h = kt_read_file(path, buf, sizeof(buf)) ? NULL : strstr(buf, "streams_host: ");
		KT_CHECK(h && atoll(h + 14) >= 2 && strstr(h, "streams_card: 0 "),
			 "both runs' streams in host memory (%.40s)", h ? h : "no ring_state");
	}
	close(fd);
	return kt_exit();
}
