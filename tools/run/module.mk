# tools/run: hc-run, text generation through libhc (run_card.c) or in-process from a ROM
# (run_direct.c: emu/model). Uses include/hc, emu/model, emu/rom, lib/tokenizer.
TOOLS += hc-run
hc-run_SRCS := $(addprefix tools/run/,hc-run.c run_direct.c run_card.c)
hc-run_LIBS := hc hcmodel hcrom hctok hcutil
hc-run_EXT := uring drm pcre2 crypto edit
INC_tools_run := -Iinclude -Iemu/model -Iemu/rom -Ilib/tokenizer -Ilib/util
MANS += man/hc-run.1
