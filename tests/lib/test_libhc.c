// SPDX-License-Identifier: MIT
/*
 * libhc end to end through hc-emud: generations equal the in-process forward pass
 * (synthetic tiny, greedy and sampled; stories260K and tiny-llama3 goldens), the text API
 * over the card's own tokenizer, and library hygiene (errors, URIs, no daemon).
 */
#include <errno.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include "hc_test.h"
#include "libhc_util.h"
#include "uapi/hc_card.h"

/* ---- hygiene: no daemon needed ---- */

START_TEST(test_strerror_every_error)
{
	static const int errs[] = { EINVAL, ENOENT, ECONNREFUSED, ENODEV, EPROTO, ENOMEM, ENOSPC,
				    EBUSY, EIO, ECANCELED, ETIMEDOUT, EAGAIN, ENAMETOOLONG,
				    EOPNOTSUPP, EPIPE, ECONNRESET };
	size_t i, j;

	for (i = 0; i < sizeof(errs) / sizeof(errs[0]); i++) {
		const char *s = hc_strerror(-errs[i]);

		ck_assert_ptr_nonnull(s);
		ck_assert_msg(strcmp(s, "unknown error"), "no text for errno %d", errs[i]);
		ck_assert_str_eq(s, hc_strerror(errs[i]));
		for (j = 0; j < i; j++)
			ck_assert_str_ne(s, hc_strerror(-errs[j]));
	}
	ck_assert_str_eq(hc_strerror(0), "success");
	ck_assert_str_eq(hc_strerror(-99999), "unknown error");
}
END_TEST

/* The run-time version is the build-time one, and the macros agree with each other. */
START_TEST(test_version)
{
	char want[32];

	snprintf(want, sizeof(want), "%d.%d.%d", HC_VERSION_MAJOR, HC_VERSION_MINOR,
		 HC_VERSION_PATCH);
	ck_assert_str_eq(HC_VERSION_STRING, want);
	ck_assert_str_eq(hc_version(), HC_VERSION_STRING);
	ck_assert_int_eq(HC_VERSION_NUMBER, (HC_VERSION_MAJOR << 16) | (HC_VERSION_MINOR << 8) |
						    HC_VERSION_PATCH);
	ck_assert(HC_VERSION_NUMBER > HC_VERSION_ENCODE(0, 255, 255));
}
END_TEST

START_TEST(test_bad_uris)
{
	static const char *bad[] = { "", "emu:", "emu", "tcp://host:1", "/dev/accel/accel",
				     "/dev/accel/accelX", "/dev/accel/accel0x", "dev/accel/accel0",
				     "/tmp/emud.sock", "EMU:/tmp/x", "/dev/dri/renderD",
				     "/dev/dri/renderD12x", "/dev/dri/card0" };
	char longp[300], path[HC_URI_MAX];
	enum hc_backend be;
	struct hc_card *card = (void *)1;
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		ck_assert_msg(hc_parse_uri(bad[i], &be, path, sizeof(path)) == -EINVAL, "%s", bad[i]);
		ck_assert_int_eq(hc_open(bad[i], &card), -EINVAL);
	}
	ck_assert_ptr_eq(card, (void *)1);	/* untouched on error */
	ck_assert_int_eq(hc_parse_uri(NULL, &be, path, sizeof(path)), -EINVAL);
	ck_assert_int_eq(hc_open("emu:/x", NULL), -EINVAL);
	memset(longp, 'a', sizeof(longp));
	memcpy(longp, "emu:/", 5);
	longp[sizeof(longp) - 1] = 0;
	ck_assert_int_eq(hc_parse_uri(longp, &be, path, sizeof(path)), -ENAMETOOLONG);
	ck_assert_int_eq(hc_open(longp, &card), -ENAMETOOLONG);

	ck_assert_int_eq(hc_parse_uri("emu:/run/x.sock", &be, path, sizeof(path)), 0);
	ck_assert_int_eq(be, HC_BACKEND_EMU);
	ck_assert_str_eq(path, "/run/x.sock");
	ck_assert_int_eq(hc_parse_uri("/dev/accel/accel12", &be, path, sizeof(path)), 0);
	ck_assert_int_eq(be, HC_BACKEND_KERNEL);
	ck_assert_str_eq(path, "/dev/accel/accel12");
	ck_assert_int_eq(hc_parse_uri("/dev/dri/renderD128", &be, path, sizeof(path)), 0);
	ck_assert_int_eq(be, HC_BACKEND_KERNEL);
	ck_assert_str_eq(path, "/dev/dri/renderD128");
}
END_TEST

