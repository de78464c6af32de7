# ROM loader / number formats (test_rom) and hc-bake end to end (test_bake, runs build/hc-bake).
TESTS += test_rom test_bake
test_rom_SRCS := tests/test_rom.c tools/bake_write.c tools/bake_synthetic.c tools/bake_tokfile.c \
	tools/bake_io.c
test_bake_SRCS := tests/test_bake.c tools/bake_write.c tools/bake_synthetic.c \
	tools/bake_tokfile.c tools/bake_io.c
