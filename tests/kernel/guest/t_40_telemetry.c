// SPDX-License-Identifier: MIT
/*
 * sysfs counters move exactly with the work done, and the hwmon device shows the card with
 * the standard names and units (temp1_input millidegrees, power1_average microwatts,
 * energy1_input microjoules), as `sensors` and node_exporter read them.
 */
#include "ktest.h"
#include "decode_case.h"

static int find_hwmon(char *dir, size_t len)
{
	glob_t g;
	size_t i;
	char path[512], buf[64];

	if (glob("/sys/class/hwmon/hwmon*", 0, NULL, &g))
		return -1;
	for (i = 0; i < g.gl_pathc; i++) {
		snprintf(path, sizeof(path), "%s/name", g.gl_pathv[i]);
		if (!kt_read_file(path, buf, sizeof(buf)) && !strcmp(buf, "hc_accel")) {
			snprintf(dir, len, "%s", g.gl_pathv[i]);
			globfree(&g);
			return 0;
		}
	}
	globfree(&g);
	return -1;
}

static long long hw(const char *dir, const char *f)
{
	char path[600], buf[64];

	snprintf(path, sizeof(path), "%s/%s", dir, f);
	return kt_read_file(path, buf, sizeof(buf)) ? -1 : strtoll(buf, NULL, 0);
}

/* Interrupts delivered to hc_accel so far (all vectors, all CPUs). */
static long long hc_irqs(void)
{
	FILE *f = fopen("/proc/interrupts", "r");
	char line[1024];
	long long sum = 0;

	while (f && fgets(line, sizeof(line), f)) {
		char *p = strchr(line, ':'), *end;

		if (!p || !strstr(line, "hc_accel"))
			continue;
		for (p++;; p = end) {
			long long v = strtoll(p, &end, 10);

			if (end == p)
				break;
			sum += v;
		}
	}
	if (f)
		fclose(f);
	return sum;
}

