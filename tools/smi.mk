# hc-smi: card telemetry for operators (docs/hc-smi.md, man/hc-smi.1).
TOOLS += hc-smi
hc-smi_SRCS := tools/hc-smi.c tools/smi_fields.c tools/smi_print.c

MANDIR ?= $(PREFIX)/share/man
.PHONY: install-smi-man
install: install-smi-man
install-smi-man:
	install -d $(DESTDIR)$(MANDIR)/man1
	install -m 644 man/hc-smi.1 $(DESTDIR)$(MANDIR)/man1/
