# libhc: the application library (include/hc/hc.h, docs/libhc.md, man/*.3): card, contexts,
# streams, waits, text, devices, errors; lib/backend/ the socket (hc-emud) and kernel (hc_accel)
# transports behind struct hc_card_ops. Uses lib/tokenizer, lib/util, liburing, libdrm.
LIBHC_SRCS := $(addprefix lib/,hc_card.c hc_ctx.c hc_stream.c hc_text.c hc_device.c hc_error.c \
	hc_ffi.c) \
	lib/backend/hc_emu.c lib/backend/hc_kernel.c
LIBHC_ALL_SRCS := $(LIBHC_SRCS) $(hctok_SRCS) $(hcutil_SRCS)
INC_lib := -Iinclude -Ilib/tokenizer -Ilib/util
INC_lib_backend := -Iinclude -Ilib -Ilib/tokenizer -Ilib/util
LIBHC_EXT := $(EXT_uring) $(EXT_pcre2) $(EXT_drm)

LIBHC_A  := $(B)/libhc.a
LIBHC_SO := $(B)/libhc.so.1
# libhc.a is one relocatable object in which only the symbols of lib/libhc.map and the internal
# prefix hc__ (lib/hc_internal.h: the white-box tests call those) stay global: applications
# linking it statically see the public API and nothing else of its insides.
$(B)/libhc.syms: lib/libhc.map
	@mkdir -p $(@D)
	{ sed -n 's/^[[:space:]]*\([_a-z][a-z0-9_]*\);.*/\1/p' $<; echo 'hc__*'; } >$@
$(LIBHC_A): $(call objs,$(LIBHC_ALL_SRCS)) $(B)/libhc.syms
	$(LD) -r -o $(B)/libhc-all.o $(call objs,$(LIBHC_ALL_SRCS))
	$(OBJCOPY) --wildcard --keep-global-symbols=$(B)/libhc.syms $(B)/libhc-all.o $(B)/libhc.o
	rm -f $@ && $(AR) rcs $@ $(B)/libhc.o
$(LIBHC_SO): $(call objs,$(LIBHC_ALL_SRCS)) lib/libhc.map
	$(CC) -shared -Wl,-soname,libhc.so.1 -Wl,--version-script=lib/libhc.map \
		-o $@ $(call objs,$(LIBHC_ALL_SRCS)) -Wl,--as-needed $(LIBHC_EXT) $(EXT_sys) $(LDFLAGS)
	ln -sf libhc.so.1 $(B)/libhc.so
MANS += $(wildcard man/*.3 man/*.7)

# Install into a scratch DESTDIR, build a program with the installed pkg-config file, ask every
# installed program its version, then uninstall: nothing may be left but that program.
.PHONY: check-install
check-install: programs
	rm -rf $(B)/install-check
	$(MAKE) --no-print-directory install DESTDIR=$(CURDIR)/$(B)/install-check PREFIX=/usr
	PKG_CONFIG_SYSROOT_DIR=$(CURDIR)/$(B)/install-check \
	PKG_CONFIG_PATH=$(CURDIR)/$(B)/install-check/usr/lib/pkgconfig \
	sh -c '$(CC) -std=c99 -Wall -Wextra -Werror -o $(B)/install-check/hello \
		tests/install/hello_libhc.c $$(pkg-config --cflags --libs libhc)'
	LD_LIBRARY_PATH=$(CURDIR)/$(B)/install-check/usr/lib $(B)/install-check/hello
	for p in $(B)/install-check/usr/bin/* $(B)/install-check/usr/sbin/* \
		$(B)/install-check/usr/libexec/hc/*; do \
		v=$$($$p --version) && [ "$$v" = "$${p##*/} $(VERSION)" ] || \
		{ echo "$$p --version: '$$v', expected '$${p##*/} $(VERSION)'"; exit 1; }; done
	$(MAKE) --no-print-directory uninstall DESTDIR=$(CURDIR)/$(B)/install-check PREFIX=/usr
	left=$$(cd $(B)/install-check && find . ! -type d ! -name hello); \
		[ -z "$$left" ] || { echo "left after uninstall:"; echo "$$left"; exit 1; }
	@echo "check-install: ok"

# Fragments are read before the top Makefile's first rule: keep `make` meaning `make all`.
.DEFAULT_GOAL := all
