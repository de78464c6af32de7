// SPDX-License-Identifier: MIT
/*
 * hc-bake reader for a Hugging Face Llama checkpoint directory: config.json,
 * safetensors shard(s), tokenizer.json. HF names and [out, in] shapes are mapped to
 * the ROM's GGUF names and row order; q/k rows are permuted from HF's rotate-half
 * layout to the interleaved one on the fly (docs/checkpoint-formats.md).
 */
#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "bake.h"
#include "bake_io.h"
#include "rom.h"
#include "safetensors.h"

struct hf_tensor {
	const struct st_file *file;
	const struct st_tensor *t;
	uint32_t perm_heads;	/* q: n_heads, k: n_kv_heads, else 0 */
};

struct hf_src {
	char *dir;
	uint32_t n_files;
	struct st_file **files;
	struct hf_tensor *ht;	/* per bake tensor */
};

static int hf_path(char *buf, size_t len, const char *dir, const char *file)
{
	return snprintf(buf, len, "%s/%s", dir, file) >= (int)len ? -ENAMETOOLONG : 0;
}

/* HF tensor name -> ROM name. 1: mapped, 0: known but not needed, -1: unknown. */
static int map_name(const char *hf, char *rom, size_t len)
{
	static const struct { const char *hf, *rom; } layer[] = {
		{ "input_layernorm", "attn_norm" }, { "self_attn.q_proj", "attn_q" },
		{ "self_attn.k_proj", "attn_k" }, { "self_attn.v_proj", "attn_v" },
		{ "self_attn.o_proj", "attn_output" }, { "post_attention_layernorm", "ffn_norm" },
		{ "mlp.gate_proj", "ffn_gate" }, { "mlp.up_proj", "ffn_up" },
		{ "mlp.down_proj", "ffn_down" },
	};
	const char *p;
	char *end;
	unsigned long l;
	size_t n;

	if (!strcmp(hf, "model.embed_tokens.weight"))
		return snprintf(rom, len, "token_embd.weight") > 0;
	if (!strcmp(hf, "model.norm.weight"))
		return snprintf(rom, len, "output_norm.weight") > 0;
	if (!strcmp(hf, "lm_head.weight"))
		return snprintf(rom, len, "output.weight") > 0;
	if (strncmp(hf, "model.layers.", 13) || hf[13] < '0' || hf[13] > '9')
		return -1;
	errno = 0;
	l = strtoul(hf + 13, &end, 10);
	if (errno || *end != '.' || l > 100000)
		return -1;
	p = end + 1;
	n = strlen(p);
	if (n >= 19 && !strcmp(p + n - 19, "rotary_emb.inv_freq"))
		return 0;	/* derived from rope_theta, not a weight */
	for (size_t k = 0; k < sizeof(layer) / sizeof(layer[0]); k++) {
		size_t m = strlen(layer[k].hf);

		if (!strncmp(p, layer[k].hf, m) && !strcmp(p + m, ".weight"))
			return snprintf(rom, len, "blk.%lu.%s.weight", l, layer[k].rom) > 0;
	}
	return -1;
}

/* ROM name -> HF name, for messages about missing tensors. */
static void hf_name(const char *rom, char *hf, size_t len)
{
	static const char *const from[] = { "attn_norm", "attn_q", "attn_k", "attn_v",
		"attn_output", "ffn_norm", "ffn_gate", "ffn_up", "ffn_down" };
	static const char *const to[] = { "input_layernorm", "self_attn.q_proj",
		"self_attn.k_proj", "self_attn.v_proj", "self_attn.o_proj",
		"post_attention_layernorm", "mlp.gate_proj", "mlp.up_proj", "mlp.down_proj" };
	unsigned l;
	char what[32];

	if (!strcmp(rom, "token_embd.weight"))
		snprintf(hf, len, "model.embed_tokens.weight");
	else if (!strcmp(rom, "output_norm.weight"))
		snprintf(hf, len, "model.norm.weight");
	else if (!strcmp(rom, "output.weight"))
		snprintf(hf, len, "lm_head.weight");
	else if (sscanf(rom, "blk.%u.%31[a-z_].weight", &l, what) == 2) {
		for (size_t k = 0; k < sizeof(from) / sizeof(from[0]); k++)
			if (!strcmp(what, from[k]))
				snprintf(hf, len, "model.layers.%u.%s.weight", l, to[k]);
	}
}

