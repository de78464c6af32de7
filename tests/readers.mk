# GGUF / Hugging Face reader tests. Recursive "=": BAKE_SRCS is filled by tools/*.mk,
# which are included after this fragment.
TESTS += test_readers
test_readers_SRCS = tests/test_readers.c $(BAKE_SRCS)
