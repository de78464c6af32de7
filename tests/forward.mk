TESTS += test_forward
test_forward_SRCS := tests/test_forward.c
