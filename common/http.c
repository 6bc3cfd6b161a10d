/*
 * http.c - blocking HTTP requests with libcurl: one easy handle per request, so threads never
 * share curl state.
 */
#include "common/http.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <errno.h>
#include <unistd.h>

#include <curl/curl.h>

#include "common/util.h"

struct http_sink {
	char *buf;
	size_t len;
	size_t cap;
	bool truncated;
	bool nomem;
};

int http_global_init(void)
{
	return curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK ? 0 : -1;
}

void http_global_cleanup(void)
{
	curl_global_cleanup();
}

/* Keeps the first HTTP_MAX_BODY bytes and drops the rest; the request timeout bounds how long
 * a peer can keep sending. */
static size_t http_on_data(char *data, size_t size, size_t nmemb, void *user)
{
	struct http_sink *s = user;
	size_t n = size * nmemb;
	size_t take = n;

	if (take > HTTP_MAX_BODY - s->len) {
		take = HTTP_MAX_BODY - s->len;
		s->truncated = true;
	}
	if (take == 0 || s->nomem)
		return n;
	if (s->len + take + 1 > s->cap) {
		size_t cap = s->cap > 0 ? s->cap : 4096;
		char *grown;

		while (cap < s->len + take + 1)
			cap *= 2;
		if (cap > HTTP_MAX_BODY + 1)
			cap = HTTP_MAX_BODY + 1;
		grown = realloc(s->buf, cap);
		if (grown == NULL) {
			s->nomem = true;
			return 0;
		}
		s->buf = grown;
		s->cap = cap;
	}
	memcpy(s->buf + s->len, data, take);
	s->len += take;
	s->buf[s->len] = '\0';
	return n;
}

static bool http_has_header(const char *const *headers, const char *name)
{
	size_t n = strlen(name);

	for (; headers != NULL && *headers != NULL; headers++) {
		if (strncasecmp(*headers, name, n) == 0 && (*headers)[n] == ':')
			return true;
	}
	return false;
}

/* curl_slist_append returns NULL on failure and leaves the list alone. */
static bool http_add_header(struct curl_slist **list, const char *header)
{
	struct curl_slist *grown = curl_slist_append(*list, header);

	if (grown == NULL)
		return false;
	*list = grown;
	return true;
}

/* The header http_request_capture keeps, as libcurl hands over the head line by line. */
struct http_capture {
	const char *name;
	char *buf;
	size_t len;
};

static size_t http_on_header(char *line, size_t size, size_t nmemb, void *user)
{
	struct http_capture *cap = user;
	size_t n = size * nmemb, nlen = strlen(cap->name), vlen;
	const char *v;

	if (n <= nlen || line[nlen] != ':' || strncasecmp(line, cap->name, nlen) != 0)
		return n;
	v = line + nlen + 1;
	vlen = n - nlen - 1;
	while (vlen > 0 && (*v == ' ' || *v == '\t')) {
		v++;
		vlen--;
	}
	while (vlen > 0 && (v[vlen - 1] == '\r' || v[vlen - 1] == '\n' || v[vlen - 1] == ' '))
		vlen--;
	if (vlen >= cap->len)
		vlen = 0;
	memcpy(cap->buf, v, vlen);
	cap->buf[vlen] = '\0';
	return n;
}

int http_request(const char *method, const char *url, const char *const *headers,
		 const char *body, int timeout_s, struct http_response *out,
		 char *err, size_t errlen)
{
	return http_request_capture(method, url, headers, body, timeout_s, NULL, NULL, 0, out,
				    err, errlen);
}

