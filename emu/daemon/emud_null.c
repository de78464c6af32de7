// SPDX-License-Identifier: MIT
/*
 * BENCHMARK ONLY (hc-emud --null-model): the card skips the forward pass and the sampler and
 * makes token ids from a counter, so a benchmark sees only the cost of the stack itself
 * (scheduler, stream rings, interrupts, libhc). The tokens are meaningless, and contexts
 * never fill because no position is computed.
 */
#include "emud.h"

int32_t emud_null_token(uint64_t step, uint32_t vocab)
{
	/* splitmix-style mix: ids spread over the vocabulary, a pure function of the step */
	uint64_t z = step + 0x9e3779b97f4a7c15ULL;

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return (int32_t)((z ^ (z >> 31)) % vocab);
}
