/*
 * What every fuzz target of tests/fuzz shares: libFuzzer's entry point, which
 * replay.c (the corpus replay of `meson test`) calls too, and fuzz_fail(),
 * which a target calls when an invariant of the code under test does not
 * hold. A failure aborts, so libFuzzer keeps the input as a crash and the
 * replay test fails on it.
 */
#ifndef DROVER_FUZZ_H
#define DROVER_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define fuzz_fail(...)                                                              \
	do {                                                                        \
		fprintf(stderr, "fuzz: invariant broken at %s:%d: ", __FILE__, __LINE__); \
		fprintf(stderr, __VA_ARGS__);                                       \
		fputc('\n', stderr);                                                \
		abort();                                                            \
	} while (0)

#define fuzz_check(cond, ...)           \
	do {                            \
		if (!(cond))            \
			fuzz_fail(__VA_ARGS__); \
	} while (0)

#endif
