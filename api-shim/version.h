/*
 * version.h - microversions (Cinder's cinder.api.openstack.api_version_request and .wsgi)
 * and the version documents of GET / and GET /v3/.
 *
 * The request header is "OpenStack-API-Version: volume X.Y" (several services may share the
 * header, comma-separated; only "volume" counts), or "volume latest". Absent means 3.0.
 */
#ifndef VOLMGR_SHIM_VERSION_H
#define VOLMGR_SHIM_VERSION_H

#include "api-shim/request.h"

#define VERSION_HEADER "OpenStack-API-Version"
#define VERSION_SERVICE "volume"

enum version_status {
	VERSION_OK = 0,
	VERSION_MALFORMED = -1,    /* 400: "API Version String X is of invalid format..." */
	VERSION_UNSUPPORTED = -2,  /* 406: "Version X.Y is not supported by the API..." */
};

/*
 * Pure: reads the header value (NULL when absent) into *out. On an error, text (if not NULL)
 * receives the version text found, for the message. Returns an enum version_status.
 */
int version_parse_header(const char *value, struct apiver *out, char *text, size_t textlen);

/* Negotiates r's microversion from its headers: returns 0, or -1 with a 400/406 fault set. */
int version_negotiate(struct shim_request *r);

#endif