START_TEST(test_no_daemon)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	char dir[] = "/tmp/hc-nod-XXXXXX", uri[128];
	struct hc_card *card;
	int fd, r;

	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(uri, sizeof(uri), "emu:%s/missing.sock", dir);
	ck_assert_int_eq(hc_open(uri, &card), -ENOENT);
	/* a socket file nobody listens on */
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s/dead.sock", dir);
	fd = socket(AF_UNIX, SOCK_STREAM, 0);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	close(fd);
	snprintf(uri, sizeof(uri), "emu:%s", sa.sun_path);
	ck_assert_int_eq(hc_open(uri, &card), -ECONNREFUSED);
	ck_assert_str_eq(hc_strerror(-ECONNREFUSED), "connection refused: no card daemon listening");
	unlink(sa.sun_path);
	rmdir(dir);
	/* kernel node: -ENODEV without the kernel backend, -ENOENT with it */
	r = hc_open("/dev/accel/accel987", &card);
	ck_assert_msg(r == -ENODEV || r == -ENOENT, "got %d", r);
}
END_TEST

START_TEST(test_discovery_env)
{
	struct hc_device_desc d[4];
	size_t n = 0;

	setenv("HC_DEVICE", "emu:/tmp/hc-test-discovery.sock", 1);
	ck_assert_int_eq(hc_list_devices(d, 4, &n), 0);
	ck_assert_uint_ge(n, 1);
	ck_assert_str_eq(d[0].uri, "emu:/tmp/hc-test-discovery.sock");
	ck_assert_int_eq(d[0].backend, HC_BACKEND_EMU);
	ck_assert_int_eq(hc_list_devices(NULL, 0, &n), n ? -ENOSPC : 0);
	/* discovery opens $HC_DEVICE first: nothing there, so it fails unless another card
	 * is discovered after it (e.g. the driver's nodes), which it then opens */
	{
		struct hc_card *card;
		int r = hc_open(NULL, &card);

		if (n == 1) {
			ck_assert_int_lt(r, 0);
		} else {
			ck_assert_int_eq(r, 0);
			hc_close(card);
		}
	}
	setenv("HC_DEVICE", "garbage", 1);
	ck_assert_int_eq(hc_list_devices(d, 4, &n), 0);
	if (n)
		ck_assert_str_ne(d[0].uri, "garbage");
	unsetenv("HC_DEVICE");
}
END_TEST

/* ---- end to end ---- */

static const char *llama3_rom(char *rom, size_t len);

static void check_same(const int32_t *want, uint32_t nw, const int32_t *got, uint32_t ng)
{
	uint32_t i;

	ck_assert_uint_eq(ng, nw);
	for (i = 0; i < nw; i++)
		ck_assert_msg(got[i] == want[i], "token %u: card %d, in-process %d", i, got[i],
			      want[i]);
}

START_TEST(test_tiny_matches_forward)
{
	static const int32_t prompt[] = { 1, 17, 99, 3, 250, 7 };
	struct t_ref_params greedy = { .max_tokens = 40 };
	struct t_ref_params sampled = { .max_tokens = 40, .temperature = 0.9f, .top_p = 0.9f,
					.top_k = 40, .seed = 1234 };
	struct t_ref_params hot = { .max_tokens = 33, .temperature = 1.5f, .seed = 7 };
	struct t_ref_params *cases[] = { &greedy, &sampled, &hot };
	int32_t want[64], got[64];
	struct hc_stream_status st;
	struct hc_card_info info;
	struct hc_card *card;
	struct t_emud e;
	char rom[256];
	size_t i;
	uint32_t nw, ng;

	t_bake("tiny", 1, rom, sizeof(rom));
	T_EMUD_START(&e, rom, NULL);
	ck_assert_int_eq(hc_open(e.uri, &card), 0);
	ck_assert_int_eq(hc_card_info(card, &info), 0);
	ck_assert_uint_gt(info.vocab_size, 250);
	ck_assert_uint_ge(info.n_contexts, 1);
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		nw = t_reference(rom, prompt, 6, cases[i], want);
		ng = t_generate(card, prompt, 6, cases[i], got, &st);
		check_same(want, nw, got, ng);
		ck_assert_int_eq(st.state, HC_STREAM_DONE_MAX_TOKENS);
		ck_assert_uint_eq(st.count, ng);
		ck_assert_uint_eq(st.consumed, ng);
	}
	hc_close(card);
	t_emud_stop(&e);
}
END_TEST

