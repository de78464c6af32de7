# hc-bake: checkpoint -> ROM. The GGUF / Hugging Face readers append their sources to
# hc-bake_SRCS and BAKE_SRCS in tools/readers.mk.
BAKE_SRCS += tools/bake_write.c tools/bake_synthetic.c tools/bake_llama2c.c tools/bake_tokfile.c \
	tools/bake_io.c
TOOLS += hc-bake
hc-bake_SRCS += tools/hc-bake.c tools/bake_write.c tools/bake_synthetic.c \
	tools/bake_llama2c.c tools/bake_tokfile.c tools/bake_io.c
