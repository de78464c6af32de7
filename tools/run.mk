TOOLS += hc-run hc-bench
hc-run_SRCS := tools/hc-run.c tools/run_direct.c
hc-bench_SRCS := tools/hc-bench.c