START_TEST(test_stop_ids_and_continuation)
{
	static const int32_t prompt[] = { 1, 5, 6, 7 };
	struct t_ref_params p = { .max_tokens = 30, .temperature = 0.8f, .seed = 99 };
	struct hc_decode_params dp = { .max_tokens = 30, .temperature = 0.8f, .seed = 99 };
	int32_t want[64], got[64];
	struct hc_stream_status st;
	struct hc_stream *s;
	struct hc_card *card;
	struct hc_ctx *ctx;
	struct t_emud e;
	char rom[256];
	uint32_t nw, n = 0;
	int r;

	t_bake("tiny", 1, rom, sizeof(rom));
	nw = t_reference(rom, prompt, 4, &p, want);
	ck_assert_uint_eq(nw, 30);
	T_EMUD_START(&e, rom, NULL);
	ck_assert_int_eq(hc_open(e.uri, &card), 0);
	/* stop at the 11th reference token: tokens before it stream, the stop id does not */
	dp.n_stop = 1;
	dp.stop_ids[0] = want[10];
	for (r = 0; r < 10; r++)
		if (want[r] == want[10])
			break;
	ck_assert_int_eq(hc_ctx_create(card, &ctx), 0);
	ck_assert_int_eq(hc_ctx_prefill_tokens(ctx, prompt, 4), 0);
	ck_assert_uint_eq(hc_ctx_position(ctx), 4);
	ck_assert_int_eq(hc_ctx_decode(ctx, &dp, &s), 0);
	while ((r = hc_stream_read(s, (uint32_t *)got + n, 64 - n)) > 0)
		n += r;
	ck_assert_int_eq(r, 0);
	ck_assert_int_eq(hc_stream_status(s, &st), 1);
	ck_assert_uint_eq(n, (uint32_t)r + st.count);
	check_same(want, n, got, n);
	if (n == 10) {
		ck_assert_int_eq(st.state, HC_STREAM_DONE_STOP);
		ck_assert_int_eq(st.stop_id, want[10]);
	}
	hc_stream_free(s);
	/* continue the same context without stop ids: the pending stop token is fed first,
	 * so the continuation equals the reference from where it left off */
	dp.n_stop = 0;
	dp.max_tokens = 30 - n - 1;
	dp.step_base = n + 1;
	ck_assert_int_eq(hc_ctx_decode(ctx, &dp, &s), 0);
	{
		uint32_t m = 0;

		while ((r = hc_stream_read(s, (uint32_t *)got + m, 64 - m)) > 0)
			m += r;
		ck_assert_uint_eq(m, 30 - n - 1);
		check_same(want + n + 1, m, got, m);
	}
	hc_stream_free(s);
	hc_ctx_destroy(ctx);
	hc_close(card);
	t_emud_stop(&e);
}
END_TEST

