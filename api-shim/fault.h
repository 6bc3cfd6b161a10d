/*
 * fault.h - Cinder's fault bodies (cinder.api.openstack.wsgi Fault, docs/cinder.md
 * §4.1): {"<faultName>": {"code": N, "message": "..."}}, the name chosen by the code.
 *
 * Quota errors go through Cinder's fault middleware: 413 overLimit whose message is
 * "<ExceptionClass>: <text>", with "retryAfter": "0" and the header Retry-After: 0.
 * The server adds the microversion and Vary headers to every reply under /v3.
 */
#ifndef VOLMGR_SHIM_FAULT_H
#define VOLMGR_SHIM_FAULT_H

#include "api-shim/request.h"

/* Cinder's standard texts. */
#define FAULT_MSG_NOT_FOUND "The resource could not be found."
#define FAULT_MSG_MALFORMED_BODY "Malformed request body"
#define FAULT_MSG_INTERNAL \
	"The server has either erred or is incapable of performing the requested operation."
#define FAULT_MSG_UNAUTHORIZED "The request you have made requires authentication."

/* "badRequest", "itemNotFound", ... or "computeFault" for codes without a name. */
const char *fault_name(unsigned code);

/* Sets r's reply to a fault with code and the formatted message. */
void fault_reply(struct shim_request *r, unsigned code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Sets a 413 quota fault: message "<exc_class>: <formatted text>", retryAfter "0". */
void fault_quota(struct shim_request *r, const char *exc_class, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));


/* 404 "Volume <id> could not be found." */
void fault_volume_not_found(struct shim_request *r, const char *volume_id);

/* 503 "Service temporarily unavailable. Request <request id>.": the body names no internal
 * detail; reason (which may name hosts, queues or URLs) is logged with the request id. */
void fault_unavailable(struct shim_request *r, const char *reason);

#endif
