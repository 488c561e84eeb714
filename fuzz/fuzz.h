/* What the libFuzzer targets share: the entry point and a check that traps. */
#ifndef GPUCI_FUZZ_FUZZ_H
#define GPUCI_FUZZ_FUZZ_H

#include <stddef.h>
#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A property that must hold: a trap, which libFuzzer reports as a crash, when not. */
#define CHECK(cond)                                                                                \
	do {                                                                                       \
		if (!(cond))                                                                       \
			__builtin_trap();                                                          \
	} while (0)

#endif
