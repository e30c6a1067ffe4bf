/* fuzz.h - what every fuzz target shares.
 *
 * A target is built twice: with libFuzzer (./configure --enable-fuzzing, clang)
 * and with replay.c's main for "make check".  Its checks therefore abort()
 * themselves instead of relying on a sanitizer being there. */
#ifndef SCIM_FUZZ_H
#define SCIM_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* An invariant the code under test broke: say which, and crash so that
 * libFuzzer keeps the input (and a replay fails). */
#define FUZZ_CHECK(cond)                                                                             \
	do {                                                                                         \
		if (!(cond)) {                                                                       \
			fprintf(stderr, "%s:%d: invariant failed: %s\n", __FILE__, __LINE__, #cond); \
			abort();                                                                     \
		}                                                                                    \
	} while (0)

/* Consumes the input from the front: small integers that steer a target,
 * then the rest as bytes.  Past the end every read yields 0. */
struct fuzz_input {
	const uint8_t *p;
	size_t left;
};

static inline uint32_t fuzz_u32(struct fuzz_input *in, unsigned nbytes)
{
	uint32_t v = 0;
	for (unsigned i = 0; i < nbytes && in->left; i++, in->p++, in->left--)
		v |= (uint32_t)in->p[0] << (8 * i);
	return v;
}

#endif
