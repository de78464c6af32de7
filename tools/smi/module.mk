# tools/smi: hc-smi, card telemetry for operators (docs/hc-smi.md, man/hc-smi.1). Uses libhc's
# public API and the register page (include/uapi/hc_card.h) for names of fields.
TOOLS += hc-smi
hc-smi_SRCS := $(addprefix tools/smi/,hc-smi.c smi_fields.c smi_print.c smi_prom.c smi_cdi.c)
INC_tools_smi := -Iinclude
MANS += man/hc-smi.1
hc-smi_LIBS := hc
hc-smi_EXT := uring drm pcre2 jansson
