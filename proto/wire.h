/*
 * wire.h - the two encodings of struct proto_msg and struct proto_reply on the broker, and
 * the choice between them by AMQP content type.
 *
 *   application/msgpack  volmgr's own (codec.h)
 *   application/json     oslo.messaging's rabbit driver: the body is the envelope
 *                        {"oslo.version": "2.0", "oslo.message": "<JSON text>"} whose
 *                        string holds the inner message (docs/cinder.md §6.1); a reply
 *                        is enveloped the same way.
 *
 * Both decoders treat the body as hostile with the same limits (struct proto_limits) and the
 * same envelope rules, and yield the same model: a message decodes to equal trees whichever
 * encoding carried it. For JSON the outer envelope must be an object of exactly those two
 * keys with "oslo.version" "2.0"; the inner text is pre-scanned (proto_json_prescan) before
 * jansson parses it, duplicate keys are refused at any level, and strings must be UTF-8
 * without NUL (jansson refuses \u0000 and invalid UTF-8).
 */
#ifndef VOLMGR_PROTO_WIRE_H
#define VOLMGR_PROTO_WIRE_H

#include <stddef.h>
#include "proto/codec.h"
#include "proto/schema.h"

#define PROTO_CONTENT_TYPE_JSON "application/json"
#define PROTO_OSLO_ENVELOPE_VERSION "2.0"

enum proto_format { PROTO_FMT_MSGPACK, PROTO_FMT_JSON };

/*
 * The format of content_type: NULL (no content type, as volmgr's older senders published)
 * is msgpack. Returns 0, or -1 for any other content type.
 */
__attribute__((warn_unused_result))
int proto_format_of(const char *content_type, enum proto_format *fmt);
const char *proto_format_content_type(enum proto_format fmt);
/* "msgpack" or "json", for configuration values and logs; proto_format_parse reads them
 * back (0, or -1 for anything else). */
const char *proto_format_name(enum proto_format fmt);
__attribute__((warn_unused_result))
int proto_format_parse(const char *name, enum proto_format *fmt);

/* The contracts of the proto_msgpack_* functions of codec.h, in format fmt. */
__attribute__((warn_unused_result))
int proto_decode(enum proto_format fmt, const void *body, size_t len,
		 const struct proto_limits *lim, struct proto_msg *m, char *detail, size_t detlen);
__attribute__((warn_unused_result))
int proto_encode(enum proto_format fmt, const struct proto_msg *m, char **out, size_t *outlen);
__attribute__((warn_unused_result))
int proto_encode_reply(enum proto_format fmt, const struct proto_reply *r, char **out,
		       size_t *outlen);
__attribute__((warn_unused_result))
int proto_decode_reply(enum proto_format fmt, const void *body, size_t len,
		       const struct proto_limits *lim, struct pv_arena *arena,
		       struct proto_reply *r, char *detail, size_t detlen);

/* What makes an outgoing message a call: the id its reply carries, the queue the reply goes
 * to, and how long the caller waits for it, in seconds. */
struct proto_call {
	const char *msg_id;
	const char *reply_q;
	int timeout_s;
};

/*
 * Builds and encodes one volume RPC message, as every sender of volmgr does: the envelope of
 * method pm with ctx (proto_msg_prepare_cast: a fresh _unique_id in m->unique_id), a call when
 * call is not NULL, the arguments of args with the Volume primitive of vol
 * (proto_args_build), all in fmt. m is initialised and destroyed by the caller; *out is
 * malloc'd. Returns PROTO_OK, PROTO_ENOMEM (the arena is exhausted) or PROTO_EARGS (a value
 * the schema requires is missing).
 */
__attribute__((warn_unused_result))
int proto_encode_volume_msg(struct proto_msg *m, const struct proto_method *pm,
			    const struct proto_context *ctx, const union proto_args *args,
			    const struct proto_volume_fields *vol, const struct proto_call *call,
			    enum proto_format fmt, char **out, size_t *outlen);

/*
 * An oslo notification as oslo.messaging's messagingv2 driver sends it on the rabbit
 * transport (docs/cinder.md §21): the fields of Notifier._notify, all strings, payload the
 * JSON text of the payload object, timestamp in oslo's format (str(utcnow()):
 * "2026-01-31 12:00:00.000001"), request_id (may be NULL) the context's.
 */
struct proto_notification {
	const char *message_id;   /* a uuid4 with dashes */
	const char *publisher_id;
	const char *event_type;
	const char *priority;     /* upper-case, as oslo's Notifier passes it: "INFO" */
	const char *payload;
	const char *timestamp;
	const char *request_id;
};

/*
 * Encodes n in oslo's 2.0 envelope ({"oslo.version": "2.0", "oslo.message": "<JSON>"}) with
 * _unique_id (the message_id's hex, so that a republished row keeps it) and
 * _context_request_id. *out is malloc'd. Returns PROTO_OK, PROTO_EPARSE (payload is not
 * JSON) or PROTO_ENOMEM.
 */
__attribute__((warn_unused_result))
int proto_encode_notification(const struct proto_notification *n, char **out, size_t *outlen);

#endif
