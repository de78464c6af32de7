# libhc's kernel backend (lib/hc_kernel.c): the hc_accel driver's ioctls through libdrm.
LIBHC_SRCS += lib/hc_kernel.c
HC_CFLAGS += $(shell pkg-config --cflags libdrm 2>/dev/null)
HC_LIBS += $(shell pkg-config --libs libdrm 2>/dev/null)
