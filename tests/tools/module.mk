# Tests of the tools: hc-bake end to end (test_bake), its readers (test_readers), hc-smi, and
# one version everywhere (test_version).
TESTS += test_bake test_readers test_smi test_version
test_bake_SRCS := tests/tools/test_bake.c
test_readers_SRCS := tests/tools/test_readers.c
test_smi_SRCS := tests/tools/test_smi.c
test_version_SRCS := tests/tools/test_version.c
$(foreach t,test_bake test_readers test_smi test_version,\
	$(eval $(t)_LIBS = $$(TEST_LIBS))$(eval $(t)_EXT = $$(TEST_EXT)))
INC_tests_tools := -Iinclude -Itools/bake -Itools/bake/readers -Itools/bake/tokenizer \
	-Iemu/rom -Iemu/model -Ilib/tokenizer -Ilib/util -Itests/common
