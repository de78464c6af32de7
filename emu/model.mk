EMU_SRCS += emu/forward.c emu/matmul.c emu/sample.c emu/threadpool.c