int main(void)
{
	char sysdir[512], hwdir[512], path[600], buf[64];
	long long tok0, pr0, done0, busy0, sub0, e0, t, p;
	uint32_t ids[20];
	struct drm_hc_cqe cqe;
	struct kt_ctx c;
	struct kt_stream s;
	int fd = kt_open(sysdir, sizeof(sysdir));

	if (fd < 0)
		return 1;
	KT_CHECK(find_hwmon(hwdir, sizeof(hwdir)) == 0, "hwmon device named hc_accel");
	tok0 = kt_counter(sysdir, "tokens_generated");
	pr0 = kt_counter(sysdir, "prompt_tokens");
	done0 = kt_counter(sysdir, "jobs_completed");
	busy0 = kt_counter(sysdir, "busy_time_ns");
	sub0 = kt_counter(sysdir, "jobs_submitted");
	e0 = hw(hwdir, "energy1_input");
	KT_CHECK(tok0 >= 0 && pr0 >= 0 && done0 >= 0 && busy0 >= 0 && sub0 >= 0,
		 "sysfs counters readable");

	KT_CHECK(kt_ctx_create(fd, &c, 4) == 0 && kt_stream_create(fd, &s, 64) == 0,
		 "context and stream");
	KT_CHECK(kt_counter(sysdir, "contexts_open") == 1, "contexts_open is 1");
	KT_CHECK(kt_counter_wait(sysdir, "contexts_in_use", 1, KT_EVENT_MS) == 1, "card contexts_in_use is 1");
	kt_prefill(&c, decode_case_prompt, DECODE_CASE_PROMPT_LEN, 1);
	kt_decode(&c, &s, 20, 2);
	KT_CHECK(kt_stream_read(&c, &s, ids, 20, KT_EVENT_MS) == 20, "20 tokens generated");
	kt_wait_cqe(&c, &cqe, KT_EVENT_MS);
	kt_wait_cqe(&c, &cqe, KT_EVENT_MS);
	KT_CHECK(cqe.status == HC_STATUS_DONE_MAX_TOKENS, "decode done");

	/* The card mirrors its telemetry into the register page every few ms: poll. */
	KT_CHECK(kt_counter_wait(sysdir, "tokens_generated", tok0 + 20, KT_EVENT_MS) == tok0 + 20,
		 "tokens_generated +20");
	KT_CHECK(kt_counter_wait(sysdir, "prompt_tokens", pr0 + DECODE_CASE_PROMPT_LEN, KT_EVENT_MS) ==
		 pr0 + DECODE_CASE_PROMPT_LEN, "prompt_tokens +%d", DECODE_CASE_PROMPT_LEN);
	KT_CHECK(kt_counter(sysdir, "jobs_submitted") - sub0 == 2, "jobs_submitted +2");
	KT_CHECK(kt_counter(sysdir, "jobs_completed") - done0 >= 2, "jobs_completed moved");
	KT_CHECK(kt_counter(sysdir, "busy_time_ns") > busy0, "busy_time_ns moved");

	t = hw(hwdir, "temp1_input");
	p = hw(hwdir, "power1_average");
	KT_CHECK(t > 0 && t < 150000, "temp1_input %lld millidegrees C", t);
	KT_CHECK(p > 0 && p < 1000000000, "power1_average %lld microwatts", p);
	KT_CHECK(hw(hwdir, "energy1_input") > e0, "energy1_input moved (%lld -> %lld uJ)", e0,
		 hw(hwdir, "energy1_input"));
	snprintf(path, sizeof(path), "%s/temp1_label", hwdir);
	KT_CHECK(!kt_read_file(path, buf, sizeof(buf)) && !strcmp(buf, "card"), "temp1_label card");
	snprintf(path, sizeof(path), "%s/power1_label", hwdir);
	KT_CHECK(!kt_read_file(path, buf, sizeof(buf)) && !strcmp(buf, "board"),
		 "power1_label board");

	{
		/* Per-process usage in fdinfo (kernels whose DRM core calls show_fdinfo). */
		char path2[64], line[256];
		long long tokens = -1, prompt = -1, ctxs = -1, engine = -1;
		int drm = 0, mem = 0;
		FILE *f;

		snprintf(path2, sizeof(path2), "/proc/self/fdinfo/%d", fd);
		f = fopen(path2, "r");
		while (f && fgets(line, sizeof(line), f)) {
			drm |= !strncmp(line, "drm-driver:", 11);
			sscanf(line, "hc-tokens: %lld", &tokens);
			sscanf(line, "hc-prompt-tokens: %lld", &prompt);
			sscanf(line, "hc-contexts: %lld", &ctxs);
			sscanf(line, "drm-engine-hc: %lld ns", &engine);
			mem |= !strncmp(line, "drm-total-", 10);
		}
		if (f)
			fclose(f);
		if (drm) {
			KT_CHECK(tokens == 20 && prompt == DECODE_CASE_PROMPT_LEN && ctxs == 1,
				 "fdinfo: hc-tokens %lld, hc-prompt-tokens %lld, hc-contexts %lld",
				 tokens, prompt, ctxs);
			/* the standard keys: the card was busy with our jobs, our BOs count */
			KT_CHECK(engine > 0 && mem, "fdinfo: drm-engine-hc %lld ns, drm-total-* %s",
				 engine, mem ? "present" : "missing");
		}
		else
			printf("  skip fdinfo: this kernel's DRM core has no show_fdinfo\n");
	}
	{
		char cmdline[512] = "";

		kt_read_file("/proc/cmdline", cmdline, sizeof(cmdline));
		if (strstr(cmdline, "pci=nomsi"))
			KT_CHECK(hc_irqs() == 0, "no MSI: the driver polls (no hc_accel interrupts)");
		else
			KT_CHECK(hc_irqs() > 0, "MSI-X: %lld hc_accel interrupts", hc_irqs());
	}
	kt_stream_destroy(&s);
	kt_ctx_destroy(&c);
	KT_CHECK(kt_counter(sysdir, "contexts_open") == 0, "contexts_open back to 0");
	KT_CHECK(kt_counter_wait(sysdir, "contexts_in_use", 0, KT_EVENT_MS) == 0,
		 "card contexts_in_use back to 0");
	close(fd);
	return kt_exit();
}
