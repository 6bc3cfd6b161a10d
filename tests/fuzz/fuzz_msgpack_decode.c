/*
 * fuzz_msgpack_decode.c - libFuzzer harness for the manager's decoding path of msgpack
 * bodies (application/msgpack): the decoder under the manager's limits, the method lookup,
 * the version check and the argument parser, as manager/dispatch.c runs them on every
 * delivery, and the round trip through both encodings (fuzz_message).
 */
#include "tests/fuzz/fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	fuzz_message(PROTO_FMT_MSGPACK, data, size);
	return 0;
}
