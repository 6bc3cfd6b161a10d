/*
 * message.c - the manager's decoding path and the codecs' round trip, for the message
 * harnesses of both formats (see fuzz.h).
 */
#include "tests/fuzz/fuzz.h"

#include <stdlib.h>
#include <string.h>

#include "proto/schema.h"

/* The manager's body cap is 1 MiB; 64 KiB keeps the fuzzer fast and is past -max_len. */
#define FUZZ_MAX_BODY 65536

/* Decodes body in fmt and encodes the result again in fmt. The limits are wider than the
 * first decode's: an encoding of a decoded message is larger than what carried it (every
 * context key is written, null where unset; JSON escapes what msgpack carries raw). Returns
 * the status of the decode; *out is malloc'd on PROTO_OK. */
static int reencode(enum proto_format fmt, const char *body, size_t len, char **out,
		    size_t *outlen)
{
	struct proto_limits lim = proto_default_limits;
	struct proto_msg m;
	char detail[256];
	int rc;

	lim.max_bytes = 16 * FUZZ_MAX_BODY;
	lim.max_nodes = 2 * proto_default_limits.max_nodes;
	lim.max_string = 16 * FUZZ_MAX_BODY;
	rc = proto_decode(fmt, body, len, &lim, &m, detail, sizeof(detail));

	*out = NULL;
	if (rc == PROTO_OK)
		FUZZ_CHECK(proto_encode(fmt, &m, out, outlen) == PROTO_OK);
	proto_msg_destroy(&m);
	return rc;
}

static void round_trip(enum proto_format fmt, const struct proto_msg *m)
{
	enum proto_format other = fmt == PROTO_FMT_JSON ? PROTO_FMT_MSGPACK : PROTO_FMT_JSON;
	char *e1 = NULL, *e2 = NULL, *x = NULL, *y = NULL;
	size_t l1, l2, lx, ly;

	FUZZ_CHECK(proto_encode(fmt, m, &e1, &l1) == PROTO_OK);
	FUZZ_CHECK(reencode(fmt, e1, l1, &e2, &l2) == PROTO_OK);
	FUZZ_CHECK(l1 == l2 && memcmp(e1, e2, l1) == 0);
	/* The same message carried by the other encoding decodes to the same model. */
	FUZZ_CHECK(proto_encode(other, m, &x, &lx) == PROTO_OK);
	FUZZ_CHECK(reencode(other, x, lx, &y, &ly) == PROTO_OK);
	FUZZ_CHECK(lx == ly && memcmp(x, y, lx) == 0);
	free(e1);
	free(e2);
	free(x);
	free(y);
}

void fuzz_message(enum proto_format fmt, const uint8_t *data, size_t size)
{
	struct proto_limits lim = proto_default_limits;
	struct proto_msg msg;
	union proto_args args;
	char detail[256];

	lim.max_bytes = FUZZ_MAX_BODY;
	if (proto_decode(fmt, data, size, &lim, &msg, detail, sizeof(detail)) == PROTO_OK) {
		const struct proto_method *m = proto_method_find(msg.method);

		if (m != NULL && proto_version_check(msg.version, m) == PROTO_OK &&
		    proto_args_parse(m, msg.args, &args, detail, sizeof(detail)) == PROTO_OK)
			detail[0] = '\0';
		round_trip(fmt, &msg);
	}
	proto_msg_destroy(&msg);
}
