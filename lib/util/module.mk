# lib/util: helpers every internal module shares (hc_err.h). Uses nothing.
LIBS_A += hcutil
hcutil_SRCS := lib/util/hc_err.c lib/util/hc_file.c
INC_lib_util :=
