# hc-bake's checkpoint readers: GGUF and Hugging Face safetensors (docs/checkpoint-formats.md).
READER_SRCS := tools/bake_gguf.c tools/bake_hf.c tools/gguf.c tools/safetensors.c
hc-bake_SRCS += $(READER_SRCS)
BAKE_SRCS += $(READER_SRCS)
