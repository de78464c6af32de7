/* SPDX-License-Identifier: MIT */
/* hc-run's card engine (run_card.c): the same engine interface, through libhc. */
#ifndef HC_TOOLS_RUN_CARD_H
#define HC_TOOLS_RUN_CARD_H

#include <stdio.h>
#include "run.h"

extern const struct run_engine_ops run_card_ops;

/*
 * Interactive chat on a card engine: read user turns from @in (one per line; with line
 * editing and history when @in is a terminal), keep the whole conversation in one card
 * context (each turn prefills only the new message, after the @system prompt if not NULL),
 * stream the replies to stdout and a stats line to stderr. Ctrl-C stops the answer
 * (hc_ctx_cancel), /reset starts the conversation over, /quit or end of input ends.
 * Returns 0 at the end, negative errno (message in @err) on error.
 */
int run_card_interactive(struct run_engine *e, const struct run_gen *g, const char *system,
			 int print_ids, FILE *in, char *err, size_t errlen);

#endif