static int cfg_uint(json_t *cfg, const char *path, const char *key, int required,
		    uint32_t dflt, uint32_t *out, char *err, size_t errlen)
{
	json_t *v = json_object_get(cfg, key);

	if (!v || json_is_null(v)) {
		if (required)
			return hc_err(-EINVAL, err, errlen, "%s: missing \"%s\"", path, key);
		*out = dflt;
		return 0;
	}
	if (!json_is_integer(v) || json_integer_value(v) <= 0 ||
	    json_integer_value(v) > UINT32_MAX)
		return hc_err(-EINVAL, err, errlen, "%s: \"%s\" must be a positive integer",
				path, key);
	*out = (uint32_t)json_integer_value(v);
	return 0;
}

static int cfg_float(json_t *obj, const char *path, const char *key, int required,
		     float dflt, float *out, char *err, size_t errlen)
{
	json_t *v = json_object_get(obj, key);

	if (!v || json_is_null(v)) {
		if (required)
			return hc_err(-EINVAL, err, errlen, "%s: missing \"%s\"", path, key);
		*out = dflt;
		return 0;
	}
	if (!json_is_number(v) || !isfinite(json_number_value(v)) || json_number_value(v) <= 0)
		return hc_err(-EINVAL, err, errlen, "%s: \"%s\" must be a positive number",
				path, key);
	*out = (float)json_number_value(v);
	return 0;
}

static int read_rope_scaling(json_t *cfg, const char *path, struct hc_rom_arch *a,
			     char *err, size_t errlen)
{
	json_t *rs = json_object_get(cfg, "rope_scaling"), *t;
	const char *type;
	float orig;
	int rc;

	a->rope_scaling = HC_ROPE_NONE;
	if (!rs || json_is_null(rs))
		return 0;
	if (!json_is_object(rs))
		return hc_err(-EINVAL, err, errlen, "%s: \"rope_scaling\" is not an object", path);
	t = json_object_get(rs, "rope_type");
	if (!t)
		t = json_object_get(rs, "type");
	type = json_string_value(t);
	if (type && !strcmp(type, "default"))
		return 0;
	if (!type || strcmp(type, "llama3"))
		return hc_err(-EINVAL, err, errlen, "%s: rope_scaling type '%s' is not supported; "
				"supported: llama3", path, type ? type : "(missing)");
	rc = cfg_float(rs, path, "factor", 1, 0, &a->rope_factor, err, errlen);
	if (!rc)
		rc = cfg_float(rs, path, "low_freq_factor", 1, 0, &a->rope_low_freq_factor, err,
			       errlen);
	if (!rc)
		rc = cfg_float(rs, path, "high_freq_factor", 1, 0, &a->rope_high_freq_factor,
			       err, errlen);
	if (!rc)
		rc = cfg_float(rs, path, "original_max_position_embeddings", 1, 0, &orig, err,
			       errlen);
	if (rc)
		return rc;
	if (!(a->rope_high_freq_factor > a->rope_low_freq_factor) || orig != floorf(orig) ||
	    orig >= 4294967296.0f)
		return hc_err(-EINVAL, err, errlen, "%s: rope_scaling needs high_freq_factor > "
				"low_freq_factor and an integer original_max_position_embeddings",
				path);
	a->rope_scaling = HC_ROPE_LLAMA3;
	a->rope_orig_ctx = (uint32_t)orig;
	return 0;
}