START_TEST(test_stories260k_goldens)
{
	static const char *files[] = { "bos_only.txt", "prompt_1_403_407_261.txt",
				       "prompt_1_300.txt", "prompt_1_10_20_30_40.txt" };
	char model[512], gpath[512], rom[256];
	int32_t prompt[16], gen[300], got[300];
	struct t_ref_params p = { 0 };
	struct hc_stream_status st;
	struct hc_card *card;
	struct t_emud e;
	uint32_t np, ng, n;
	size_t i;

	HC_REQUIRE_SHARED("models/stories260K.bin", model);
	HC_REQUIRE_SHARED("golden/stories260K/bos_only.txt", gpath);
	t_bake_rom(rom, sizeof(rom), "stories260K.rom", "--no-progress", "--tokenizer", "builtin",
		   model, NULL);
	T_EMUD_START(&e, rom, NULL);
	ck_assert_int_eq(hc_open(e.uri, &card), 0);
	for (i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		char rel[128];

		snprintf(rel, sizeof(rel), "golden/stories260K/%s", files[i]);
		hc_test_shared(rel, gpath, sizeof(gpath));
		ck_assert_int_eq(t_read_golden(gpath, prompt, &np, gen, &ng, 300), 0);
		ck_assert_uint_eq(np + ng, 257);
		p.max_tokens = ng;
		n = t_generate(card, prompt, np, &p, got, &st);
		check_same(gen, ng, got, n);
	}
	hc_close(card);
	t_emud_stop(&e);
}
END_TEST

static void read_ids(json_t *arr, int32_t **out, size_t *n)
{
	size_t i;

	ck_assert(json_is_array(arr));
	*n = json_array_size(arr);
	*out = malloc(*n * sizeof(**out) + 1);
	for (i = 0; i < *n; i++)
		(*out)[i] = (int32_t)json_integer_value(json_array_get(arr, i));
}

START_TEST(test_tiny_llama3_goldens)
{
	char model[512], gpath[512], rom[256];
	struct t_ref_params p = { 0 };
	struct hc_stream_status st;
	struct hc_card *card;
	struct t_emud e;
	json_error_t jerr;
	json_t *root, *cases, *c;
	size_t i, n_prompt, n_gen, n;
	int32_t *prompt, *gen, *ids, got[64];

	HC_REQUIRE_SHARED("models/tiny-llama3-hf/config.json", model);
	HC_REQUIRE_SHARED("golden/tiny-llama3/generate.json", gpath);
	llama3_rom(rom, sizeof(rom));
	root = json_load_file(gpath, 0, &jerr);
	ck_assert_msg(root, "%s: %s", gpath, jerr.text);
	cases = json_object_get(root, "cases");
	T_EMUD_START(&e, rom, NULL);
	ck_assert_int_eq(hc_open(e.uri, &card), 0);
	json_array_foreach(cases, i, c) {
		const char *text = json_string_value(json_object_get(c, "text"));

		read_ids(json_object_get(c, "prompt_ids"), &prompt, &n_prompt);
		read_ids(json_object_get(c, "generated_ids"), &gen, &n_gen);
		/* the prompt is encoded by the card's tokenizer through libhc */
		ids = malloc((n_prompt + 16) * sizeof(*ids));
		ck_assert_int_eq(hc_tokenize(card, text, strlen(text), HC_TEXT_BOS, ids,
					     n_prompt + 16, &n), 0);
		check_same(prompt, n_prompt, ids, n);
		p.max_tokens = n_gen;
		n = t_generate(card, ids, n_prompt, &p, got, &st);
		check_same(gen, n_gen, got, n);
		free(ids);
		free(prompt);
		free(gen);
	}
	/* the chat case: messages rendered by the card's chat format */
	c = json_object_get(root, "chat");
	{
		json_t *msgs = json_object_get(c, "messages"), *m;
		struct hc_message hm[4];
		size_t k;

		json_array_foreach(msgs, k, m) {
			ck_assert_uint_lt(k, 4);
			hm[k].role = json_string_value(json_object_get(m, "role"));
			hm[k].content = json_string_value(json_object_get(m, "content"));
		}
		read_ids(json_object_get(c, "prompt_ids"), &prompt, &n_prompt);
		read_ids(json_object_get(c, "generated_ids"), &gen, &n_gen);
		ids = malloc((n_prompt + 16) * sizeof(*ids));
		ck_assert_int_eq(hc_chat_tokenize(card, hm, json_array_size(msgs), 1, ids,
						  n_prompt + 16, &n), 0);
		check_same(prompt, n_prompt, ids, n);
		p.max_tokens = n_gen;
		n = t_generate(card, ids, n_prompt, &p, got, &st);
		check_same(gen, n_gen, got, n);
		free(ids);
		free(prompt);
		free(gen);
	}
	json_decref(root);
	hc_close(card);
	t_emud_stop(&e);
}
END_TEST

