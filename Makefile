# HC card software stack: one GNU make build for lib/, emu/, tools/ and tests/.
# Each directory contributes a fragment (*/module.mk, */*.mk) that appends to the lists below.
# The kernel module has its own Kbuild in driver/ (make -C driver).

PREFIX  ?= /usr/local
LIBDIR  ?= $(PREFIX)/lib
BINDIR  ?= $(PREFIX)/bin
INCDIR  ?= $(PREFIX)/include
DESTDIR ?=
CC      ?= cc
AR      ?= ar
B       := build

OPTFLAGS ?= -O2 -g
# -ffp-contract=off: FMA contraction would change float results between compilers and paths.
HC_CFLAGS := -std=gnu11 -Wall -Wextra -Wno-unused-parameter -fPIC -ffp-contract=off \
	-fno-strict-aliasing -D_GNU_SOURCE -Iinclude -Ilib -Iemu -Itools \
	$(shell pkg-config --cflags libpcre2-8 jansson 2>/dev/null)
ALL_CFLAGS = $(HC_CFLAGS) $(OPTFLAGS) $(CFLAGS)
HC_LIBS := $(shell pkg-config --libs libpcre2-8 jansson liburing 2>/dev/null) -lcrypto -lm -lpthread
CHECK_LIBS := $(shell pkg-config --libs check 2>/dev/null)

LIBHC_SRCS :=      # lib/*.c: libhc.so / libhc.a (public API, tokenizers)
EMU_SRCS :=        # emu/*.c: ROM loader, forward pass (libhcemu.a, internal)
TOOLS :=           # program names; each sets NAME_SRCS
TESTS :=           # test program names under tests/; each sets NAME_SRCS
BENCHES :=

include $(sort $(wildcard lib/*.mk emu/*.mk tools/*.mk tests/*.mk))

LIBHC_OBJS := $(LIBHC_SRCS:%.c=$(B)/%.o)
EMU_OBJS   := $(EMU_SRCS:%.c=$(B)/%.o)
LIBHC_A    := $(B)/libhc.a
LIBHC_SO   := $(B)/libhc.so.1
EMU_A      := $(B)/libhcemu.a
INTERNAL_LIBS := $(EMU_A) $(LIBHC_A)

.PHONY: all check check-unit check-kernel bench install clean
all: $(LIBHC_A) $(LIBHC_SO) $(EMU_A) $(TOOLS:%=$(B)/%) $(TESTS:%=$(B)/tests/%)

$(B)/%.o: %.c
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) -MMD -MP -c $< -o $@

$(LIBHC_A): $(LIBHC_OBJS)
	@mkdir -p $(@D)
	rm -f $@ && $(AR) rcs $@ $^

$(LIBHC_SO): $(LIBHC_OBJS) lib/libhc.map
	$(CC) -shared -Wl,-soname,libhc.so.1 -Wl,--version-script=lib/libhc.map \
		-o $@ $(LIBHC_OBJS) $(HC_LIBS) $(LDFLAGS)
	ln -sf libhc.so.1 $(B)/libhc.so

$(EMU_A): $(EMU_OBJS)
	@mkdir -p $(@D)
	rm -f $@ && $(AR) rcs $@ $^

# Programs link the static archives so they run from the build tree without LD_LIBRARY_PATH.
define program_rule
$(B)/$(2)$(1): $$(patsubst %.c,$(B)/%.o,$$($(1)_SRCS)) $$(INTERNAL_LIBS)
	@mkdir -p $$(@D)
	$$(CC) $$(ALL_CFLAGS) -o $$@ $$(patsubst %.c,$(B)/%.o,$$($(1)_SRCS)) \
		$$(INTERNAL_LIBS) $(3) $$(HC_LIBS) $$(LDFLAGS)
endef
$(foreach t,$(TOOLS),$(eval $(call program_rule,$(t),,)))
$(foreach t,$(TESTS),$(eval $(call program_rule,$(t),tests/,$(CHECK_LIBS))))
$(foreach t,$(BENCHES),$(eval $(call program_rule,$(t),,)))

# Everything: host Check tests, then the driver suite in QEMU (HC_CHECK_KERNEL=0 to leave it out).
check: all
	tests/check-all.sh $(B) $(TESTS)

check-unit: all
	tests/run-tests.sh $(B) $(TESTS)

bench: all $(BENCHES:%=$(B)/%)
	tests/run-bench.sh $(B)

check-kernel: all
	$(MAKE) -C tests/kernel

install: all
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(LIBDIR)/pkgconfig $(DESTDIR)$(INCDIR)/hc
	install -m 755 $(TOOLS:%=$(B)/%) $(DESTDIR)$(BINDIR)/
	install -m 644 $(LIBHC_A) $(DESTDIR)$(LIBDIR)/
	install -m 755 $(LIBHC_SO) $(DESTDIR)$(LIBDIR)/
	ln -sf libhc.so.1 $(DESTDIR)$(LIBDIR)/libhc.so
	install -m 644 include/hc/*.h $(DESTDIR)$(INCDIR)/hc/
	sed -e 's|@PREFIX@|$(PREFIX)|; s|@LIBDIR@|$(LIBDIR)|; s|@INCDIR@|$(INCDIR)|' \
		lib/libhc.pc.in > $(DESTDIR)$(LIBDIR)/pkgconfig/libhc.pc

clean:
	rm -rf $(B)

-include $(shell find $(B) -name '*.d' 2>/dev/null)
