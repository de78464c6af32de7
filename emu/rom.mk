EMU_SRCS += emu/rom.c emu/quant.c
