# lib/tokenizer: the run-time tokenizer (tokenizer.h; blob format tok_blob.h). Uses lib/util,
# PCRE2. Used by libhc, hc-run, hc-bench, hc-bake.
LIBS_A += hctok
hctok_SRCS := $(addprefix lib/tokenizer/,tokenizer.c tok_util.c tok_encode.c tok_spm.c \
	tok_bpe.c tok_detok.c tok_chat.c)
INC_lib_tokenizer := -Ilib/util
