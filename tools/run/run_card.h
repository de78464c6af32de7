/* SPDX-License-Identifier: MIT */
/* hc-run's card engine (run_card.c): the same engine interface, through libhc. */
#ifndef HC_TOOLS_RUN_CARD_H
#define HC_TOOLS_RUN_CARD_H

#include <stdio.h>
#include "run.h"

extern const struct run_engine_ops run_card_ops;

/*
 * Interactive chat on a card engine: read user turns from @in (one per line), keep the whole
 * conversation in one card context (each turn prefills only the new message), stream the
 * replies to stdout. Returns 0 at end of input, negative errno (message in @err) on error.
 */
int run_card_interactive(struct run_engine *e, const struct run_gen *g, int print_ids, FILE *in,
			 char *err, size_t errlen);

#endif
