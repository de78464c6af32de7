# hc-run's card engine (libhc); tools/run.mk lists hc-run's other sources.
hc-run_SRCS += tools/run_card.c
