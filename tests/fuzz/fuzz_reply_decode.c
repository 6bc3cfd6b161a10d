/*
 * fuzz_reply_decode.c - libFuzzer harness for the decoding of call replies, as the shim's
 * reply listener (api-shim/replies.c) and volctl run it: the first byte picks the format
 * (even: msgpack, odd: oslo's JSON envelope), the rest is the body. A reply that decodes has
 * the _msg_id the listener matches on, its failure text (if any) is parsed as the shim
 * parses it, and it survives a round trip: encoded again it decodes, and encoding is stable.
 */
#include <stdlib.h>
#include <string.h>

#include "tests/fuzz/fuzz.h"

/* The listener's body cap is 1 MiB; 64 KiB keeps the fuzzer fast and is past -max_len. */
#define FUZZ_MAX_BODY 65536
/* The listener's arena: twice its body cap. */
#define FUZZ_ARENA_CAP (2 * FUZZ_MAX_BODY)

/* Decodes body in fmt and encodes the reply again (*out malloc'd on PROTO_OK). The limits are
 * wider than the first decode's, since JSON escapes what msgpack carries raw. */
static int reencode(enum proto_format fmt, const char *body, size_t len, char **out,
		    size_t *outlen)
{
	struct proto_limits lim = proto_default_limits;
	struct proto_reply rep;
	struct pv_arena arena;
	char detail[256];
	int rc;

	lim.max_bytes = 16 * FUZZ_MAX_BODY;
	lim.max_string = 16 * FUZZ_MAX_BODY;
	pv_arena_init(&arena, 16 * FUZZ_ARENA_CAP);
	*out = NULL;
	rc = proto_decode_reply(fmt, body, len, &lim, &arena, &rep, detail, sizeof(detail));
	if (rc == PROTO_OK)
		FUZZ_CHECK(proto_encode_reply(fmt, &rep, out, outlen) == PROTO_OK);
	pv_arena_destroy(&arena);
	return rc;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct proto_limits lim = proto_default_limits;
	enum proto_format fmt;
	struct proto_reply rep;
	struct pv_arena arena;
	char detail[256], cls[PROTO_FAILURE_CLASS_MAX], message[PROTO_FAILURE_MESSAGE_MAX];
	char *e1 = NULL, *e2 = NULL;
	size_t l1, l2;

	if (size < 1)
		return 0;
	fmt = (data[0] & 1) != 0 ? PROTO_FMT_JSON : PROTO_FMT_MSGPACK;
	lim.max_bytes = FUZZ_MAX_BODY;
	pv_arena_init(&arena, FUZZ_ARENA_CAP);
	if (proto_decode_reply(fmt, data + 1, size - 1, &lim, &arena, &rep, detail,
			       sizeof(detail)) == PROTO_OK) {
		FUZZ_CHECK(rep.msg_id != NULL);
		if (rep.failure != NULL && proto_failure_parse(rep.failure, cls, message) == 0)
			FUZZ_CHECK(strlen(cls) < sizeof(cls) && strlen(message) < sizeof(message));
		FUZZ_CHECK(proto_encode_reply(fmt, &rep, &e1, &l1) == PROTO_OK);
		FUZZ_CHECK(reencode(fmt, e1, l1, &e2, &l2) == PROTO_OK);
		FUZZ_CHECK(l1 == l2 && memcmp(e1, e2, l1) == 0);
	}
	free(e1);
	free(e2);
	pv_arena_destroy(&arena);
	return 0;
}
