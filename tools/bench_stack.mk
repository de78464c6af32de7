# hc-bench-stack: card stack overhead vs the in-process forward pass (a benchmark, not a test).
BENCHES += hc-bench-stack
hc-bench-stack_SRCS := tools/hc-bench-stack.c
