/* SPDX-License-Identifier: MIT */
/* The decode both sides run: host_ref.c through hc-emud's socket, t_30_decode.c in the guest. */
#ifndef HC_DECODE_CASE_H
#define HC_DECODE_CASE_H

#include <stdint.h>

#define DECODE_CASE_PROMPT_LEN	5
#define DECODE_CASE_TOKENS	40
#define DECODE_CASE_RING	16	/* smaller than the output: the card must wait for space */
static const int32_t decode_case_prompt[DECODE_CASE_PROMPT_LEN] = { 1, 17, 42, 99, 7 };

#endif
