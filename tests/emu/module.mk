# Tests of the emulated card: the ROM loader (test_rom), the forward pass and sampler
# (test_forward), llama2.c / Hugging Face goldens (test_golden), and hc-emud through the raw
# card interface: exact decoding (test_emud_decode), hostile clients and isolation
# (test_emud_hostile), telemetry, faults and limits (test_emud_faults), startup, shutdown and
# the PCI transport (test_emud_daemon).
EMU_TESTS := test_rom test_forward test_golden test_emud_decode test_emud_hostile \
	test_emud_faults test_emud_daemon
TESTS += $(EMU_TESTS)
$(foreach t,$(EMU_TESTS),$(eval $(t)_SRCS := tests/emu/$(t).c)\
	$(eval $(t)_LIBS = $$(TEST_LIBS))$(eval $(t)_EXT = $$(TEST_EXT)))
INC_tests_emu := -Iinclude -Iemu/rom -Iemu/model -Iemu/model/kernels -Ilib/tokenizer \
	-Ilib/util -Itools/bake -Itools/bake/tokenizer -Itests/common
