/*
 * request.h - one HTTP request as the handlers see it: who calls (auth), which microversion,
 * the route's captured path segments, the body, and the reply the handler sets.
 *
 * server.c creates a struct shim_request per request, fills it before calling a handler and
 * sends the reply afterwards; a handler never touches libmicrohttpd itself. Every handler
 * sets exactly one reply (req_reply or a fault_* call); a second one replaces the first.
 * Strings handed to the handler (path captures, headers, query values) live until the request
 * ends.
 */
#ifndef VOLMGR_SHIM_REQUEST_H
#define VOLMGR_SHIM_REQUEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <jansson.h>
#include "api-shim/auth.h"

struct MHD_Connection;
struct shim_request;
struct txn_ctx;

/* A handler's next step after a wait (req_suspend). */
typedef void (*req_resume_fn)(struct shim_request *r);

#define REQ_MAX_CAPTURES 4
#define REQ_PATH_MAX 2048
#define REQ_ID_LEN 41         /* "req-" + uuid4 + NUL */

struct apiver {
	int major;
	int minor;
};

struct shim_request {
	struct MHD_Connection *conn;
	const char *method;
	char path[REQ_PATH_MAX];           /* the URL path as received */
	char segbuf[REQ_PATH_MAX];         /* path split into segments (captures point here) */
	const char *captures[REQ_MAX_CAPTURES];
	int ncaptures;
	bool project_in_url;               /* false when a /v3 URL left the project id out */
	int64_t start_ms;
	char request_id[REQ_ID_LEN];
	char global_request_id[REQ_ID_LEN]; /* from X-OpenStack-Request-ID, or "" */
	char remote_addr[64];

	/* Microversion: echoed as "OpenStack-API-Version: volume X.Y" when versioned. */
	struct apiver ver;
	bool versioned;

	bool authenticated;
	struct auth_ctx auth;
	const char *auth_token;            /* X-Auth-Token (owned by the connection) */

	/* Body as received (NUL-terminated copy), bounded by SHIM_MAX_BODY. */
	char *body;
	size_t body_len;
	size_t body_cap;

	/* The reply. body is malloc'd JSON text (or text of reply_type) or NULL for an empty
	 * body. */
	unsigned status;
	char *reply_body;
	const char *reply_type;            /* static; NULL: application/json */
	size_t reply_len;                  /* bytes sent (for the access log) */
	bool retry_after;                  /* adds "Retry-After: 0" (413 quota faults) */
	char etag[33];                     /* an "Etag" header (an MD5 in hex), "" for none */
	bool replied;
	/* A handler that waits (req_suspend) keeps its state here across the wait; state_free
	 * releases it when the request ends, whether or not the wait ended. */
	req_resume_fn resume;              /* set while suspended */
	struct txn_ctx *txn;               /* a transaction run by another thread (txn.h) */
	void *state;
	void (*state_free)(void *state);
};

/* Initialises r for a new request (request id, clock). */
void req_init(struct shim_request *r, struct MHD_Connection *conn, const char *method,
	      const char *url);
/* Frees what r owns (its state too). */
void req_free(struct shim_request *r);

/*
 * Suspends r instead of replying: the thread that serves it goes on to other requests. Once
 * someone calls req_wake(r), the server runs resume(r) on one of its threads, which replies or
 * suspends again. Call from a handler (or a resume function) before arming what will wake it.
 */
void req_suspend(struct shim_request *r, req_resume_fn resume);

/* Ends r's suspension (from any thread, once): its resume function runs soon after. */
void req_wake(struct shim_request *r);

/*
 * When a wait of wait_s seconds that starts now must end (util_now_ms's clock): the earlier
 * of now + wait_s and the request's own deadline, [api] request_timeout after its head. A
 * request that waits several times is thus answered within request_timeout in all.
 */
int64_t req_wait_deadline(const struct shim_request *r, int wait_s);

/* Appends upload data. Returns 0, or -1 when the body passed SHIM_MAX_BODY (what was kept is
 * dropped) or memory ran out: the server then answers 413 and reads no more of it. */
int req_append_body(struct shim_request *r, const char *data, size_t len);

/* A request header (case-insensitive name) or NULL. */
const char *req_header(const struct shim_request *r, const char *name);
/* A query argument or NULL (the value may be "" for "?key"). */
const char *req_query(const struct shim_request *r, const char *key);

/* Calls fn(key, arg) for each query argument's key, in the order of the URL. */
void req_query_keys(const struct shim_request *r, void (*fn)(const char *key, void *arg),
		    void *arg);

/*
 * A boolean query argument read as Cinder's utils.get_bool_param does (oslo's boolean
 * strings, case-insensitive: 1/t/true/on/y/yes and 0/f/false/off/n/no). *out gets def when
 * the argument is absent. Returns 0, or -1 with a 400 "Value 'x' for 'key' is not a boolean."
 */
int req_query_bool(struct shim_request *r, const char *key, bool def, bool *out);

/* True if the request's microversion is at least major.minor. */
bool req_ver_ge(const struct shim_request *r, int major, int minor);

/* Sets the reply: status and body (a JSON value, stolen; NULL for an empty body). On a
 * serialisation failure the reply becomes a 500 fault. */
void req_reply(struct shim_request *r, unsigned status, json_t *body);

/* Sets a reply that is not JSON: status, body (malloc'd text, stolen; NULL for an empty
 * body) and its content type (static). */
void req_reply_text(struct shim_request *r, unsigned status, char *body, const char *type);
/*
 * Parses the body as JSON. Returns the value (caller json_decref()s) or NULL when the body is
 * empty or not JSON, in which case a 400 "Malformed request body" fault is set.
 */
json_t *req_json_body(struct shim_request *r);

/* The base URL of the request ("http://host:port"), from the Host header when it is
 * well-formed, else from the listen address. */
void req_base_url(const struct shim_request *r, char *out, size_t outlen);

#endif
