/*
 * msg_fixture.h - the message fixture of the codec tests (msgpack and oslo's JSON): the
 * value fixture of pv_fixture.h, the decoded message under test, and the ids the encoded
 * messages carry.
 *
 * Included after <criterion/criterion.h>; a suite names msg_fixture_setup and
 * msg_fixture_teardown as its .init and .fini.
 */
#ifndef VOLMGR_TESTS_MSG_FIXTURE_H
#define VOLMGR_TESTS_MSG_FIXTURE_H

#include "proto/msg.h"
#include "pv_fixture.h"

#define UID "0123456789abcdef0123456789abcdef"
#define MSGID "fedcba9876543210fedcba9876543210"
/* oslo.messaging's reply queue name: "reply_" and a uuid's hex digits. */
#define REPLY_Q "reply_0123456789abcdef0123456789abcdef"

/* The message a test decodes into; a decoder destroys the previous one before reuse. */
static struct proto_msg m;

static inline void msg_fixture_setup(void)
{
	pv_fixture_setup();
	proto_msg_init(&m, 0);
}

static inline void msg_fixture_teardown(void)
{
	proto_msg_destroy(&m);
	pv_fixture_teardown();
}

#endif
