// SPDX-License-Identifier: MIT
/*
 * Hugging Face tokenizer.json (+ tokenizer_config.json) -> struct hc_tok_spec.
 * Supported: model.type "BPE" with a ByteLevel pre-tokenizer (Llama 3, GPT-2 style):
 * vocab, merges ("a b" strings or [a, b] arrays), added tokens (special -> control,
 * otherwise user-defined), the Split regex, ignore_merges; bos/eos/pad and the chat
 * template from the config. SentencePiece-style BPE (Llama 2 HF): tools/bake/tokenizer/tok_hf_spm.c.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <jansson.h>
#include "hc_err.h"
#include "hc_file.h"
#include "tok_blob.h"
#include "tok_spec.h"
#include "tok_util.h"

static const char gpt2_regex[] =
	"'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+";

struct hf_ctx {
	const char *path;
	char *err;
	size_t errlen;
};

#define FAIL(c, ...) (hc_errmsg((c)->err, (c)->errlen, __VA_ARGS__), -EINVAL)

static const char *type_of(json_t *o)
{
	return json_string_value(json_object_get(o, "type"));
}

/*
 * Pre-tokenizer: ByteLevel alone (GPT-2 regex when use_regex) or a Sequence of
 * Split(Regex, Isolated) and ByteLevel(use_regex false), as Llama 3 ships.
 */
static int parse_pretok(struct hf_ctx *c, json_t *pt, char **regex)
{
	const char *ty = type_of(pt);
	json_t *list, *e, *bl = NULL, *split = NULL;
	size_t i;

	if (!ty)
		return FAIL(c, "%s: pre_tokenizer: missing (byte-level BPE needs one)", c->path);
	if (!strcmp(ty, "ByteLevel")) {
		bl = pt;
	} else if (!strcmp(ty, "Sequence")) {
		list = json_object_get(pt, "pretokenizers");
		json_array_foreach(list, i, e) {
			const char *t = type_of(e);

			if (t && !strcmp(t, "ByteLevel") && !bl)
				bl = e;
			else if (t && !strcmp(t, "Split") && !split && !bl)
				split = e;
			else
				return FAIL(c, "%s: pre_tokenizer: unsupported step %zu (%s)", c->path,
					    i, t ? t : "?");
		}
	} else {
		return FAIL(c, "%s: pre_tokenizer: unsupported type %s", c->path, ty);
	}
	if (!bl)
		return FAIL(c, "%s: pre_tokenizer: no ByteLevel step", c->path);
	if (json_is_true(json_object_get(bl, "add_prefix_space")))
		return FAIL(c, "%s: pre_tokenizer: ByteLevel add_prefix_space is unsupported", c->path);
	if (split) {
		const char *re = json_string_value(json_object_get(json_object_get(split, "pattern"),
								   "Regex"));
		const char *beh = json_string_value(json_object_get(split, "behavior"));

		if (!re || !beh || strcmp(beh, "Isolated") ||
		    json_is_true(json_object_get(split, "invert")))
			return FAIL(c, "%s: pre_tokenizer: Split must be a Regex, Isolated, not "
				    "inverted", c->path);
		if (json_is_true(json_object_get(bl, "use_regex")))
			return FAIL(c, "%s: pre_tokenizer: Split followed by ByteLevel use_regex",
				    c->path);
		*regex = strdup(re);
	} else {
		if (json_is_false(json_object_get(bl, "use_regex")))
			return FAIL(c, "%s: pre_tokenizer: ByteLevel without any split", c->path);
		*regex = strdup(gpt2_regex);
	}
	return *regex ? 0 : -ENOMEM;
}

/* "a b" or ["a", "b"] -> "a b". */
static char *merge_text(json_t *m)
{
	const char *a, *b;
	char *s;

	if (json_is_string(m))
		return strdup(json_string_value(m));
	if (!json_is_array(m) || json_array_size(m) != 2)
		return NULL;
	a = json_string_value(json_array_get(m, 0));
	b = json_string_value(json_array_get(m, 1));
	if (!a || !b || asprintf(&s, "%s %s", a, b) < 0)
		return NULL;
	return s;
}

