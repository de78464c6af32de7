# Tokenizers (lib/tokenizer.h): blob load/serialise, SPM and byte-level BPE encoders,
# spec sources (llama2.c, Hugging Face, built-in), streaming decode, chat formats.
LIBHC_SRCS += lib/tokenizer.c lib/tok_serialize.c lib/tok_util.c lib/tok_encode.c \
	lib/tok_spm.c lib/tok_bpe.c lib/tok_llama2c.c lib/tok_builtin.c lib/tok_hf.c lib/tok_hf_spm.c \
	lib/tok_detok.c lib/tok_chat.c
