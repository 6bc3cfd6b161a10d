/*
 * fuzz_oslo_envelope.c - libFuzzer harness for oslo.messaging's JSON bodies
 * (application/json): the envelope {"oslo.version": "2.0", "oslo.message": "<JSON text>"},
 * the pre-scan and jansson's parse of the inner text, the envelope keys, then what the
 * manager runs on every delivery and the round trip through both encodings (fuzz_message).
 */
#include "tests/fuzz/fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	fuzz_message(PROTO_FMT_JSON, data, size);
	return 0;
}