/* A config token field: "text" or {"content": "text", ...}. */
static const char *token_text(json_t *v)
{
	if (json_is_object(v))
		v = json_object_get(v, "content");
	return json_string_value(v);
}

static int32_t find_piece(const struct hc_tok_spec *s, const char *text)
{
	if (!text)
		return -1;
	for (uint32_t i = 0; i < s->n_vocab; i++)
		if (s->pieces[i] && !strcmp(s->pieces[i], text))
			return (int32_t)i;
	return -1;
}

static int32_t first_piece(const struct hc_tok_spec *s, const char *a, const char *b)
{
	int32_t id = find_piece(s, a);

	return id >= 0 ? id : find_piece(s, b);
}

static int parse_config(struct hf_ctx *c, json_t *cfg, struct hc_tok_spec *s)
{
	json_t *tmpl = json_object_get(cfg, "chat_template"), *v;
	const char *txt;

	txt = token_text(json_object_get(cfg, "bos_token"));
	if (txt && (s->bos_id = find_piece(s, txt)) < 0)
		return FAIL(c, "%s: bos_token \"%s\" is not in the vocab", c->path, txt);
	txt = token_text(json_object_get(cfg, "eos_token"));
	if (txt && (s->eos_id = find_piece(s, txt)) < 0)
		return FAIL(c, "%s: eos_token \"%s\" is not in the vocab", c->path, txt);
	txt = token_text(json_object_get(cfg, "pad_token"));
	if (txt)
		s->pad_id = find_piece(s, txt);
	txt = token_text(json_object_get(cfg, "unk_token"));
	if (txt)
		s->unk_id = find_piece(s, txt);
	v = json_object_get(cfg, "add_bos_token");
	if (json_is_boolean(v))
		s->add_bos = json_is_true(v);
	if (json_is_array(tmpl)) {
		/* [{"name": "default", "template": ...}, ...] */
		json_t *e, *pick = json_array_get(tmpl, 0);
		size_t i;

		json_array_foreach(tmpl, i, e) {
			const char *name = json_string_value(json_object_get(e, "name"));

			if (name && !strcmp(name, "default"))
				pick = e;
		}
		tmpl = json_object_get(pick, "template");
	}
	if (tmpl && !json_is_string(tmpl))
		return FAIL(c, "%s: chat_template is not a string", c->path);
	if (tmpl && !(s->chat_template = strdup(json_string_value(tmpl))))
		return -ENOMEM;
	return 0;
}

