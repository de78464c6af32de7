# tools/bench: hc-bench (the forward pass, tokens/s), hc-bench-stack (the card stack's
# overhead) and hc-bench-batch (hc-emud's batched decode); bench_emud.c starts their hc-emud. Benchmarks, never tests (make bench). Use emu/model, emu/rom, libhc.
LIBEXEC += hc-bench
hc-bench_SRCS := tools/bench/hc-bench.c
hc-bench_LIBS := hcmodel hcrom hcutil
hc-bench_EXT := crypto
LIBEXEC += hc-bench-stack
hc-bench-stack_SRCS := tools/bench/hc-bench-stack.c tools/bench/bench_emud.c
hc-bench-stack_LIBS := hc hcmodel hcrom hcutil
hc-bench-stack_EXT := uring drm pcre2 crypto
INC_tools_bench := -Iinclude -Iemu/model -Iemu/rom -Ilib/util
MANS += man/hc-bench.1
LIBEXEC += hc-bench-batch
hc-bench-batch_SRCS := tools/bench/hc-bench-batch.c tools/bench/bench_emud.c
hc-bench-batch_LIBS := hc hcutil
hc-bench-batch_EXT := uring drm pcre2 crypto
