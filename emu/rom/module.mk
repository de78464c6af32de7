# emu/rom: the ROM format (rom_format.h, docs/rom-format.md), its verifying loader and the weight
# types (quant.h). Uses lib/util, OpenSSL. Used by the model, hc-emud, hc-bake and the tools.
LIBS_A += hcrom
hcrom_SRCS := emu/rom/rom.c emu/rom/quant.c
INC_emu_rom := -Ilib/util
