# tests/fuzz: a libFuzzer target per parser of untrusted input (README.md, docs/fuzzing.md).
# Each target builds twice: $(B)/fuzz/fuzz-NAME with libFuzzer (only in the clang build that
# `make fuzz` makes in build-fuzz/) and $(B)/fuzz/replay-NAME with replay_main.c, which any
# compiler builds; `make check` replays corpus/NAME and crashes/NAME through the sanitizer
# build's replayers (tests/fuzz/check-sanitize.sh).
FUZZ_TARGETS := gguf safetensors hf llama2c rom tok_blob tok_text emud
# hc-emud without its main and transports: the card code the socket handler calls
FUZZ_EMUD_SRCS := $(addprefix emu/daemon/,emud_fn.c emud_sqe.c emud_sched.c emud_telemetry.c \
	emud_null.c)
$(foreach t,$(FUZZ_TARGETS),\
	$(eval fuzz-$(t)_SRCS := tests/fuzz/fuzz_$(t).c tests/fuzz/fuzz_util.c \
		$(if $(filter emud,$(t)),$(FUZZ_EMUD_SRCS)))\
	$(eval replay-$(t)_SRCS := $$(fuzz-$(t)_SRCS) tests/fuzz/replay_main.c)\
	$(eval fuzz-$(t)_LIBS = $$(TEST_LIBS))$(eval replay-$(t)_LIBS = $$(TEST_LIBS))\
	$(eval fuzz-$(t)_EXT = $$(TEST_EXT))$(eval replay-$(t)_EXT = $$(TEST_EXT)))
FUZZ_REPLAYS := $(FUZZ_TARGETS:%=$(B)/fuzz/replay-%)
FUZZERS := $(FUZZ_TARGETS:%=$(B)/fuzz/fuzz-%)
# The seed corpus writer (tests/fuzz/mkcorpus.c): the project's own writers, run by hand.
fuzz-mkcorpus_SRCS := tests/fuzz/mkcorpus.c tests/fuzz/fuzz_util.c
fuzz-mkcorpus_LIBS = $(TEST_LIBS)
fuzz-mkcorpus_EXT = $(TEST_EXT)
# The top Makefile's program_rule comes after the fragments; the same link, with the extra
# flags of $(3) (libFuzzer's main for fuzz-*).
define fuzz_program_rule
$(B)/fuzz/$(1): $$(call objs,$$($(1)_SRCS)) $$(foreach l,$$($(1)_LIBS),$(B)/lib$$(l).a)
	@mkdir -p $$(@D)
	$$(CC) $$(ALL_CFLAGS) -o $$@ $$(call objs,$$($(1)_SRCS)) \
		$$(foreach l,$$($(1)_LIBS),$(B)/lib$$(l).a) $(2) \
		-Wl,--as-needed $$(foreach e,$$($(1)_EXT),$$(EXT_$$(e))) $$(EXT_sys) $$(LDFLAGS)
endef
$(foreach t,$(FUZZ_TARGETS),$(eval $(call fuzz_program_rule,replay-$(t),$(CHECK_LIBS)))\
	$(eval $(call fuzz_program_rule,fuzz-$(t),$(CHECK_LIBS) -fsanitize=fuzzer)))
$(eval $(call fuzz_program_rule,fuzz-mkcorpus,$(CHECK_LIBS)))
INC_tests_fuzz := -Iinclude -Itools/bake -Itools/bake/readers -Itools/bake/tokenizer \
	-Iemu/rom -Iemu/model -Iemu/daemon -Ilib/tokenizer -Ilib/util -Itests/common
# The replayers build with everything else (they must keep compiling); only the sanitizer
# build's run in `make check`.
tests: $(FUZZ_REPLAYS)

# libFuzzer needs clang; everything it links is instrumented (coverage + ASan + UBSan).
FUZZ_B ?= build-fuzz
FUZZ_CC ?= clang
FUZZ_SECONDS ?= 120
FUZZ_OPTFLAGS := -O1 -g -fno-omit-frame-pointer -fsanitize=fuzzer-no-link,address,undefined \
	-fno-sanitize-recover=all
.PHONY: fuzz fuzz-build fuzz-corpus fuzz-programs replay-programs
fuzz-programs: $(FUZZERS)
replay-programs: $(FUZZ_REPLAYS)
fuzz-build:
	@tests/fuzz/have-libfuzzer.sh $(FUZZ_CC) >/dev/null || exit 0; \
	$(MAKE) --no-print-directory B=$(FUZZ_B) CC=$(FUZZ_CC) OPTFLAGS="$(FUZZ_OPTFLAGS)" \
		LDFLAGS="-fsanitize=address,undefined" fuzz-programs
# Every target for FUZZ_SECONDS (each), from its committed corpus; new inputs go to
# $(FUZZ_B)/fuzz/corpus/NAME, never into the tree. FUZZ_TARGETS="rom gguf" picks some.
fuzz: fuzz-build
	@tests/fuzz/have-libfuzzer.sh $(FUZZ_CC) || exit 0; \
	tests/fuzz/run-fuzz.sh $(FUZZ_B) $(FUZZ_SECONDS) $(FUZZ_TARGETS)
# Rewrite tests/fuzz/corpus/ from the project's writers (commit the result).
fuzz-corpus: $(B)/fuzz/fuzz-mkcorpus
	rm -rf tests/fuzz/corpus
	$(B)/fuzz/fuzz-mkcorpus tests/fuzz/corpus

# The ASan + UBSan build of the whole host suite in $(SAN_B), every Check program run there,
# then every fuzz target's corpus and crash cases replayed (tests/fuzz/check-sanitize.sh).
# `make check` runs a quick set of the Check programs the same way.
SAN_B ?= build-asan
.PHONY: check-sanitize
check-sanitize:
	tests/fuzz/check-sanitize.sh $(SAN_B) full $(TESTS)
