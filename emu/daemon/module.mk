# emu/daemon: hc-emud, the emulated card (docs/hc-emud.md). Speaks include/uapi/hc_card.h;
# uses emu/model and emu/rom. --null-model (emud_null.c) is for benchmarks only.
DAEMONS += hc-emud
hc-emud_SRCS := $(addprefix emu/daemon/,hc-emud.c emud_fn.c emud_sqe.c emud_sched.c \
	emud_telemetry.c emud_socket.c emud_ivshmem.c emud_null.c emud_service.c)
hc-emud_LIBS := hcmodel hcrom hcutil
# libsystemd: socket activation and readiness (emud_service.c); only hc-emud links it
hc-emud_EXT := crypto systemd
INC_emu_daemon := -Iinclude -Iemu/model -Iemu/rom -Ilib/util
MANS += man/hc-emud.8