static int parse_tokenizer(struct hf_ctx *c, json_t *root, struct hc_tok_spec **out)
{
	json_t *model = json_object_get(root, "model"), *vocab, *merges, *added, *v, *norm;
	const char *mtype = type_of(model), *key, *why;
	struct hc_tok_spec *s = NULL;
	bool spm, prefix;
	char msg[200];
	char *regex = NULL;
	int64_t max_id = -1;
	size_t i;
	int ret;

	if (!mtype || strcmp(mtype, "BPE"))
		return FAIL(c, "%s: unsupported tokenizer.json model (type %s; only BPE)", c->path,
			    mtype ? mtype : "missing");
	vocab = json_object_get(model, "vocab");
	merges = json_object_get(model, "merges");
	added = json_object_get(root, "added_tokens");
	if (!json_is_object(vocab) || !json_is_array(merges) || (added && !json_is_array(added)))
		return FAIL(c, "%s: model.vocab/model.merges/added_tokens missing or malformed",
			    c->path);
	ret = hc_hf_spm_detect(root, &spm, &prefix, &why);
	if (ret)
		return FAIL(c, "%s: unsupported tokenizer.json model: %s", c->path, why);
	norm = json_object_get(root, "normalizer");
	if (!spm && norm && !json_is_null(norm))
		return FAIL(c, "%s: unsupported tokenizer.json model: byte-level BPE with a "
			    "normalizer", c->path);
	if (!spm) {
		ret = parse_pretok(c, json_object_get(root, "pre_tokenizer"), &regex);
		if (ret)
			return ret;
	}

	json_object_foreach(vocab, key, v) {
		if (!json_is_integer(v) || json_integer_value(v) < 0 ||
		    json_integer_value(v) >= HC_TOK_MAX_VOCAB) {
			free(regex);
			return FAIL(c, "%s: model.vocab[\"%s\"]: bad id", c->path, key);
		}
		if (json_integer_value(v) > max_id)
			max_id = json_integer_value(v);
	}
	json_array_foreach(added, i, v) {
		json_t *id = json_object_get(v, "id");

		if (!json_is_integer(id) || json_integer_value(id) < 0 ||
		    json_integer_value(id) >= HC_TOK_MAX_VOCAB ||
		    !json_is_string(json_object_get(v, "content"))) {
			free(regex);
			return FAIL(c, "%s: added_tokens[%zu]: bad id or content", c->path, i);
		}
		if (json_integer_value(id) > max_id)
			max_id = json_integer_value(id);
	}
	if (max_id < 0) {
		free(regex);
		return FAIL(c, "%s: empty vocab", c->path);
	}
	s = hc_tok_spec_alloc(HC_TOK_BPE, (uint32_t)max_id + 1, false);
	if (!s) {
		free(regex);
		return -ENOMEM;
	}
	s->pretok_regex = regex;
	s->ignore_merges = json_is_true(json_object_get(model, "ignore_merges"));
	json_object_foreach(vocab, key, v) {
		uint32_t id = (uint32_t)json_integer_value(v);

		if (s->pieces[id]) {
			ret = FAIL(c, "%s: model.vocab: id %u used twice", c->path, id);
			goto fail;
		}
		s->types[id] = HC_TT_NORMAL;
		if (!(s->pieces[id] = strdup(key)))
			goto nomem;
	}
	json_array_foreach(added, i, v) {
		uint32_t id = (uint32_t)json_integer_value(json_object_get(v, "id"));

		free(s->pieces[id]);
		s->types[id] = json_is_true(json_object_get(v, "special")) ? HC_TT_CONTROL :
			       HC_TT_USER_DEFINED;
		if (!(s->pieces[id] = strdup(json_string_value(json_object_get(v, "content")))))
			goto nomem;
	}
	for (uint32_t id = 0; id < s->n_vocab; id++) {
		if (s->pieces[id])
			continue;
		/* A hole in the id space: a placeholder that no text can produce. */
		s->types[id] = HC_TT_UNUSED;
		if (asprintf(&s->pieces[id], "<|hc_unused_%u|>", id) < 0) {
			s->pieces[id] = NULL;
			goto nomem;
		}
	}
	s->n_merges = (uint32_t)json_array_size(merges);
	if (s->n_merges > HC_TOK_MAX_MERGES) {
		ret = FAIL(c, "%s: too many merges", c->path);
		goto fail;
	}
	s->merges = calloc(s->n_merges ? s->n_merges : 1, sizeof(*s->merges));
	if (!s->merges)
		goto nomem;
	json_array_foreach(merges, i, v) {
		s->merges[i] = merge_text(v);
		if (!s->merges[i]) {
			ret = FAIL(c, "%s: model.merges[%zu]: not \"a b\" or [a, b]", c->path, i);
			goto fail;
		}
	}
	if (spm) {
		ret = hc_hf_spm_finish(s, model, prefix, msg, sizeof(msg));
		if (ret) {
			hc_errmsg(c->err, c->errlen, "%s: %s", c->path, msg);
			goto fail;
		}
	}
	*out = s;
	return 0;
nomem:
	ret = -ENOMEM;
	hc_errmsg(c->err, c->errlen, "%s: out of memory", c->path);
fail:
	hc_tok_spec_free(s);
	return ret;
}

static json_t *load_json(struct hf_ctx *c, const char *path, size_t flags)
{
	json_error_t je;
	/* through stdio: jansson reads a bare fd one byte per read(2) (seconds for 9 MB) */
	FILE *f = hc_fopen_regular(path, NULL, c->err, c->errlen);
	json_t *j;

	if (!f)
		return NULL;
	j = json_loadf(f, flags, &je);
	fclose(f);
	if (!j)
		hc_errmsg(c->err, c->errlen, "%s:%d: %s", path, je.line, je.text);
	else if (!json_is_object(j)) {
		hc_errmsg(c->err, c->errlen, "%s: not a JSON object", path);
		json_decref(j);
		j = NULL;
	}
	return j;
}

