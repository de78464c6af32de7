TESTS += test_tokenizer
test_tokenizer_SRCS := tests/test_tokenizer.c
