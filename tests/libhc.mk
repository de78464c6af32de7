# libhc tests: each starts build/hc-emud on a temporary socket (needs hc-bake, hc-emud built).
TESTS += test_libhc test_libhc_clients test_libhc_stream
test_libhc_SRCS = tests/test_libhc.c tests/libhc_util.c $(BAKE_SRCS)
test_libhc_clients_SRCS = tests/test_libhc_clients.c tests/libhc_util.c $(BAKE_SRCS)
test_libhc_stream_SRCS = tests/test_libhc_stream.c tests/libhc_util.c $(BAKE_SRCS)