static int add_extra_stop(struct hf_ctx *c, struct hc_tok_spec *s, json_t *v)
{
	double d = json_number_value(v);	/* read with JSON_DECODE_INT_AS_REAL */
	int64_t id = (int64_t)d;

	if (!json_is_number(v) || d != (double)id || id < 0 || id >= (int64_t)s->n_vocab)
		return FAIL(c, "%s: eos_token_id %g is not a token id", c->path, d);
	for (uint32_t i = 0; i < s->n_extra_stop; i++)
		if (s->extra_stop[i] == id)
			return 0;
	if (s->n_extra_stop < 8)
		s->extra_stop[s->n_extra_stop++] = (int32_t)id;
	return 0;
}

/*
 * The model's end-of-generation ids live next to tokenizer.json: generation_config.json
 * and config.json "eos_token_id" (an id or a list, e.g. Llama 3.1's 128001, 128008, 128009).
 */
static int read_sibling_stops(struct hf_ctx *c, const char *tok_path, struct hc_tok_spec *s)
{
	static const char *const names[] = { "generation_config.json", "config.json" };
	const char *slash = strrchr(tok_path, '/');
	int dl = slash ? (int)(slash - tok_path + 1) : 0;

	for (size_t k = 0; k < 2; k++) {
		char *path;
		json_t *j, *v, *e;
		size_t i;
		int ret = 0;

		if (asprintf(&path, "%.*s%s", dl, tok_path, names[k]) < 0)
			return -ENOMEM;
		if (access(path, R_OK)) {
			free(path);
			continue;
		}
		c->path = path;
		j = load_json(c, path, JSON_DECODE_INT_AS_REAL);
		if (!j) {
			free(path);
			return -EINVAL;
		}
		v = json_object_get(j, "eos_token_id");
		if (json_is_array(v)) {
			json_array_foreach(v, i, e)
				if (!ret)
					ret = add_extra_stop(c, s, e);
		} else if (v && !json_is_null(v)) {
			ret = add_extra_stop(c, s, v);
		}
		json_decref(j);
		free(path);
		c->path = tok_path;
		if (ret)
			return ret;
	}
	return 0;
}

int hc_tok_spec_from_hf(const char *tokenizer_json_path, const char *config_path,
			struct hc_tok_spec **out, char *err, size_t errlen)
{
	struct hf_ctx c = { tokenizer_json_path, err, errlen };
	struct hc_tok_spec *s = NULL;
	json_t *root, *cfg = NULL;
	const char *t;
	int ret;

	*out = NULL;
	root = load_json(&c, tokenizer_json_path, 0);
	if (!root)
		return -EINVAL;
	ret = parse_tokenizer(&c, root, &s);
	json_decref(root);
	if (ret)
		return ret;
	s->bos_id = first_piece(s, "<|begin_of_text|>", "<s>");
	s->eos_id = first_piece(s, "<|end_of_text|>", "</s>");
	s->add_bos = s->bos_id >= 0;
	if (config_path) {
		c.path = config_path;
		/* model_max_length can be 1e30 written as an integer */
		cfg = load_json(&c, config_path, JSON_DECODE_INT_AS_REAL);
		ret = cfg ? parse_config(&c, cfg, s) : -EINVAL;
		json_decref(cfg);
		if (ret)
			goto fail;
	}
	ret = read_sibling_stops(&c, tokenizer_json_path, s);
	if (ret)
		goto fail;
	s->eot_id = find_piece(s, "<|eot_id|>");
	t = s->chat_template;
	if (t && strstr(t, "<|start_header_id|>"))
		s->chat_format = strstr(t, "Cutting Knowledge Date") ? HC_CHAT_LLAMA31 :
				 HC_CHAT_LLAMA3;
	else if (t && strstr(t, "[INST]"))
		s->chat_format = HC_CHAT_LLAMA2;
	else if (!t && find_piece(s, "<|start_header_id|>") >= 0)
		s->chat_format = HC_CHAT_LLAMA3;
	else if (!t && s->kind == HC_TOK_SPM)
		s->chat_format = HC_CHAT_LLAMA2;
	*out = s;
	return 0;
fail:
	hc_tok_spec_free(s);
	return ret;
}
