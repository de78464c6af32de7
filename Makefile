# HC card software stack: one GNU make build for lib/, emu/, tools/ and tests/.
# Each module folder has a module.mk that names its sources, the include paths it may use
# (INC_<folder>, e.g. INC_lib_tokenizer for lib/tokenizer/*.c: nothing else is on its path)
# and, for programs, the internal libraries they link. docs/architecture.md shows the layers.
# The kernel module has its own Kbuild in driver/ (make -C driver).

PREFIX  ?= /usr/local
LIBDIR  ?= $(PREFIX)/lib
BINDIR  ?= $(PREFIX)/bin
SBINDIR ?= $(PREFIX)/sbin
LIBEXECDIR ?= $(PREFIX)/libexec
INCDIR  ?= $(PREFIX)/include
MANDIR  ?= $(PREFIX)/share/man
UDEVRULESDIR ?= $(PREFIX)/lib/udev/rules.d
DKMSDIR ?= $(PREFIX)/src
DESTDIR ?=
CC      ?= cc
AR      ?= ar
LD      ?= ld
OBJCOPY ?= objcopy
B       := build
# The one version of the project (libhc, tools, hc-emud, driver); tests/tools/test_version.c
# checks that dkms.conf, the driver and the man pages say the same.
VERSION := $(shell sed -n 's/^\#define HC_VERSION_STRING[[:space:]]*"\(.*\)"/\1/p' \
	include/hc/hc_version.h)

OPTFLAGS ?= -O2 -g
# -ffp-contract=off: FMA contraction would change float results between compilers and paths.
HC_CFLAGS := -std=gnu11 -Wall -Wextra -Wno-unused-parameter -fPIC -ffp-contract=off \
	-fno-strict-aliasing -D_GNU_SOURCE \
	$(shell pkg-config --cflags libpcre2-8 jansson libdrm 2>/dev/null)
ALL_CFLAGS = $(HC_CFLAGS) $(OPTFLAGS) $(CFLAGS)
# External libraries by name; each program lists the ones it uses (NAME_EXT).
EXT_pcre2   := $(shell pkg-config --libs libpcre2-8 2>/dev/null)
EXT_jansson := $(shell pkg-config --libs jansson 2>/dev/null)
EXT_uring   := $(shell pkg-config --libs liburing 2>/dev/null)
EXT_drm     := $(shell pkg-config --libs libdrm 2>/dev/null)
EXT_systemd := $(shell pkg-config --libs libsystemd 2>/dev/null)
EXT_crypto  := -lcrypto
# line editing for hc-run -i; what a static link (the QEMU guest) needs too
EXT_edit    := $(shell pkg-config --static --libs libedit 2>/dev/null) -lmd
EXT_sys     := -lm -lpthread
CHECK_LIBS  := $(shell pkg-config --libs check 2>/dev/null)

# Filled by the module fragments.
LIBS_A :=          # internal static libraries: build/libNAME.a from NAME_SRCS
TOOLS :=           # installed programs: NAME_SRCS, NAME_LIBS (internal), NAME_EXT (external)
DAEMONS :=         # the same, installed in SBINDIR
LIBEXEC :=         # the same, installed in LIBEXECDIR/hc (benchmarks users may run)
BENCHES :=         # benchmark programs (built, never installed)
TESTS :=           # Check programs under build/tests/
MANS :=            # man pages to install

# The include paths of the folder an object's source is in.
mod_inc = $(INC_$(subst /,_,$(patsubst $(B)/%/,%,$(dir $@))))
objs = $(patsubst %.c,$(B)/%.o,$(1))

# The modules, each after those it uses (a fragment's rules expand what came before it).
MODULES := lib/util lib/tokenizer lib emu/rom emu/model emu/daemon tools/bake tools/run \
	tools/smi tools/bench tools/serve tests/common tests/lib tests/emu tests/tools tests/serve \
	tests/fuzz
include $(MODULES:%=%/module.mk)

.PHONY: all programs tests check check-unit check-kernel bench install install-dkms uninstall \
	clean check-package