int http_request_capture(const char *method, const char *url, const char *const *headers,
			 const char *body, int timeout_s, const char *capture_name, char *capture,
			 size_t caplen, struct http_response *out, char *err, size_t errlen)
{
	struct http_capture cap = { capture_name, capture, caplen };
	char curl_err[CURL_ERROR_SIZE] = "";
	struct http_sink sink = { 0 };
	struct curl_slist *list = NULL;
	long ms = (timeout_s > 0 ? timeout_s : 1) * 1000L;
	CURLcode rc = CURLE_OUT_OF_MEMORY;
	CURL *c;
	int ret = -1;

	memset(out, 0, sizeof(*out));
	if (err != NULL && errlen > 0)
		err[0] = '\0';
	c = curl_easy_init();
	if (c == NULL)
		goto done;

	/* Expect: 100-continue would stall large POSTs on servers that never answer it. */
	if (!http_add_header(&list, "Expect:") ||
	    (body != NULL && !http_has_header(headers, "Content-Type") &&
	     !http_add_header(&list, "Content-Type: application/json")) ||
	    (!http_has_header(headers, "Accept") &&
	     !http_add_header(&list, "Accept: application/json")))
		goto done;
	for (const char *const *h = headers; h != NULL && *h != NULL; h++) {
		if (!http_add_header(&list, *h))
			goto done;
	}

	/* Signals are off because timeouts with signals are not thread-safe in libcurl. */
	if ((rc = curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L)) != CURLE_OK ||
	    (rc = curl_easy_setopt(c, CURLOPT_URL, url)) != CURLE_OK ||
#if LIBCURL_VERSION_NUM >= 0x075500
	    (rc = curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https")) != CURLE_OK ||
#else
	    (rc = curl_easy_setopt(c, CURLOPT_PROTOCOLS,
				   (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS))) != CURLE_OK ||
#endif
	    (rc = curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method)) != CURLE_OK ||
	    (rc = curl_easy_setopt(c, CURLOPT_HTTPHEADER, list)) != CURLE_OK ||
	    (rc = curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, ms)) != CURLE_OK ||
	    (rc = curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, ms)) != CURLE_OK ||
	    (rc = curl_easy_setopt(c, CURLOPT_ERRORBUFFER, curl_err)) != CURLE_OK ||
	    (rc = curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, http_on_data)) != CURLE_OK ||
	    (rc = curl_easy_setopt(c, CURLOPT_WRITEDATA, &sink)) != CURLE_OK)
		goto done;
	if (body != NULL &&
	    ((rc = curl_easy_setopt(c, CURLOPT_POSTFIELDS, body)) != CURLE_OK ||
	     (rc = curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE,
				    (curl_off_t)strlen(body))) != CURLE_OK))
		goto done;
	if (capture_name != NULL && caplen > 0) {
		capture[0] = '\0';
		if ((rc = curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, http_on_header)) != CURLE_OK ||
		    (rc = curl_easy_setopt(c, CURLOPT_HEADERDATA, &cap)) != CURLE_OK)
			goto done;
	}
	if (body == NULL && strcasecmp(method, "HEAD") == 0 &&
	    (rc = curl_easy_setopt(c, CURLOPT_NOBODY, 1L)) != CURLE_OK)
		goto done;

	rc = curl_easy_perform(c);
	if (rc != CURLE_OK)
		goto done;
	(void)curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &out->status);
	if (sink.buf == NULL && (sink.buf = calloc(1, 1)) == NULL) {
		rc = CURLE_OUT_OF_MEMORY;
		goto done;
	}
	out->body = sink.buf;
	out->len = sink.len;
	sink.buf = NULL;
	ret = 0;
done:
	if (ret != 0 && err != NULL && errlen > 0)
		snprintf(err, errlen, "%s %s: %s", method, url,
			 sink.nomem ? "out of memory" :
			 curl_err[0] != '\0' ? curl_err : curl_easy_strerror(rc));
	free(sink.buf);
	curl_slist_free_all(list);
	if (c != NULL)
		curl_easy_cleanup(c);
	return ret;
}

void http_response_free(struct http_response *r)
{
	if (r == NULL)
		return;
	free(r->body);
	memset(r, 0, sizeof(*r));
}

#define HTTP_URL_MAX 2048
#define HTTP_TOKEN_HDR_MAX 1100

int http_service_request(const char *method, const char *endpoint, const char *path,
			 const char *token, const char *version_header, const char *body,
			 int timeout_s, struct http_response *out, char *err, size_t errlen)
{
	size_t eplen = endpoint != NULL ? strlen(endpoint) : 0;
	const char *headers[3] = { NULL, NULL, NULL };
	char url[HTTP_URL_MAX], auth[HTTP_TOKEN_HDR_MAX];
	int nh = 0, n;

	while (eplen > 0 && endpoint[eplen - 1] == '/')
		eplen--;
	if (eplen == 0) {
		snprintf(err, errlen, "no endpoint configured");
		return -1;
	}
	n = snprintf(url, sizeof(url), "%.*s%s", (int)eplen, endpoint, path);
	if (n < 0 || (size_t)n >= sizeof(url)) {
		snprintf(err, errlen, "endpoint URL is too long");
		return -1;
	}
	if (version_header != NULL)
		headers[nh++] = version_header;
	if (token != NULL && token[0] != '\0') {
		n = snprintf(auth, sizeof(auth), "X-Auth-Token: %s", token);
		if (n < 0 || (size_t)n >= sizeof(auth)) {
			snprintf(err, errlen, "token is too long");
			return -1;
		}
		headers[nh++] = auth;
	}
	return http_request(method, url, headers, body, timeout_s, out, err, errlen);
}

/* The state of one http_stream exchange, shared by libcurl's read and write callbacks. */
struct http_flow {
	CURL *c;
	int fd;
	long long off;        /* bytes read from or written to fd so far */
	long long limit;      /* send: the length; receive: the most that may arrive */
	bool too_long;
	int file_errno;
};

static size_t http_flow_read(char *buf, size_t size, size_t nmemb, void *user)
{
	struct http_flow *f = user;
	size_t want = size * nmemb;
	ssize_t n;

	if ((long long)want > f->limit - f->off)
		want = (size_t)(f->limit - f->off);
	if (want == 0)
		return 0;
	n = pread(f->fd, buf, want, f->off);
	if (n <= 0) {
		f->file_errno = n < 0 ? errno : EIO; /* a file shorter than announced */
		return CURL_READFUNC_ABORT;
	}
	f->off += n;
	util_progress();
	return (size_t)n;
}

