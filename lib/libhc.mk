# libhc: the public application library (include/hc/hc.h, docs/libhc.md).
LIBHC_SRCS += lib/hc_error.c lib/hc_device.c lib/hc_text.c lib/hc_card.c lib/hc_ctx.c \
	lib/hc_stream.c lib/hc_emu.c
# The kernel backend (lib/hc_kernel.c) comes with the kernel-driver work; until then a hook
# that answers -ENODEV.
LIBHC_SRCS += $(if $(wildcard lib/hc_kernel.c),,lib/hc_kernel_none.c)

# Fragments are read before the top Makefile's first rule: keep `make` meaning `make all`.
.DEFAULT_GOAL := all

# Install into a scratch DESTDIR and build a program with the installed pkg-config file.
.PHONY: check-install
check-install: all
	rm -rf $(B)/install-check
	$(MAKE) --no-print-directory install DESTDIR=$(CURDIR)/$(B)/install-check PREFIX=/usr
	PKG_CONFIG_SYSROOT_DIR=$(CURDIR)/$(B)/install-check \
	PKG_CONFIG_PATH=$(CURDIR)/$(B)/install-check/usr/lib/pkgconfig \
	sh -c '$(CC) -std=c99 -Wall -Wextra -Werror -o $(B)/install-check/hello \
		tests/install/hello_libhc.c $$(pkg-config --cflags --libs libhc)'
	LD_LIBRARY_PATH=$(CURDIR)/$(B)/install-check/usr/lib $(B)/install-check/hello

# Man pages (man/*.3 per function, man/libhc.7 overview) go with `make install`.
MANDIR ?= $(PREFIX)/share/man
.PHONY: install-libhc-man
install: install-libhc-man
install-libhc-man:
	install -d $(DESTDIR)$(MANDIR)/man3 $(DESTDIR)$(MANDIR)/man7
	install -m 644 man/*.3 $(DESTDIR)$(MANDIR)/man3/
	install -m 644 man/*.7 $(DESTDIR)$(MANDIR)/man7/