all: programs tests
# What `make install` needs: no test program, so Check is not a build dependency.
programs: $(B)/layering.ok $(B)/api-docs.ok $(LIBS_A:%=$(B)/lib%.a) $(LIBHC_A) $(LIBHC_SO) \
	$(TOOLS:%=$(B)/%) $(DAEMONS:%=$(B)/%) $(LIBEXEC:%=$(B)/%)
tests: $(TESTS:%=$(B)/tests/%) $(BENCHES:%=$(B)/%)

# No file includes another module's internal header (scripts/check-layering.sh).
$(B)/layering.ok: scripts/check-layering.sh $(shell git ls-files '*.c' '*.h' 2>/dev/null)
	@mkdir -p $(@D)
	scripts/check-layering.sh
	@touch $@

# Every exported libhc function has its header comment and man page (scripts/check-api-docs.sh).
$(B)/api-docs.ok: scripts/check-api-docs.sh lib/libhc.map $(wildcard include/hc/*.h man/*.3)
	@mkdir -p $(@D)
	scripts/check-api-docs.sh
	@touch $@

$(B)/%.o: %.c
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) $(mod_inc) $(CPPFLAGS) -MMD -MP -c $< -o $@

define lib_rule
$(B)/lib$(1).a: $$(call objs,$$($(1)_SRCS))
	@mkdir -p $$(@D)
	rm -f $$@ && $$(AR) rcs $$@ $$^
endef
$(foreach l,$(LIBS_A),$(eval $(call lib_rule,$(l))))

# Programs link their internal libraries statically, so they run from the build tree.
define program_rule
$(B)/$(2)$(1): $$(call objs,$$($(1)_SRCS)) $$(foreach l,$$($(1)_LIBS),$(B)/lib$$(l).a)
	@mkdir -p $$(@D)
	$$(CC) $$(ALL_CFLAGS) -o $$@ $$(call objs,$$($(1)_SRCS)) \
		$$(foreach l,$$($(1)_LIBS),$(B)/lib$$(l).a) $(3) \
		-Wl,--as-needed $$(foreach e,$$($(1)_EXT),$$(EXT_$$(e))) $$(EXT_sys) $$(LDFLAGS)
endef
$(foreach t,$(TOOLS) $(DAEMONS) $(LIBEXEC) $(BENCHES),$(eval $(call program_rule,$(t),,)))
$(foreach t,$(TESTS),$(eval $(call program_rule,$(t),tests/,$(CHECK_LIBS))))

# Everything: host Check tests, then the driver suite in QEMU (HC_CHECK_KERNEL=0 to leave it out).
check: all
	tests/check-all.sh $(B) $(TESTS)

check-unit: all
	tests/run-tests.sh $(B) $(TESTS)

bench: all
	tests/run-bench.sh $(B)

check-kernel: all
	$(MAKE) -C tests/kernel

# The Debian packages, built from a copy of the tracked files in $(B)/pkg, linted, unpacked,
# DKMS-built against both kernels, hc-emud started by its unit's ExecStart, hc-run and a
# pkg-config application against it (tests/package/check-package.sh, docs/packaging.md).
# About 3 minutes, most of it the package build and lintian: not part of `make check`.
check-package:
	tests/package/check-package.sh $(CURDIR) $(B)

# Tools in BINDIR, hc-emud in SBINDIR, benchmarks in LIBEXECDIR/hc (not on PATH), libhc with
# its headers (the card interface's under hc/uapi/), pkg-config file and man pages, the udev rule that opens the device nodes
# to the render group. The driver's sources go elsewhere: install-dkms.
INSTALLED := $(TOOLS:%=$(BINDIR)/%) $(DAEMONS:%=$(SBINDIR)/%) \
	$(LIBEXEC:%=$(LIBEXECDIR)/hc/%) $(LIBDIR)/libhc.a $(LIBDIR)/libhc.so.1 \
	$(LIBDIR)/libhc.so $(LIBDIR)/pkgconfig/libhc.pc \
	$(patsubst include/%,$(INCDIR)/%,$(wildcard include/hc/*.h)) \
	$(patsubst include/%,$(INCDIR)/hc/%,$(wildcard include/uapi/*.h include/uapi/drm/*.h)) \
	$(foreach m,$(MANS),$(MANDIR)/man$(subst .,,$(suffix $(m)))/$(notdir $(m))) \
	$(UDEVRULESDIR)/99-hc-accel.rules
install: programs
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(SBINDIR) $(DESTDIR)$(LIBEXECDIR)/hc \
		$(DESTDIR)$(LIBDIR)/pkgconfig $(DESTDIR)$(INCDIR)/hc/uapi/drm \
		$(DESTDIR)$(UDEVRULESDIR)
	install -m 755 $(TOOLS:%=$(B)/%) $(DESTDIR)$(BINDIR)/
	install -m 755 $(DAEMONS:%=$(B)/%) $(DESTDIR)$(SBINDIR)/
	install -m 755 $(LIBEXEC:%=$(B)/%) $(DESTDIR)$(LIBEXECDIR)/hc/
	install -m 644 $(LIBHC_A) $(DESTDIR)$(LIBDIR)/
	install -m 755 $(LIBHC_SO) $(DESTDIR)$(LIBDIR)/
	ln -sf libhc.so.1 $(DESTDIR)$(LIBDIR)/libhc.so
	sed -e 's|@PREFIX@|$(PREFIX)|; s|@LIBDIR@|$(LIBDIR)|; s|@INCDIR@|$(INCDIR)|' \
		-e 's|@VERSION@|$(VERSION)|' lib/libhc.pc.in > $(DESTDIR)$(LIBDIR)/pkgconfig/libhc.pc
	install -m 644 include/hc/*.h $(DESTDIR)$(INCDIR)/hc/
	install -m 644 include/uapi/*.h $(DESTDIR)$(INCDIR)/hc/uapi/
	install -m 644 include/uapi/drm/*.h $(DESTDIR)$(INCDIR)/hc/uapi/drm/
	install -m 644 driver/99-hc-accel.rules $(DESTDIR)$(UDEVRULESDIR)/
	for m in $(MANS); do \
		s=$${m##*.}; install -d $(DESTDIR)$(MANDIR)/man$$s && \
		install -m 644 $$m $(DESTDIR)$(MANDIR)/man$$s/ || exit 1; done

uninstall:
	rm -f $(addprefix $(DESTDIR),$(INSTALLED))
	-rmdir $(DESTDIR)$(LIBEXECDIR)/hc $(DESTDIR)$(INCDIR)/hc/uapi/drm \
		$(DESTDIR)$(INCDIR)/hc/uapi $(DESTDIR)$(INCDIR)/hc 2>/dev/null

# The driver as DKMS wants it: one self-contained tree, DKMSDIR/hc_accel-VERSION, with the
# UAPI headers its Kbuild finds in include/ beside the sources. Then:
#	dkms add hc_accel/VERSION && dkms install hc_accel/VERSION
DKMS_TREE = $(DESTDIR)$(DKMSDIR)/hc_accel-$(VERSION)
install-dkms:
	install -d $(DKMS_TREE)/include/uapi/drm
	install -m 644 driver/*.c driver/*.h driver/Kbuild driver/Makefile driver/dkms.conf \
		driver/LICENSE $(DKMS_TREE)/
	install -m 644 include/uapi/hc_card.h include/uapi/hc_ring.h $(DKMS_TREE)/include/uapi/
	install -m 644 include/uapi/drm/hc_accel.h $(DKMS_TREE)/include/uapi/drm/

# What a program links, absolute (tests/kernel links the tools and the libhc Check programs
# statically for the QEMU guest): objects, internal libraries, external ones.
print-link-%:
	@echo $(abspath $(call objs,$($*_SRCS)) $(foreach l,$($*_LIBS),$(B)/lib$(l).a)) \
		$(foreach e,$($*_EXT),$(EXT_$(e))) $(EXT_sys)

clean:
	rm -rf $(B)

-include $(shell find $(B) -name '*.d' -type f 2>/dev/null)