/* Load the JSON file @path: a regular file only (never waits on a FIFO). 0, or -errno. */
static int hf_load_json(const char *path, json_t **out, char *err, size_t errlen)
{
	json_error_t je;
	int fd = bake_open_file(path, NULL, err, errlen);
	FILE *f;

	*out = NULL;
	if (fd < 0)
		return fd;
	/* through stdio: jansson reads a bare fd one byte per read(2) */
	f = fdopen(fd, "r");
	if (!f) {
		close(fd);
		return hc_err(-ENOMEM, err, errlen, "%s: out of memory", path);
	}
	*out = json_loadf(f, JSON_REJECT_DUPLICATES, &je);
	fclose(f);
	if (!*out)
		return hc_err(-EINVAL, err, errlen, "%s: not valid JSON: %s (line %d)", path,
			      je.text, je.line);
	return 0;
}
static int read_config(const char *dir, struct bake_source *src, int *tied, char *err,
		       size_t errlen)
{
	struct hc_rom_arch *a = &src->arch;
	char path[4096], why[256];
	json_t *cfg, *v;
	const char *mt, *nm;
	int rc;

	if (hf_path(path, sizeof(path), dir, "config.json"))
		return hc_err(-ENAMETOOLONG, err, errlen, "%s: path too long", dir);
	rc = hf_load_json(path, &cfg, err, errlen);
	if (rc)
		return rc;
	if (!json_is_object(cfg)) {
		rc = hc_err(-EINVAL, err, errlen, "%s: not a JSON object", path);
		goto out;
	}
	mt = json_string_value(json_object_get(cfg, "model_type"));
	if (!mt || strcmp(mt, "llama")) {
		rc = hc_err(-EINVAL, err, errlen, "%s: model_type '%s' is not supported; "
			      "supported: llama", path, mt ? mt : "(missing)");
		goto out;
	}
	v = json_object_get(cfg, "hidden_act");
	if (v && (!json_is_string(v) || strcmp(json_string_value(v), "silu"))) {
		rc = hc_err(-EINVAL, err, errlen, "%s: hidden_act must be \"silu\"", path);
		goto out;
	}
	memset(a, 0, sizeof(*a));
	rc = cfg_uint(cfg, path, "hidden_size", 1, 0, &a->dim, err, errlen);
	if (!rc)
		rc = cfg_uint(cfg, path, "num_hidden_layers", 1, 0, &a->n_layers, err, errlen);
	if (!rc)
		rc = cfg_uint(cfg, path, "num_attention_heads", 1, 0, &a->n_heads, err, errlen);
	if (!rc)
		rc = cfg_uint(cfg, path, "num_key_value_heads", 0, a->n_heads, &a->n_kv_heads,
			      err, errlen);
	if (!rc)
		rc = cfg_uint(cfg, path, "intermediate_size", 1, 0, &a->ffn_dim, err, errlen);
	if (!rc)
		rc = cfg_uint(cfg, path, "vocab_size", 1, 0, &a->vocab_size, err, errlen);
	if (!rc)
		rc = cfg_uint(cfg, path, "max_position_embeddings", 1, 0, &a->max_ctx, err,
			      errlen);
	if (!rc)
		rc = cfg_float(cfg, path, "rms_norm_eps", 1, 0, &a->norm_eps, err, errlen);
	if (!rc)
		rc = cfg_float(cfg, path, "rope_theta", 0, 10000.0f, &a->rope_theta, err, errlen);
	if (rc)
		goto out;
	if (a->n_layers > 4096 || a->n_heads % a->n_kv_heads || a->dim % a->n_heads) {
		rc = hc_err(-EINVAL, err, errlen, "%s: inconsistent shape: %" PRIu32 " layers, "
			      "hidden_size %" PRIu32 ", %" PRIu32 " heads, %" PRIu32 " kv heads",
			      path, a->n_layers, a->dim, a->n_heads, a->n_kv_heads);
		goto out;
	}
	rc = cfg_uint(cfg, path, "head_dim", 0, a->dim / a->n_heads, &a->head_dim, err, errlen);
	if (rc)
		goto out;
	if (a->head_dim % 2) {
		rc = hc_err(-EINVAL, err, errlen, "%s: head_dim %" PRIu32 " must be even", path,
			      a->head_dim);
		goto out;
	}
	rc = read_rope_scaling(cfg, path, a, err, errlen);
	if (rc)
		goto out;
	if (hc_rom_check_arch(a, why, sizeof(why))) {
		rc = hc_err(-EINVAL, err, errlen, "%s: %s", path, why);
		goto out;
	}
	v = json_object_get(cfg, "tie_word_embeddings");
	*tied = json_is_true(v);
	nm = json_string_value(json_object_get(cfg, "_name_or_path"));
	if (nm && nm[0]) {
		snprintf(src->name, sizeof(src->name), "%s", nm);
	} else {
		size_t len = strlen(dir);
		const char *b;

		while (len > 1 && dir[len - 1] == '/')
			len--;
		b = memrchr(dir, '/', len);
		b = b ? b + 1 : dir;
		snprintf(src->name, sizeof(src->name), "%.*s", (int)(len - (size_t)(b - dir)), b);
	}
out:
	json_decref(cfg);
	return rc;
}