/* Bake (once) the tiny-llama3 ROM: the real Llama 3.1 byte-level BPE tokenizer. */
static const char *llama3_rom(char *rom, size_t len)
{
	char model[512];

	hc_test_shared("models/tiny-llama3-hf", model, sizeof(model));
	return t_bake_rom(rom, len, "tiny-llama3.rom", "--no-progress", model, NULL);
}

/* Every chunk the text stream emits is complete UTF-8 on its own. */
static int utf8_complete(const char *s, size_t n)
{
	size_t i = 0, k, need;
	unsigned char c;

	while (i < n) {
		c = (unsigned char)s[i];
		need = c < 0x80 ? 0 : (c & 0xe0) == 0xc0 ? 1 : (c & 0xf0) == 0xe0 ? 2 :
		       (c & 0xf8) == 0xf0 ? 3 : 9;
		if (need == 9 || i + need >= n + (need ? 0 : 1))
			return 0;
		for (k = 1; k <= need; k++)
			if (((unsigned char)s[i + k] & 0xc0) != 0x80)
				return 0;
		i += need + 1;
	}
	return 1;
}

START_TEST(test_text_stream_utf8)
{
	/* "Ünïcödé naïve café — 東京 🚀 ok" */
	const char *text = "\xc3\x9c" "n" "\xc3\xaf" "c" "\xc3\xb6" "d" "\xc3\xa9" " na"
			   "\xc3\xaf" "ve caf" "\xc3\xa9" " \xe2\x80\x94 \xe6\x9d\xb1\xe4\xba\xac "
			   "\xf0\x9f\x9a\x80" " ok";
	struct hc_text_stream *ts;
	struct hc_card *card;
	struct t_emud e;
	char rom[256], model[512], out[4096], buf[256];
	int32_t ids[256];
	size_t n, i, len = 0, split = 0;
	int r;

	HC_REQUIRE_SHARED("models/tiny-llama3-hf/config.json", model);
	llama3_rom(rom, sizeof(rom));
	T_EMUD_START(&e, rom, NULL);
	ck_assert_int_eq(hc_open(e.uri, &card), 0);
	ck_assert_int_eq(hc_tokenize(card, text, strlen(text), 0, ids, 256, &n), 0);
	ck_assert_uint_gt(n, 1);
	ck_assert_int_eq(hc_tokenize(card, text, strlen(text), 0, ids, 1, &i), -ENOSPC);
	ck_assert_uint_eq(i, n);
	ck_assert_int_eq(hc_text_stream_new(card, &ts), 0);
	for (i = 0; i < n; i++) {
		size_t plen;
		const char *piece = hc_token_piece(card, ids[i], &plen);

		ck_assert_ptr_nonnull(piece);
		split += !utf8_complete(piece, plen);	/* a character spread over tokens */
		r = hc_text_stream_push(ts, ids[i], buf, sizeof(buf));
		ck_assert_int_ge(r, 0);
		ck_assert_msg(utf8_complete(buf, r), "token %zu emitted a partial character", i);
		memcpy(out + len, buf, r);
		len += r;
	}
	ck_assert_uint_gt(split, 0);	/* the case this test is about did occur */
	r = hc_text_stream_flush(ts, buf, sizeof(buf));
	ck_assert_int_eq(r, 0);
	out[len] = 0;
	ck_assert_str_eq(out, text);
	ck_assert_int_eq(hc_text_stream_push(ts, -1, buf, sizeof(buf)), -EINVAL);
	ck_assert_int_eq(hc_text_stream_push(ts, 128256, buf, sizeof(buf)), -EINVAL);
	ck_assert_ptr_null(hc_token_piece(card, 128256, &i));
	ck_assert_int_eq(hc_token_bos(card), 128000);
	{
		int32_t stop[8];
		uint32_t k, ns = hc_stop_ids(card, stop, 8), found = 0;

		for (k = 0; k < ns; k++)
			found |= stop[k] == 128009;	/* <|eot_id|> */
		ck_assert(found);
	}
	hc_text_stream_free(ts);
	hc_close(card);
	t_emud_stop(&e);
}
END_TEST

