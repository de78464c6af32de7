# hc-smi end to end against a private hc-emud (needs hc-bake, hc-emud and hc-smi built).
TESTS += test_smi
test_smi_SRCS = tests/test_smi.c tests/libhc_util.c $(BAKE_SRCS)
