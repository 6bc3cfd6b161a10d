/*
 * fuzz.h - what several libFuzzer harnesses of tests/fuzz share. Each harness is one
 * fuzz_<target>.c with its seed corpus in corpus/<target>/; these helpers are linked into
 * every harness (Makefile, FUZZ_HELPERS).
 */
#ifndef VOLMGR_FUZZ_H
#define VOLMGR_FUZZ_H

#include <stddef.h>
#include <stdint.h>

#include "proto/wire.h"

/* libFuzzer's entry point, defined by each harness. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
/* libFuzzer's initialisation, defined once for every harness (helpers.c): only errors are
 * logged. */
int LLVMFuzzerInitialize(int *argc, char ***argv);

/*
 * Decodes data as a message in fmt under the manager's limits and runs what the manager runs
 * on every delivery (method lookup, version check, argument parser). A message that decodes
 * must also survive a round trip: encoded again in either format it decodes, and its encoding
 * in fmt is stable (encode, decode, encode gives the same bytes). Aborts when it does not.
 */
void fuzz_message(enum proto_format fmt, const uint8_t *data, size_t size);

/*
 * Replaces the content of this process's scratch file with data[0..size) and returns its path.
 * The file is created on the first call, mode 0600 in a private directory made with mkdtemp
 * under $TMPDIR (default /tmp), and removed with its directory at exit. Aborts when the file
 * cannot be written: a harness cannot go on without it.
 */
const char *fuzz_file_write(const uint8_t *data, size_t size);

/* Aborts with a message on stderr when cond is false: what the harness proved wrong. */
#define FUZZ_CHECK(cond) fuzz_check((cond), #cond, __FILE__, __LINE__)
void fuzz_check(int cond, const char *what, const char *file, int line);

#endif