/* Shard @file (a bare file name from the index) opened once. */
static int get_file(struct hf_src *p, const char *file, struct st_file **out, char *err,
		    size_t errlen)
{
	char path[4096];
	struct st_file **nf;
	int rc;

	if (!file[0] || strchr(file, '/') || !strcmp(file, ".") || !strcmp(file, ".."))
		return hc_err(-EINVAL, err, errlen, "%s/model.safetensors.index.json: shard name "
				"'%s' is not a file name in the directory", p->dir, file);
	if (hf_path(path, sizeof(path), p->dir, file))
		return hc_err(-ENAMETOOLONG, err, errlen, "%s: path too long", p->dir);
	for (uint32_t k = 0; k < p->n_files; k++) {
		if (!strcmp(p->files[k]->path, path)) {
			*out = p->files[k];
			return 0;
		}
	}
	nf = realloc(p->files, (p->n_files + 1) * sizeof(*nf));
	if (!nf)
		return hc_err(-ENOMEM, err, errlen, "%s: out of memory", path);
	p->files = nf;
	rc = st_open(path, &p->files[p->n_files], err, errlen);
	if (rc)
		return rc;
	*out = p->files[p->n_files++];
	return 0;
}

/* Place one HF tensor at its ROM slot after checking dtype and shape. */
static int add_tensor(struct bake_source *src, struct hf_src *p, const struct st_file *f,
		      const struct st_tensor *t, int tied, struct hf_tensor *slots, char *err,
		      size_t errlen)
{
	const struct hc_rom_arch *a = &src->arch;
	char rom[64];
	uint64_t shape[2], want[2];
	uint32_t nd;
	int idx = -1;
	int m = map_name(t->name, rom, sizeof(rom));

	if (m == 0 || (m == 1 && tied && !strcmp(rom, "output.weight")))
		return 0;
	if (m == 1)
		idx = bake_slot(a, rom, &nd, shape);
	if (idx < 0)
		return hc_err(-EINVAL, err, errlen, "%s: unexpected tensor '%s' (not part of a %"
				PRIu32 "-layer Llama model)", f->path, t->name, a->n_layers);
	if (slots[idx].t)
		return hc_err(-EINVAL, err, errlen, "%s: duplicate tensor '%s'", f->path,
				t->name);
	if (t->type == ST_TYPE_UNSUPPORTED)
		return hc_err(-EINVAL, err, errlen, "%s: tensor '%s' dtype %s is not supported; "
				"supported: F32, F16, BF16", f->path, t->name, t->dtype);
	want[0] = nd == 2 ? shape[1] : shape[0];	/* HF: [out, in] */
	want[1] = shape[0];
	if (t->n_dims != nd || t->shape[0] != want[0] || (nd == 2 && t->shape[1] != want[1])) {
		char got[64];

		if (t->n_dims == 1)
			snprintf(got, sizeof(got), "[%" PRIu64 "]", t->shape[0]);
		else if (t->n_dims == 2)
			snprintf(got, sizeof(got), "[%" PRIu64 ", %" PRIu64 "]", t->shape[0],
				 t->shape[1]);
		else
			snprintf(got, sizeof(got), "%" PRIu32 " dimensions", t->n_dims);
		if (nd == 1)
			return hc_err(-EINVAL, err, errlen, "%s: tensor '%s' has shape %s, "
					"expected [%" PRIu64 "]", f->path, t->name, got, want[0]);
		return hc_err(-EINVAL, err, errlen, "%s: tensor '%s' has shape %s, expected [%"
				PRIu64 ", %" PRIu64 "]", f->path, t->name, got, want[0], want[1]);
	}
	slots[idx].file = f;
	slots[idx].t = t;
	if (strstr(rom, ".attn_q."))
		slots[idx].perm_heads = a->n_heads;
	else if (strstr(rom, ".attn_k."))
		slots[idx].perm_heads = a->n_kv_heads;
	return 0;
}

