# hc-bake: checkpoint -> ROM. Readers for GGUF / Hugging Face append their sources with
# "hc-bake_SRCS += ..." and "BAKE_SRCS += ..." in their own fragment.
BAKE_SRCS += tools/bake_write.c tools/bake_synthetic.c tools/bake_llama2c.c tools/bake_tokfile.c
TOOLS += hc-bake
hc-bake_SRCS += tools/hc-bake.c tools/bake_write.c tools/bake_synthetic.c \
	tools/bake_llama2c.c tools/bake_tokfile.c tools/bake_missing_readers_TEMP.c
