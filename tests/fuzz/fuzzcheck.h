/* SPDX-License-Identifier: ISC */
/* fuzzcheck.h: what every libFuzzer harness of tests/fuzz shares. Define
 * FUZZ_NAME (the harness's name, a string literal) before including it.
 * CHECK(cond): an oracle the input broke; says which check, where, and
 * aborts, so that libFuzzer keeps the input as a crash. */
#ifndef KEXWATCH_FUZZCHECK_H
#define KEXWATCH_FUZZCHECK_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond)                                                                                                    \
    do {                                                                                                               \
        if (!(cond)) {                                                                                                 \
            fprintf(stderr, FUZZ_NAME ": %s:%d: check failed: %s\n", __FILE__, __LINE__, #cond);                       \
            abort();                                                                                                   \
        }                                                                                                              \
    } while (0)

#endif