/*
 * The card's text functions answer -EOPNOTSUPP cleanly when nothing applies; ids work.
 * hc_card_versions: the card interface's version, the firmware's (hc-emud's: the project's)
 * and, behind the kernel driver (HC_TEST_DEVICE in the QEMU guest), the driver's.
 */
START_TEST(test_info_identity)
{
	struct hc_card_versions ver;
	struct hc_card_info info;
	struct hc_telemetry t;
	enum hc_backend be;
	struct hc_card *card;
	struct t_emud e;
	char rom[256], hex[65];
	static const uint8_t id[32] = { 0x01, 0xab, 0xff };

	ck_assert_str_eq(hc_identity_hex(id, hex),
			 "01abff0000000000000000000000000000000000000000000000000000000000");
	t_bake("tiny", 1, rom, sizeof(rom));
	T_EMUD_START(&e, rom, NULL);
	ck_assert_int_eq(hc_open(e.uri, &card), 0);
	ck_assert_int_eq(hc_card_info(card, &info), 0);
	ck_assert_str_eq(info.model_name, "synthetic-tiny");
	ck_assert_uint_eq(info.vocab_size, 512);
	ck_assert_uint_eq(info.dim, 128);
	ck_assert_uint_eq(info.n_layers, 4);
	ck_assert_uint_eq(info.n_heads, 4);
	ck_assert_uint_eq(info.n_kv_heads, 2);
	ck_assert_uint_eq(info.ffn_dim, 384);
	ck_assert_uint_eq(info.interface_version, 1);
	ck_assert_uint_ge(info.n_queue_pairs, 1);
	ck_assert_uint_gt(info.stream_mem_bytes, 0);
	ck_assert_uint_eq(info.status, 1);	/* READY */
	{
		/* identity equals the ROM's */
		FILE *f = fopen(rom, "rb");
		uint8_t hdr[512];

		ck_assert_ptr_nonnull(f);
		ck_assert_uint_eq(fread(hdr, 1, sizeof(hdr), f), sizeof(hdr));
		fclose(f);
		ck_assert_int_eq(memcmp(info.identity, hdr + 24, 32), 0);
	}
	/* the heartbeat advances and mirrors telemetry while the card is alive */
	ck_assert_int_eq(hc_card_telemetry(card, &t), 0);
	{
		struct hc_telemetry t2;
		int i;

		for (i = 0; i < 3000; i++) {
			ck_assert_int_eq(hc_card_telemetry(card, &t2), 0);
			if (t2.heartbeat > t.heartbeat + 1)
				break;
			usleep(10000);
		}
		ck_assert_uint_gt(t2.heartbeat, t.heartbeat + 1);
		ck_assert_uint_ge(t2.clients, 1);
	}
	ck_assert_int_eq(hc_card_info(card, NULL), -EINVAL);

	memset(&ver, 0xa5, sizeof(ver));
	ck_assert_int_eq(hc_card_versions(card, &ver), 0);
	ck_assert_uint_eq(ver.interface_version, HC_CARD_VERSION);
	ck_assert_uint_eq(ver.interface_version, info.interface_version);
	ck_assert_msg(ver.fw_version == HC_VERSION_NUMBER, "fw_version 0x%x, want 0x%x (%s)",
		      ver.fw_version, HC_VERSION_NUMBER, HC_VERSION_STRING);
	ck_assert_int_eq(hc_parse_uri(e.uri, &be, NULL, 0), 0);
	if (be == HC_BACKEND_KERNEL)	/* the hc_accel module's version */
		ck_assert_str_eq(ver.driver_version, HC_VERSION_STRING);
	else
		ck_assert_str_eq(ver.driver_version, "");
	for (size_t i = 0; i < sizeof(ver.reserved) / sizeof(ver.reserved[0]); i++)
		ck_assert_uint_eq(ver.reserved[i], 0);
	ck_assert_int_eq(hc_card_versions(card, NULL), -EINVAL);
	ck_assert_int_eq(hc_card_versions(NULL, &ver), -EINVAL);

	hc_close(card);
	hc_close(NULL);
	t_emud_stop(&e);
}
END_TEST

