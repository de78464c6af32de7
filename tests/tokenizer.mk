TESTS += test_tokenizer
test_tokenizer_SRCS := tests/test_tokenizer.c
# Timing of tokenizer load and encode (not run by `make check`): build/bench_tokenizer
BENCHES += bench_tokenizer
bench_tokenizer_SRCS := tests/bench_tokenizer.c
