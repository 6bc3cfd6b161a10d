/*
 * version.c - microversion negotiation and the version documents (see version.h).
 */
#include "api-shim/version.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "common/util.h"
#include "api-shim/fault.h"
#include "api-shim/handlers.h"
#include "api-shim/shim.h"

#define VERSION_TEXT_MAX 64
#define VERSION_DIGITS_MAX 6

/* Parses "X.Y" as Cinder's APIVersionRequest does (^([1-9]\d*)\.([1-9]\d*|0)$). Returns 0,
 * VERSION_MALFORMED, or VERSION_UNSUPPORTED when the numbers are too large to be served. */
static int parse_number(const char *s, struct apiver *out)
{
	long part[2];

	for (int i = 0; i < 2; i++) {
		const char *start = s;
		long v = 0;

		while (isdigit((unsigned char)*s)) {
			if (s - start < VERSION_DIGITS_MAX)
				v = v * 10 + (*s - '0');
			s++;
		}
		if (s == start || (*start == '0' && s - start > 1) || (i == 0 && *start == '0'))
			return VERSION_MALFORMED;
		if (*s != (i == 0 ? '.' : '\0'))
			return VERSION_MALFORMED;
		if (s - start > VERSION_DIGITS_MAX)
			return VERSION_UNSUPPORTED;
		part[i] = v;
		s++;
	}
	out->major = (int)part[0];
	out->minor = (int)part[1];
	return VERSION_OK;
}

static bool in_range(const struct apiver *v)
{
	if (v->major < SHIM_MIN_MAJOR || (v->major == SHIM_MIN_MAJOR && v->minor < SHIM_MIN_MINOR))
		return false;
	if (v->major > SHIM_MAX_MAJOR || (v->major == SHIM_MAX_MAJOR && v->minor > SHIM_MAX_MINOR))
		return false;
	return true;
}

int version_parse_header(const char *value, struct apiver *out, char *text, size_t textlen)
{
	const char *p = value;

	out->major = SHIM_MIN_MAJOR;
	out->minor = SHIM_MIN_MINOR;
	if (text != NULL && textlen > 0)
		text[0] = '\0';
	while (p != NULL && *p != '\0') {
		const char *end = strchr(p, ','), *svc, *ver, *vend;
		size_t svclen;
		char buf[VERSION_TEXT_MAX];
		int rc;

		vend = end != NULL ? end : p + strlen(p);
		while (p < vend && isspace((unsigned char)*p))
			p++;
		svc = p;
		while (p < vend && !isspace((unsigned char)*p))
			p++;
		svclen = (size_t)(p - svc);
		while (p < vend && isspace((unsigned char)*p))
			p++;
		ver = p;
		while (vend > ver && isspace((unsigned char)vend[-1]))
			vend--;
		p = end != NULL ? end + 1 : NULL;
		if (svclen != strlen(VERSION_SERVICE) ||
		    strncasecmp(svc, VERSION_SERVICE, svclen) != 0)
			continue;
		snprintf(buf, sizeof(buf), "%.*s", (int)(vend - ver), ver);
		if (text != NULL && textlen > 0)
			util_strlcpy(text, buf, textlen);
		if (strcmp(buf, "latest") == 0) {
			out->major = SHIM_MAX_MAJOR;
			out->minor = SHIM_MAX_MINOR;
			return VERSION_OK;
		}
		rc = parse_number(buf, out);
		if (rc == VERSION_OK && !in_range(out))
			rc = VERSION_UNSUPPORTED;
		if (rc != VERSION_OK) {
			out->major = SHIM_MIN_MAJOR;
			out->minor = SHIM_MIN_MINOR;
		}
		return rc;
	}
	return VERSION_OK;
}

int version_negotiate(struct shim_request *r)
{
	char text[VERSION_TEXT_MAX];
	int rc = version_parse_header(req_header(r, VERSION_HEADER), &r->ver, text, sizeof(text));

	r->versioned = true;
	if (rc == VERSION_MALFORMED) {
		fault_reply(r, 400, "API Version String %s is of invalid format. Must be of format "
			    "MajorNum.MinorNum.", text);
		return -1;
	}
	if (rc == VERSION_UNSUPPORTED) {
		fault_reply(r, 406, "Version %s is not supported by the API. Minimum is %d.%d and "
			    "maximum is %d.%d.", text, SHIM_MIN_MAJOR, SHIM_MIN_MINOR,
			    SHIM_MAX_MAJOR, SHIM_MAX_MINOR);
		return -1;
	}
	return 0;
}

/* {"versions": [v3.0]} as cinder.api.versions builds it. */
static json_t *versions_document(const struct shim_request *r)
{
	char base[320], self[340], ver[16], minv[16];

	req_base_url(r, base, sizeof(base));
	snprintf(self, sizeof(self), "%s/v3/", base);
	snprintf(ver, sizeof(ver), "%d.%d", SHIM_MAX_MAJOR, SHIM_MAX_MINOR);
	snprintf(minv, sizeof(minv), "%d.%d", SHIM_MIN_MAJOR, SHIM_MIN_MINOR);
	return json_pack("{s:[{s:s, s:s, s:s, s:s, s:s, s:[{s:s, s:s, s:s}, {s:s, s:s}],"
			 " s:[{s:s, s:s}]}]}",
			 "versions",
			 "id", "v3.0", "status", "CURRENT", "version", ver, "min_version", minv,
			 "updated", SHIM_VERSION_UPDATED,
			 "links",
			 "rel", "describedby", "type", "text/html",
			 "href", "https://docs.openstack.org/",
			 "rel", "self", "href", self,
			 "media-types",
			 "base", "application/json",
			 "type", "application/vnd.openstack.volume+json;version=3");
}

void version_root(struct shim_request *r)
{
	req_reply(r, 300, versions_document(r));
}

void version_v3(struct shim_request *r)
{
	req_reply(r, 200, versions_document(r));
}
