# Tests of libhc (each starts build/hc-emud on a private socket, or drives $HC_TEST_DEVICE), of
# libhc against a hostile fake card (test_libhc_hostile_card: no daemon, no ROM) and of
# lib/tokenizer.
TESTS += test_libhc test_libhc_clients test_libhc_stream test_libhc_multi test_libhc_hostile_card \
	test_tokenizer
test_libhc_SRCS := tests/lib/test_libhc.c
test_libhc_clients_SRCS := tests/lib/test_libhc_clients.c
test_libhc_stream_SRCS := tests/lib/test_libhc_stream.c
test_libhc_multi_SRCS := tests/lib/test_libhc_multi.c
test_libhc_hostile_card_SRCS := tests/lib/test_libhc_hostile_card.c
test_tokenizer_SRCS := tests/lib/test_tokenizer.c
$(foreach t,test_libhc test_libhc_clients test_libhc_stream test_libhc_multi test_libhc_hostile_card \
	test_tokenizer,\
	$(eval $(t)_LIBS = $$(TEST_LIBS))$(eval $(t)_EXT = $$(TEST_EXT)))
INC_tests_lib := -Iinclude -Ilib -Ilib/tokenizer -Ilib/util -Itools/bake/tokenizer -Itests/common
# Timing of tokenizer load and encode (not run by `make check`): build/bench_tokenizer
BENCHES += bench_tokenizer
bench_tokenizer_SRCS := tests/lib/bench_tokenizer.c
bench_tokenizer_LIBS := hcbake hctok hcutil
bench_tokenizer_EXT := jansson pcre2
