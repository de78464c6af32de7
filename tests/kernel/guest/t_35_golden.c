// SPDX-License-Identifier: MIT
/*
 * stories260K goldens through the driver: when the harness found ../shared, the card runs
 * the stories260K ROM and /etc holds llama2.c run.c's greedy ids (golden/stories260K). Each
 * case (prompt, then 256 positions) must come out id for id; these cases have no near-ties.
 * Skips (77) without the goldens.
 */
#include "ktest.h"

#define MAXG 512

struct gcase {
	int32_t prompt[16];
	uint32_t n_prompt;
	uint32_t gen[MAXG];
	uint32_t n_gen;
};

/* "# prompt_ids (n):" line, ids line, "# generated_ids (n) ...:" line, ids line, logits... */
static int load(const char *path, struct gcase *c)
{
	FILE *f = fopen(path, "r");
	char *line = NULL, *p, *end;
	size_t cap = 0;
	int sect = 0;

	if (!f)
		return -1;
	memset(c, 0, sizeof(*c));
	while (getline(&line, &cap, f) > 0) {
		if (line[0] == '#') {
			sect = !strncmp(line, "# prompt_ids", 12) ? 1 :
			       !strncmp(line, "# generated_ids", 15) ? 2 : 3;
			if (sect == 3)
				break;	/* logits: not needed here */
			continue;
		}
		for (p = line;; p = end) {
			long v = strtol(p, &end, 10);

			if (end == p)
				break;
			if (sect == 1 && c->n_prompt < 16)
				c->prompt[c->n_prompt++] = (int32_t)v;
			else if (sect == 2 && c->n_gen < MAXG)
				c->gen[c->n_gen++] = (uint32_t)v;
		}
	}
	free(line);
	fclose(f);
	return c->n_prompt && c->n_gen ? 0 : -1;
}

static void run(int fd, const char *name)
{
	char path[128];
	static struct gcase c;
	static uint32_t ids[MAXG];
	struct kt_ctx x;
	struct kt_stream s;
	struct drm_hc_cqe cqe;
	int got;
	uint32_t i;

	snprintf(path, sizeof(path), "/etc/%s.txt", name);
	if (load(path, &c)) {
		KT_CHECK(0, "%s: golden file readable", name);
		return;
	}
	KT_CHECK(kt_ctx_create(fd, &x, 4) == 0 && kt_stream_create(fd, &s, 64) == 0,
		 "%s: context and 64-entry stream", name);
	kt_prefill(&x, c.prompt, c.n_prompt, 1);
	kt_decode(&x, &s, c.n_gen, 2);
	got = kt_stream_read(&x, &s, ids, (int)c.n_gen, KT_EVENT_MS);
	for (i = 0; i < (uint32_t)got && ids[i] == c.gen[i]; i++)
		;
	KT_CHECK(got == (int)c.n_gen && i == c.n_gen,
		 "%s: %d of %u ids, identical to llama2.c up to %u", name, got, c.n_gen, i);
	KT_CHECK(!kt_wait_cqe(&x, &cqe, KT_EVENT_MS) && cqe.status == HC_STATUS_OK &&
		 cqe.count == c.n_prompt, "%s: prefill of %u", name, c.n_prompt);
	KT_CHECK(!kt_wait_cqe(&x, &cqe, KT_EVENT_MS) && cqe.status == HC_STATUS_DONE_MAX_TOKENS &&
		 cqe.count == c.n_gen, "%s: decode done, %u tokens", name, cqe.count);
	kt_stream_destroy(&s);
	kt_ctx_destroy(&x);
}

int main(void)
{
	char sysdir[512];
	int fd;

	if (access("/etc/bos_only.txt", R_OK)) {
		printf("  skip: no stories260K goldens (../shared not found by the harness)\n");
		return 77;
	}
	fd = kt_open(sysdir, sizeof(sysdir));
	if (fd < 0)
		return 1;
	run(fd, "bos_only");
	run(fd, "prompt_1_300");
	close(fd);
	return kt_exit();
}
