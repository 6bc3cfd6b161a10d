/*
 * fuzz_msgpack_decode.c - libFuzzer harness for the manager's decoding path: the msgpack
 * decoder under the manager's limits, the method lookup, the version check and the argument
 * parser, as manager/dispatch.c runs them on every delivery.
 */
#include <stddef.h>
#include <stdint.h>

#include "proto/codec.h"
#include "proto/schema.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct proto_limits lim = proto_default_limits;
	struct proto_msg msg;
	union proto_args args;
	char detail[256];

	lim.max_bytes = 65536;
	if (proto_msgpack_decode(data, size, &lim, &msg, detail, sizeof(detail)) == PROTO_OK) {
		const struct proto_method *m = proto_method_find(msg.method);

		if (m != NULL && proto_version_check(msg.version, m) == PROTO_OK &&
		    proto_args_parse(m, msg.args, &args, detail, sizeof(detail)) == PROTO_OK)
			detail[0] = '\0';
	}
	proto_msg_destroy(&msg);
	return 0;
}
