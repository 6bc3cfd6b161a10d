/*
 * msg.h - the RPC message model: oslo.messaging's inner message, independent of its encoding.
 *
 * A cast carries method, args, version, optional namespace, _unique_id and the request
 * context (flattened on the wire as _context_<key>). A call adds _msg_id, _reply_q and
 * _timeout. Every pointer in struct proto_msg points into msg->arena.
 */
#ifndef VOLMGR_PROTO_MSG_H
#define VOLMGR_PROTO_MSG_H

#include <stdbool.h>
#include "proto/value.h"

#define PROTO_MAX_ROLES 32

/* The subset of cinder.context.RequestContext volmgr uses; the encoder writes every key of
 * docs/cinder.md §6.2 (null where unset), the decoder reads these and ignores the rest. */
struct proto_context {
	const char *user_id;
	const char *project_id;
	const char *project_name;
	const char *request_id;        /* "req-<uuid4>" */
	const char *global_request_id;
	const char *auth_token;
	const char *remote_address;
	const char *timestamp;         /* naive UTC isoformat */
	const char *read_deleted;      /* "no" when absent */
	const char *quota_class;
	/* The caller's domains, as a sender knows them (NULL: none, sent as null); a received
	 * message leaves them NULL, since nothing volmgr does depends on them. */
	const char *user_domain;
	const char *project_domain;
	bool is_admin;
	bool is_admin_project;         /* true when absent */
	const char *roles[PROTO_MAX_ROLES];
	uint32_t nroles;
};

struct proto_msg {
	const char *method;
	const char *version;           /* "3.19" */
	const char *namespace_;        /* NULL when absent */
	char unique_id[33];            /* 32 lowercase hex digits */
	struct proto_context ctx;
	struct pv *args;               /* a PV_MAP */
	bool is_call;
	const char *msg_id;            /* calls: 32 hex */
	const char *reply_q;           /* calls: reply queue name */
	double timeout;                /* calls: seconds; 0 when null/absent */
	struct pv_arena arena;         /* owns all of the above */
};

/* Initialises an empty message whose arena may hand out arena_cap bytes. */
void proto_msg_init(struct proto_msg *m, size_t arena_cap);
void proto_msg_destroy(struct proto_msg *m);

/*
 * Prepares m (already initialised) as an outgoing cast: method and version are copied, a
 * fresh _unique_id is generated, ctx is deep-copied and args is set to an empty map with room
 * for nargs entries. Returns 0 or -1 (arena exhausted).
 */
__attribute__((warn_unused_result))
int proto_msg_prepare_cast(struct proto_msg *m, const char *method, const char *version,
			   const struct proto_context *ctx, uint32_t nargs);

/*
 * The string members of struct proto_context with their RequestContext.to_dict() keys, shared
 * by the codecs and by proto_msg_prepare_cast's deep copy. dflt is what an absent or null value
 * means on receipt and what the encoder sends for NULL (NULL: send null).
 */
#define PROTO_CTX_NSTRS 10
struct proto_ctx_str {
	const char *key;
	size_t off;       /* offsetof(struct proto_context, <member>) */
	const char *dflt;
};
extern const struct proto_ctx_str proto_ctx_strs[PROTO_CTX_NSTRS];

/* Parses an RPC version "X.Y" (decimal digits only, at most 5 each). Returns 0 or -1. */
__attribute__((warn_unused_result))
int proto_version_parse(const char *s, unsigned *major, unsigned *minor);

/* A reply to a call: {result, failure, ending, _msg_id}. failure is NULL on success, else a
 * JSON text {"class": ..., "module": ..., "message": ..., "tb": [], "args": [], "kwargs": {}}. */
struct proto_reply {
	const struct pv *result;
	const char *failure;
	bool ending;
	const char *msg_id;
};

/* Longest exception class name and message a failure keeps. */
#define PROTO_FAILURE_CLASS_MAX 128
#define PROTO_FAILURE_MESSAGE_MAX 1024

/* The modules of the exceptions volmgr raises: Cinder's, which Cinder's RPC client rebuilds
 * (its allowed_remote_exmods), and oslo's dispatcher's, which it sees as a RemoteError. */
#define PROTO_FAILURE_MODULE_CINDER "cinder.exception"
#define PROTO_FAILURE_MODULE_OSLO "oslo_messaging.rpc.dispatcher"

/*
 * oslo's serialised exception (oslo_messaging._drivers.common.serialize_remote_exception):
 * {"class": cls, "module": module, "message": message, "tb": [], "args": [message],
 * "kwargs": {}}. The client rebuilds it as cls(*args, **kwargs): a CinderException given its
 * message keeps it as is. Returns a malloc'd JSON text (caller frees) or NULL when out of
 * memory.
 */
char *proto_failure_format(const char *module, const char *cls, const char *message);

/* Reads class and message of a failure text (truncated to the buffers). Returns 0, or -1
 * when the text is not a JSON object with a string "class" (message may be missing: ""). */
__attribute__((warn_unused_result))
int proto_failure_parse(const char *failure, char cls[PROTO_FAILURE_CLASS_MAX],
			char message[PROTO_FAILURE_MESSAGE_MAX]);

#endif
