# tools/serve: hc-serve, the cards behind an OpenAI-compatible HTTP API (docs/hc-serve.md,
# man/hc-serve.1). Uses libhc's public API, libmicrohttpd and jansson.
TOOLS += hc-serve
hc-serve_SRCS := $(addprefix tools/serve/,hc-serve.c serve_http.c serve_request.c \
	serve_sched.c serve_output.c serve_metrics.c)
INC_tools_serve := -Iinclude $(shell pkg-config --cflags libmicrohttpd 2>/dev/null)
MANS += man/hc-serve.1
hc-serve_LIBS := hc
hc-serve_EXT := uring drm pcre2 jansson mhd
EXT_mhd := $(shell pkg-config --libs libmicrohttpd 2>/dev/null)
