/*
 * http.h - a small blocking HTTP client (libcurl) for calls to other services (compute).
 * Thread-safe after http_global_init.
 */
#ifndef VOLMGR_COMMON_HTTP_H
#define VOLMGR_COMMON_HTTP_H

#include <stddef.h>

struct http_response {
	long status;   /* HTTP status, 0 when no response arrived */
	char *body;    /* NUL-terminated, malloc'd; at most HTTP_MAX_BODY bytes are kept */
	size_t len;
};

#define HTTP_MAX_BODY (1024 * 1024)

/* Call once at start-up, before threads. Returns 0 or -1. */
__attribute__((warn_unused_result)) int http_global_init(void);
void http_global_cleanup(void);

/*
 * Sends method to url with the given extra headers ("Name: value", NULL-terminated array or
 * NULL) and body (JSON; NULL for none), waiting at most timeout_s seconds in all.
 * Returns 0 when a response arrived (whatever its status) and fills out; -1 on a transport
 * failure with the reason in err. The caller frees out with http_response_free.
 */
__attribute__((warn_unused_result))
int http_request(const char *method, const char *url, const char *const *headers,
		 const char *body, int timeout_s, struct http_response *out,
		 char *err, size_t errlen);

/*
 * As http_request, and also copies the value of the response header named capture_name
 * (case-insensitive; the last one wins) into capture, NUL-terminated; capture is "" when the
 * answer had no such header or its value does not fit in caplen bytes. Keystone answers a
 * token in its X-Subject-Token header.
 */
__attribute__((warn_unused_result))
int http_request_capture(const char *method, const char *url, const char *const *headers,
			 const char *body, int timeout_s, const char *capture_name, char *capture,
			 size_t caplen, struct http_response *out, char *err, size_t errlen);

void http_response_free(struct http_response *r);

/*
 * Streams bytes between the file fd and one HTTP exchange (an image's data). With
 * send_len >= 0, the request body is the send_len bytes of fd from offset 0
 * (Content-Type: application/octet-stream) and the answer's body is dropped; otherwise the
 * body of a 2xx answer is written into fd from offset 0, at most max_recv bytes (a longer
 * one is a failure), and the blocks that are all zeros are skipped, so that a sparse fd
 * stays sparse (the caller gives a file that reads as zeros). The whole exchange ends
 * within timeout_s seconds. Returns 0 when an answer arrived (*status, *moved: the bytes
 * sent or received), or -1 with the reason in err on a transport, file or size failure.
 */
__attribute__((warn_unused_result))
int http_stream(const char *method, const char *url, const char *const *headers, int fd,
		long long send_len, long long max_recv, int timeout_s, long *status,
		long long *moved, char *err, size_t errlen);

/*
 * Calls an OpenStack service: method on endpoint + path (trailing slashes of endpoint are
 * dropped; path starts with '/'), with X-Auth-Token: token when token is neither NULL nor
 * empty, and version_header ("Name: value", e.g. a microversion) when not NULL. Returns as
 * http_request, and -1 with a reason in err when endpoint is empty or the URL or a header
 * would be too long.
 */
__attribute__((warn_unused_result))
int http_service_request(const char *method, const char *endpoint, const char *path,
			 const char *token, const char *version_header, const char *body,
			 int timeout_s, struct http_response *out, char *err, size_t errlen);

#endif