static bool http_all_zero(const char *p, size_t n)
{
	return n == 0 || (p[0] == 0 && memcmp(p, p + 1, n - 1) == 0);
}

static size_t http_flow_write(char *data, size_t size, size_t nmemb, void *user)
{
	struct http_flow *f = user;
	size_t n = size * nmemb, done = 0;
	long code = 0;

	/* An error's body is not the data: it is dropped. */
	(void)curl_easy_getinfo(f->c, CURLINFO_RESPONSE_CODE, &code);
	if (code < 200 || code > 299)
		return n;
	if ((long long)n > f->limit - f->off) {
		f->too_long = true;
		return 0;
	}
	/* A transfer that moves is a thread at work, however long the whole takes. */
	util_progress();
	if (http_all_zero(data, n)) {
		f->off += (long long)n;
		return n;
	}
	while (done < n) {
		ssize_t w = pwrite(f->fd, data + done, n - done, f->off + (long long)done);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			f->file_errno = w < 0 ? errno : EIO;
			return 0;
		}
		done += (size_t)w;
	}
	f->off += (long long)n;
	return n;
}

/* Drops the body of an upload's answer. */
static size_t http_drop(char *data, size_t size, size_t nmemb, void *user)
{
	(void)data;
	(void)user;
	return size * nmemb;
}

int http_stream(const char *method, const char *url, const char *const *headers, int fd,
		long long send_len, long long max_recv, int timeout_s, long *status,
		long long *moved, char *err, size_t errlen)
{
	bool sending = send_len >= 0;
	struct http_flow f = { .fd = fd, .limit = sending ? send_len : max_recv };
	char curl_err[CURL_ERROR_SIZE] = "";
	struct curl_slist *list = NULL;
	CURLcode rc = CURLE_OUT_OF_MEMORY;
	int ret = -1;

	*status = 0;
	*moved = 0;
	f.c = curl_easy_init();
	if (f.c == NULL ||
	    !http_add_header(&list, "Expect:") ||
	    (sending && !http_add_header(&list, "Content-Type: application/octet-stream")))
		goto done;
	for (const char *const *h = headers; h != NULL && *h != NULL; h++)
		if (!http_add_header(&list, *h))
			goto done;
	if ((rc = curl_easy_setopt(f.c, CURLOPT_NOSIGNAL, 1L)) != CURLE_OK ||
	    (rc = curl_easy_setopt(f.c, CURLOPT_URL, url)) != CURLE_OK ||
#if LIBCURL_VERSION_NUM >= 0x075500
	    (rc = curl_easy_setopt(f.c, CURLOPT_PROTOCOLS_STR, "http,https")) != CURLE_OK ||
#else
	    (rc = curl_easy_setopt(f.c, CURLOPT_PROTOCOLS,
				   (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS))) != CURLE_OK ||
#endif
	    (rc = curl_easy_setopt(f.c, CURLOPT_HTTPHEADER, list)) != CURLE_OK ||
	    (rc = curl_easy_setopt(f.c, CURLOPT_TIMEOUT_MS,
				   (timeout_s > 0 ? timeout_s : 1) * 1000L)) != CURLE_OK ||
	    (rc = curl_easy_setopt(f.c, CURLOPT_ERRORBUFFER, curl_err)) != CURLE_OK ||
	    (rc = curl_easy_setopt(f.c, CURLOPT_WRITEFUNCTION,
				   sending ? http_drop : http_flow_write)) != CURLE_OK ||
	    (rc = curl_easy_setopt(f.c, CURLOPT_WRITEDATA, &f)) != CURLE_OK)
		goto done;
	if (sending &&
	    ((rc = curl_easy_setopt(f.c, CURLOPT_UPLOAD, 1L)) != CURLE_OK ||
	     (rc = curl_easy_setopt(f.c, CURLOPT_READFUNCTION, http_flow_read)) != CURLE_OK ||
	     (rc = curl_easy_setopt(f.c, CURLOPT_READDATA, &f)) != CURLE_OK ||
	     (rc = curl_easy_setopt(f.c, CURLOPT_INFILESIZE_LARGE, (curl_off_t)send_len))
	     != CURLE_OK))
		goto done;
	/* After CURLOPT_UPLOAD, which would make it a PUT. */
	if ((rc = curl_easy_setopt(f.c, CURLOPT_CUSTOMREQUEST, method)) != CURLE_OK)
		goto done;
	rc = curl_easy_perform(f.c);
	if (rc != CURLE_OK || f.too_long || f.file_errno != 0)
		goto done;
	(void)curl_easy_getinfo(f.c, CURLINFO_RESPONSE_CODE, status);
	*moved = f.off;
	ret = 0;
done:
	if (ret != 0)
		snprintf(err, errlen, "%s %s: %s", method, url,
			 f.too_long ? "the answer is longer than allowed" :
			 f.file_errno != 0 ? strerror(f.file_errno) :
			 curl_err[0] != '\0' ? curl_err : curl_easy_strerror(rc));
	curl_slist_free_all(list);
	if (f.c != NULL)
		curl_easy_cleanup(f.c);
	return ret;
}
