# hc-emud --null-model (BENCHMARK ONLY): tokens without the model, for hc-bench-stack.
hc-emud_SRCS += emu/emud_null.c
