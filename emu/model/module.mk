# emu/model: the exact forward pass (model.h) and sampler; kernels/ holds the matrix kernels.
# Uses emu/rom. Used by hc-emud, hc-run --rom, hc-bench and the tests' references.
LIBS_A += hcmodel
hcmodel_SRCS := emu/model/forward.c emu/model/sample.c emu/model/threadpool.c \
	emu/model/kernels/matmul.c emu/model/kernels/ref.c \
	emu/model/kernels/generic.c emu/model/kernels/x86_avx2.c
INC_emu_model := -Iemu/model -Iemu/model/kernels -Iemu/rom -Ilib/util
INC_emu_model_kernels := -Iemu/model -Iemu/rom