/* hc-run's stdout (stderr dropped); the exit status must be 0. */
static char *run_capture(const char *cmd)
{
	static char out[65536];
	size_t n = 0, r;
	FILE *f = popen(cmd, "r");

	ck_assert_ptr_nonnull(f);
	while ((r = fread(out + n, 1, sizeof(out) - 1 - n, f)) > 0)
		n += r;
	out[n] = 0;
	ck_assert_msg(pclose(f) == 0, "'%s' failed", cmd);
	return strdup(out);
}

/* Every hc-run option gives the same output over the card as in-process (--rom). */
static void hc_run_same(const char *uri, const char *rom, const char *args)
{
	char cmd[1024];
	char *card, *direct;

	snprintf(cmd, sizeof(cmd), "build/hc-run -d %s %s 2>/dev/null", uri, args);
	card = run_capture(cmd);
	snprintf(cmd, sizeof(cmd), "build/hc-run --rom %s %s 2>/dev/null", rom, args);
	direct = run_capture(cmd);
	ck_assert_msg(strlen(card) > 1, "no output for %s", args);
	ck_assert_msg(!strcmp(card, direct), "hc-run %s: card '%s', in-process '%s'", args, card,
		      direct);
	free(card);
	free(direct);
}

START_TEST(test_hc_run_over_card)
{
	static const char *args[] = {
		"--tokenize --bos 'hello world'",
		"--prompt-ids 1,2,3 --print-ids -n 30",
		"--prompt-ids 1,2,3 --print-ids -n 30 --temp 0.8 --top-p 0.9 --top-k 40 --seed 7",
		"--bos -n 40 --temp 0.7 --seed 3 'hello there'",
		"--print-ids -n 25 'no bos'",
	};
	char rom[256], cmd[512];
	struct t_emud e;
	char *out, *nl;
	size_t i;

	t_bake("tiny", 1, rom, sizeof(rom));
	T_EMUD_START(&e, rom, NULL);
	for (i = 0; i < sizeof(args) / sizeof(args[0]); i++)
		hc_run_same(e.uri, rom, args[i]);
	/* HC_DEVICE discovery: no -d at all */
	snprintf(cmd, sizeof(cmd), "HC_DEVICE=%s build/hc-run --prompt-ids 1,2 --print-ids -n 5"
		 " 2>/dev/null", e.uri);
	out = run_capture(cmd);
	ck_assert_uint_gt(strlen(out), 5);
	free(out);
	/* -i: two turns in one context, each answered on its own line */
	snprintf(cmd, sizeof(cmd), "printf 'hello\\nagain\\n' | build/hc-run -d %s -i -n 6 "
		 "--print-ids 2>/dev/null", e.uri);
	out = run_capture(cmd);
	nl = strchr(out, '\n');
	ck_assert_ptr_nonnull(nl);
	ck_assert_ptr_nonnull(strchr(nl + 1, '\n'));
	ck_assert_int_gt(nl - out, 0);
	free(out);
	/* a socket path without emu: gets a hint (only where e.uri is our own socket) */
	if (!strncmp(e.uri, "emu:", 4)) {
		snprintf(cmd, sizeof(cmd), "build/hc-run -d %s -n 1 hi 2>&1; true", e.uri + 4);
		out = run_capture(cmd);
		ck_assert_msg(strstr(out, "write -d emu:"), "no emu: hint in '%s'", out);
		free(out);
	}
	t_emud_stop(&e);
}
END_TEST

START_TEST(test_hc_run_chat_llama3)
{
	char rom[256], model[512];
	struct t_emud e;

	HC_REQUIRE_SHARED("models/tiny-llama3-hf/config.json", model);
	llama3_rom(rom, sizeof(rom));
	T_EMUD_START(&e, rom, NULL);
	hc_run_same(e.uri, rom, "--chat --tokenize 'Write a haiku about silicon.'");
	hc_run_same(e.uri, rom, "--chat -n 16 'hello'");
	hc_run_same(e.uri, rom, "--bos -n 16 --temp 0.9 --seed 5 'Once upon a time'");
	t_emud_stop(&e);
}
END_TEST

