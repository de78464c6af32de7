TESTS += test_forward test_golden
test_forward_SRCS := tests/test_forward.c
test_golden_SRCS := tests/test_golden.c
