# tests/common: what the Check programs share (libhctest.a): hc_test.h (bounds, RUN/TIME lines,
# SKIP), libhc_util (bake ROMs, run a private hc-emud or pick an external card, references),
# emud_client (a raw card-interface client), emud_fixture (the test_emud_* programs' daemon,
# reference and decode driver), ckpt_writer (crafted GGUF and Hugging Face checkpoints, fixture
# files), forward_util.h.
LIBS_A += hctest
hctest_SRCS := $(addprefix tests/common/,libhc_util.c emud_client.c emud_fixture.c ckpt_writer.c)
INC_tests_common := -Iinclude -Itools/bake -Itools/bake/tokenizer -Iemu/model -Iemu/rom \
	-Ilib/tokenizer -Ilib/util
# What a test program links: the test library, then every internal library (white-box tests).
TEST_LIBS := hctest hc $(BAKE_LIBS) hcmodel
TEST_EXT := uring drm $(BAKE_EXT)