/* The context position in hc-run -i's last stats line ("[... context N of M]"). */
static unsigned stats_position(const char *err)
{
	const char *last = NULL, *q = err;
	unsigned pos = 0;

	while ((q = strstr(q, "; context "))) {
		last = q;
		q++;
	}
	ck_assert_msg(last && sscanf(last, "; context %u of", &pos) == 1, "no stats line in '%s'",
		      err);
	return pos;
}

/* hc-run -i: /reset starts over (the same question gets the same greedy answer, which is
 * --chat's), --system goes first, every answer ends with a stats line. */
START_TEST(test_hc_run_interactive)
{
	char rom[256], model[512], cmd[1024], errf[64] = "/tmp/hc-run-i-XXXXXX";
	char *out, *chat, *err, *first, *second;
	unsigned plain_pos, sys_pos;
	struct t_emud e;
	int fd;

	HC_REQUIRE_SHARED("models/tiny-llama3-hf/config.json", model);
	llama3_rom(rom, sizeof(rom));
	T_EMUD_START(&e, rom, NULL);
	fd = mkstemp(errf);
	ck_assert_int_ge(fd, 0);
	close(fd);

	snprintf(cmd, sizeof(cmd), "printf 'hello\\n/reset\\nhello\\n/help\\n' | "
		 "build/hc-run -d %s -i -n 12 --print-ids 2>%s", e.uri, errf);
	out = run_capture(cmd);
	snprintf(cmd, sizeof(cmd), "cat %s", errf);
	err = run_capture(cmd);
	ck_assert_msg(strstr(err, "(conversation cleared)"), "no reset in '%s'", err);
	ck_assert_msg(strstr(err, "commands: /reset"), "no help in '%s'", err);
	first = strtok(out, "\n");
	second = strtok(NULL, "\n");
	ck_assert_msg(first && second && !strcmp(first, second),
		      "after /reset the same question got '%s', then '%s'", first, second);
	snprintf(cmd, sizeof(cmd), "build/hc-run -d %s --chat -n 12 --print-ids hello 2>/dev/null",
		 e.uri);
	chat = run_capture(cmd);
	chat[strcspn(chat, "\n")] = 0;
	ck_assert_str_eq(first, chat);
	plain_pos = stats_position(err);
	free(err);
	free(out);

	snprintf(cmd, sizeof(cmd), "printf 'hello\\n' | build/hc-run -d %s -i -n 12 --print-ids "
		 "--system 'You answer in one word.' >/dev/null 2>%s", e.uri, errf);
	free(run_capture(cmd));
	snprintf(cmd, sizeof(cmd), "cat %s", errf);
	err = run_capture(cmd);
	sys_pos = stats_position(err);
	ck_assert_msg(sys_pos > plain_pos + 5, "--system did not reach the context (%u vs %u)",
		      sys_pos, plain_pos);
	free(err);
	free(chat);
	unlink(errf);
	t_emud_stop(&e);
}
END_TEST

static Suite *libhc_suite(void)
{
	Suite *s = suite_create("libhc");
	TCase *run = hc_tcase(s, "hc_run", 600);
	TCase *h = hc_tcase(s, "hygiene", 60);
	TCase *e2e = hc_tcase(s, "end_to_end", 600);

	tcase_add_test(run, test_hc_run_over_card);
	tcase_add_test(run, test_hc_run_chat_llama3);
	tcase_add_test(run, test_hc_run_interactive);
	tcase_add_test(h, test_strerror_every_error);
	tcase_add_test(h, test_version);
	tcase_add_test(h, test_bad_uris);
	tcase_add_test(h, test_no_daemon);
	tcase_add_test(h, test_discovery_env);
	tcase_add_test(e2e, test_tiny_matches_forward);
	tcase_add_test(e2e, test_stop_ids_and_continuation);
	tcase_add_test(e2e, test_text_stream_utf8);
	tcase_add_test(e2e, test_info_identity);
	tcase_add_test(e2e, test_stories260k_goldens);
	tcase_add_test(e2e, test_tiny_llama3_goldens);
	return s;
}

HC_TEST_MAIN(libhc_suite)
