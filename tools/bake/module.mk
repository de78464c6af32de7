# tools/bake: hc-bake, checkpoint -> ROM (docs/checkpoint-formats.md). libhcbake.a holds the
# writer, readers/ (llama2.c, GGUF, Hugging Face safetensors) and tokenizer/ (the tokenizer
# importers, tok_spec.h), which the tests link too. Uses emu/rom, lib/tokenizer, lib/util.
LIBS_A += hcbake
hcbake_SRCS := $(addprefix tools/bake/,bake_write.c bake_synthetic.c bake_io.c bake_tokfile.c) \
	$(addprefix tools/bake/readers/,bake_llama2c.c bake_gguf.c bake_hf.c gguf.c safetensors.c) \
	$(addprefix tools/bake/tokenizer/,tok_serialize.c tok_llama2c.c tok_builtin.c tok_hf.c \
		tok_hf_spm.c)
BAKE_LIBS := hcbake hcrom hctok hcutil
BAKE_EXT := jansson pcre2 crypto
TOOLS += hc-bake
hc-bake_SRCS := tools/bake/hc-bake.c
hc-bake_LIBS := $(BAKE_LIBS)
hc-bake_EXT := $(BAKE_EXT)
MANS += man/hc-bake.1
INC_tools_bake := -Iinclude -Itools/bake/readers -Itools/bake/tokenizer -Iemu/rom -Ilib/tokenizer -Ilib/util
INC_tools_bake_readers := -Itools/bake -Itools/bake/tokenizer -Iemu/rom -Ilib/tokenizer -Ilib/util
INC_tools_bake_tokenizer := -Ilib/tokenizer -Ilib/util
