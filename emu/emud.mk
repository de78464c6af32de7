# hc-emud: the emulated card daemon (socket transport; PCI/ivshmem transport in emud_ivshmem.c)
TOOLS += hc-emud
hc-emud_SRCS := emu/hc-emud.c emu/emud_fn.c emu/emud_sqe.c emu/emud_sched.c \
	emu/emud_telemetry.c emu/emud_socket.c emu/emud_ivshmem.c