static int read_tensors(struct bake_source *src, struct hf_src *p, int tied, char *err,
			size_t errlen)
{
	const struct hc_rom_arch *a = &src->arch;
	uint32_t n_slots = bake_n_slots(a), out_idx = n_slots - 1;
	struct hf_tensor *slots = calloc(n_slots, sizeof(*slots));
	char path[4096], name[64], hname[96];
	json_t *idx = NULL, *wm, *v;
	const char *key;
	int rc = 0;

	src->tensors = calloc(n_slots, sizeof(*src->tensors));
	p->ht = calloc(n_slots, sizeof(*p->ht));
	if (!slots || !src->tensors || !p->ht) {
		free(slots);
		return hc_err(-ENOMEM, err, errlen, "%s: out of memory", p->dir);
	}
	if (hf_path(path, sizeof(path), p->dir, "model.safetensors.index.json")) {
		rc = hc_err(-ENAMETOOLONG, err, errlen, "%s: path too long", p->dir);
		goto out;
	}
	if (access(path, F_OK) == 0) {
		rc = hf_load_json(path, &idx, err, errlen);
		if (rc)
			goto out;
		wm = json_object_get(idx, "weight_map");
		if (!json_is_object(wm)) {
			rc = hc_err(-EINVAL, err, errlen, "%s: no \"weight_map\" object", path);
			goto out;
		}
		json_object_foreach(wm, key, v) {
			struct st_file *f;
			const struct st_tensor *t;

			if (!json_is_string(v)) {
				rc = hc_err(-EINVAL, err, errlen, "%s: weight_map entry '%s' is not "
					      "a file name", path, key);
				goto out;
			}
			rc = get_file(p, json_string_value(v), &f, err, errlen);
			if (rc)
				goto out;
			t = st_find(f, key);
			if (!t) {
				rc = hc_err(-EINVAL, err, errlen, "%s: tensor '%s' (listed in "
					      "model.safetensors.index.json) is not in the file",
					      f->path, key);
				goto out;
			}
			rc = add_tensor(src, p, f, t, tied, slots, err, errlen);
			if (rc)
				goto out;
		}
	} else {
		struct st_file *f;

		rc = get_file(p, "model.safetensors", &f, err, errlen);
		if (rc)
			goto out;
		for (uint32_t k = 0; k < f->n; k++) {
			rc = add_tensor(src, p, f, &f->t[k], tied, slots, err, errlen);
			if (rc)
				goto out;
		}
	}
	if (tied)
		src->arch.flags |= HC_ARCH_TIED_CLASSIFIER;
	for (uint32_t s = 0; s < n_slots; s++) {
		struct bake_tensor *bt = &src->tensors[src->n_tensors];

		if (s == out_idx && tied)
			continue;
		bake_slot_name(a, s, name, sizeof(name));
		if (!slots[s].t) {
			snprintf(hname, sizeof(hname), "%s", name);
			hf_name(name, hname, sizeof(hname));
			rc = hc_err(-EINVAL, err, errlen, "%s: missing tensor '%s'%s", p->dir,
				      hname, s == out_idx ? " (config.json does not set "
				      "tie_word_embeddings)" : "");
			goto out;
		}
		snprintf(bt->name, sizeof(bt->name), "%s", name);
		bt->type = slots[s].t->type;
		bake_slot(a, name, &bt->n_dims, bt->shape);
		p->ht[src->n_tensors++] = slots[s];
	}
out:
	json_decref(idx);
	free(slots);
	return rc;
}

