TESTS += test_emud
test_emud_SRCS := tests/test_emud.c
