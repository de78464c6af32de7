# Tests of the emulated card: the ROM loader (test_rom), the forward pass and sampler
# (test_forward), llama2.c / Hugging Face goldens (test_golden), hc-emud (test_emud).
TESTS += test_rom test_forward test_golden test_emud
test_rom_SRCS := tests/emu/test_rom.c
test_forward_SRCS := tests/emu/test_forward.c
test_golden_SRCS := tests/emu/test_golden.c
test_emud_SRCS := tests/emu/test_emud.c
$(foreach t,test_rom test_forward test_golden test_emud,\
	$(eval $(t)_LIBS = $$(TEST_LIBS))$(eval $(t)_EXT = $$(TEST_EXT)))
INC_tests_emu := -Iinclude -Iemu/rom -Iemu/model -Iemu/model/kernels -Ilib/tokenizer \
	-Ilib/util -Itools/bake -Itools/bake/tokenizer -Itests/common