static int hf_rows(struct bake_source *src, uint32_t i, uint64_t row0, uint64_t n, void *dst,
		   int f32, char *err, size_t errlen)
{
	struct hf_src *p = src->priv;
	const struct hf_tensor *h;
	const struct bake_tensor *bt;
	int rc;

	if (i >= src->n_tensors)
		return hc_err(-EINVAL, err, errlen, "%s: no tensor #%" PRIu32, p->dir, i);
	h = &p->ht[i];
	bt = &src->tensors[i];
	if (row0 > bt->shape[1] || n > bt->shape[1] - row0)
		return hc_err(-EINVAL, err, errlen, "%s: tensor '%s': rows [%" PRIu64 ", %" PRIu64
				") out of range (%" PRIu64 " rows)", h->file->path, h->t->name,
				row0, row0 + n, bt->shape[1]);
	rc = bake_read_rows(h->file->fd, h->t->offset, bt->type, bt->shape[0], bt->shape[1],
			    h->perm_heads, row0, n, f32, dst);
	if (rc)
		return hc_err(rc, err, errlen, "%s: tensor '%s': reading rows [%" PRIu64 ", %"
				PRIu64 "): %s", h->file->path, h->t->name, row0, row0 + n,
				rc == -EIO ? "file is shorter than its header says" :
				strerror(-rc));
	return 0;
}

static int hf_read_f32(struct bake_source *src, uint32_t i, uint64_t row0, uint64_t n,
		       float *dst, char *err, size_t errlen)
{
	return hf_rows(src, i, row0, n, dst, 1, err, errlen);
}

static int hf_read_raw(struct bake_source *src, uint32_t i, uint64_t row0, uint64_t n,
		       void *dst, char *err, size_t errlen)
{
	return hf_rows(src, i, row0, n, dst, 0, err, errlen);
}

static void hf_close(struct bake_source *src)
{
	struct hf_src *p;

	if (!src)
		return;
	p = src->priv;
	if (p) {
		for (uint32_t k = 0; k < p->n_files; k++)
			st_close(p->files[k]);
		free(p->files);
		free(p->ht);
		free(p->dir);
		free(p);
	}
	if (src->tok)
		hc_tok_spec_free(src->tok);
	free(src->tensors);
	free(src);
}

static int read_tokenizer(struct bake_source *src, const char *dir, char *err, size_t errlen)
{
	char tj[4096], tc[4096];

	if (hf_path(tj, sizeof(tj), dir, "tokenizer.json") ||
	    hf_path(tc, sizeof(tc), dir, "tokenizer_config.json"))
		return hc_err(-ENAMETOOLONG, err, errlen, "%s: path too long", dir);
	if (access(tj, R_OK))
		return hc_err(-ENOENT, err, errlen, "%s: missing tokenizer: %s", tj,
				strerror(errno));
	return hc_tok_spec_from_hf(tj, access(tc, R_OK) ? NULL : tc, &src->tok, err, errlen);
}

int bake_open_hf(const char *dir, struct bake_source **out, char *err, size_t errlen)
{
	struct bake_source *src;
	struct hf_src *p;
	int tied = 0, rc;

	*out = NULL;
	src = calloc(1, sizeof(*src));
	p = calloc(1, sizeof(*p));
	if (!src || !p || !(p->dir = strdup(dir))) {
		free(src);
		free(p);
		return hc_err(-ENOMEM, err, errlen, "%s: out of memory", dir);
	}
	src->priv = p;
	src->read_rows_f32 = hf_read_f32;
	src->read_rows_raw = hf_read_raw;
	src->close = hf_close;
	rc = read_config(dir, src, &tied, err, errlen);
	if (!rc)
		rc = read_tensors(src, p, tied, err, errlen);
	if (!rc)
		rc = read_tokenizer(src, dir, err, errlen);
	if (rc) {
		hf_close(src);
		return rc;
	}
	if (src->tok && src->tok->n_vocab > src->arch.vocab_size) {
		hc_err(-EINVAL, err, errlen, "%s: tokenizer has %" PRIu32 " tokens but config.json "
			 "vocab_size is %" PRIu32, dir, src->tok->n_vocab, src->arch.vocab_size);
		hf_close(src);
		return -EINVAL;
	}
	*out = src;
	return 0;
}
