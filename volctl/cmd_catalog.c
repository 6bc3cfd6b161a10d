/*
 * cmd_catalog.c - `volctl catalog`: the volumev3 service and its public and internal
 * endpoints that clients (openstack, cinderclient, the compute service) look up in Keystone's
 * catalog; printed, or registered with --apply.
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/http.h"
#include "common/keystone.h"
#include "common/util.h"
#include "api-shim/shim.h"
#include "volctl/volctl.h"

#define CATALOG_TYPE "volumev3"
#define CATALOG_NAME "cinderv3"
#define CATALOG_DESCRIPTION "Cinder Volume Service V3"
#define CATALOG_PATH "/v3/%(project_id)s"
#define CATALOG_TIMEOUT_S 10
#define CATALOG_PATH_MAX 512

static const char *const catalog_interfaces[] = { "public", "internal" };

struct catalog {
	char url[KS_URL_MAX];        /* the endpoints' URL, "%(project_id)s" included */
	const char *region;
};

/* The endpoint URL: --url or http://<[api] listen>:<[api] port>, then /v3/%(project_id)s. */
static int catalog_url(const struct volctl_args *a, struct catalog *c)
{
	char base[KS_URL_MAX];
	size_t n;

	if (a->url != NULL)
		util_strlcpy(base, a->url, sizeof(base));
	else
		snprintf(base, sizeof(base), "http://%s:%d", api_cfg.listen, api_cfg.port);
	n = strlen(base);
	while (n > 0 && base[n - 1] == '/')
		base[--n] = '\0';
	if ((size_t)snprintf(c->url, sizeof(c->url), "%s%s", base, CATALOG_PATH) >= sizeof(c->url))
		return volctl_usage_error("--url is too long");
	c->region = a->region != NULL ? a->region : "RegionOne";
	return VOLCTL_OK;
}

/* A Keystone call whose answer must have status want; the parsed body, or NULL reported. */
static json_t *catalog_call(struct ks_session *s, const char *method, const char *path,
			    json_t *body, long want)
{
	struct http_response resp = { 0 };
	char *text = body != NULL ? json_dumps(body, JSON_COMPACT) : NULL;
	char err[512];
	json_t *doc = NULL;
	json_error_t jerr;

	if (body != NULL && text == NULL) {
		volctl_fail("out of memory");
		return NULL;
	}
	if (ks_session_call(s, method, path, text, &resp, err, sizeof(err)) != KS_OK)
		volctl_fail("keystone: %s", err);
	else if (resp.status != want)
		volctl_fail("keystone: %s %s answered HTTP %ld: %.300s", method, path, resp.status,
			    resp.body != NULL ? resp.body : "");
	else if ((doc = json_loads(resp.body != NULL ? resp.body : "", 0, &jerr)) == NULL)
		volctl_fail("keystone: %s %s: the answer is not JSON", method, path);
	free(text);
	http_response_free(&resp);
	return doc;
}

/* The id of the volumev3 service, created when there is none. Returns 0, or -1 reported. */
static int catalog_service(struct ks_session *s, char *id, size_t idlen)
{
	json_t *doc = catalog_call(s, "GET", "/services?type=" CATALOG_TYPE, NULL, 200);
	json_t *svc = json_array_get(json_object_get(doc, "services"), 0), *body;
	const char *what = "unchanged";

	if (doc == NULL)
		return -1;
	if (svc == NULL) {
		json_decref(doc);
		body = json_pack("{s:{s:s, s:s, s:s, s:b}}", "service", "type", CATALOG_TYPE,
				 "name", CATALOG_NAME, "description", CATALOG_DESCRIPTION,
				 "enabled", 1);
		doc = catalog_call(s, "POST", "/services", body, 201);
		json_decref(body);
		if (doc == NULL)
			return -1;
		svc = json_object_get(doc, "service");
		what = "created";
	}
	util_strlcpy(id, json_string_value(json_object_get(svc, "id")) != NULL ?
		     json_string_value(json_object_get(svc, "id")) : "", idlen);
	json_decref(doc);
	if (id[0] == '\0') {
		volctl_fail("keystone: a service without an id");
		return -1;
	}
	printf("service %s %s %s\n", CATALOG_TYPE, id, what);
	return 0;
}

/* Makes the endpoint of one interface say c->url: created, updated or left alone. */
static int catalog_endpoint(struct ks_session *s, const char *service_id, const char *interface,
			    const struct catalog *c)
{
	char path[CATALOG_PATH_MAX];
	json_t *doc, *ep, *found = NULL, *body = NULL, *done = NULL;
	const char *what = "unchanged";
	size_t i;

	snprintf(path, sizeof(path), "/endpoints?service_id=%s&interface=%s", service_id,
		 interface);
	doc = catalog_call(s, "GET", path, NULL, 200);
	if (doc == NULL)
		return -1;
	json_array_foreach(json_object_get(doc, "endpoints"), i, ep) {
		const char *region = json_string_value(json_object_get(ep, "region_id"));

		if (region != NULL && strcmp(region, c->region) == 0)
			found = ep;
	}
	if (found == NULL) {
		body = json_pack("{s:{s:s, s:s, s:s, s:s}}", "endpoint", "service_id", service_id,
				 "interface", interface, "url", c->url, "region_id", c->region);
		done = catalog_call(s, "POST", "/endpoints", body, 201);
		what = "created";
	} else if (strcmp(json_string_value(json_object_get(found, "url")) != NULL ?
			  json_string_value(json_object_get(found, "url")) : "", c->url) != 0) {
		snprintf(path, sizeof(path), "/endpoints/%s",
			 json_string_value(json_object_get(found, "id")));
		body = json_pack("{s:{s:s}}", "endpoint", "url", c->url);
		done = catalog_call(s, "PATCH", path, body, 200);
		what = "updated";
	} else {
		done = json_incref(found);
	}
	json_decref(body);
	json_decref(doc);
	if (done == NULL)
		return -1;
	json_decref(done);
	printf("endpoint %s %s %s %s\n", interface, c->url, c->region, what);
	return 0;
}

/* keystoneauth's environment variables, as the openstack command reads them. */
static const char *env_or(const char *name, const char *def)
{
	const char *v = getenv(name);

	return v != NULL && v[0] != '\0' ? v : def;
}

static int run_catalog(struct volctl_args *a)
{
	struct ks_creds creds = {
		env_or("OS_AUTH_URL", NULL), env_or("OS_USERNAME", NULL),
		env_or("OS_PASSWORD", NULL), env_or("OS_PROJECT_NAME", NULL),
		env_or("OS_USER_DOMAIN_NAME", "Default"), env_or("OS_PROJECT_DOMAIN_NAME", "Default"),
		CATALOG_TIMEOUT_S,
	};
	struct ks_session *s;
	struct catalog c;
	char service_id[KS_ID_MAX];
	int rc = catalog_url(a, &c);

	if (rc != VOLCTL_OK)
		return rc;
	if (!a->apply) {
		printf("service %s %s\n", CATALOG_TYPE, CATALOG_NAME);
		for (size_t i = 0; i < sizeof(catalog_interfaces) / sizeof(*catalog_interfaces); i++)
			printf("endpoint %s %s %s\n", catalog_interfaces[i], c.url, c.region);
		return VOLCTL_OK;
	}
	if (creds.auth_url == NULL || creds.username == NULL || creds.password == NULL ||
	    creds.project_name == NULL)
		return volctl_fail("--apply needs an admin's OS_AUTH_URL, OS_USERNAME, OS_PASSWORD "
				   "and OS_PROJECT_NAME in the environment");
	if (http_global_init() != 0)
		return volctl_fail("cannot start the HTTP client");
	s = ks_session_new(&creds);
	rc = s == NULL ? volctl_fail("out of memory") :
	     catalog_service(s, service_id, sizeof(service_id)) != 0 ? VOLCTL_FAIL : VOLCTL_OK;
	for (size_t i = 0; rc == VOLCTL_OK &&
	     i < sizeof(catalog_interfaces) / sizeof(*catalog_interfaces); i++)
		if (catalog_endpoint(s, service_id, catalog_interfaces[i], &c) != 0)
			rc = VOLCTL_FAIL;
	ks_session_free(s);
	http_global_cleanup();
	return rc;
}

static const struct volctl_opt opts_catalog[] = {
	VOLCTL_OPT_STR("--url", url),
	VOLCTL_OPT_STR("--region", region),
	VOLCTL_OPT_FLAG("--apply", apply),
	VOLCTL_OPT_END,
};

const struct volctl_cmd volctl_cmds_catalog[] = {
	{ "catalog", "[--url http://HOST:8776] [--region RegionOne] [--apply]",
	  "Prints the volumev3 service and its public and internal endpoints,\n"
	  "URL/v3/%(project_id)s (URL: --url, default http://<[api] listen>:<[api] port>),\n"
	  "that clients look up in Keystone's catalog. With --apply, registers them with\n"
	  "the admin credentials of OS_AUTH_URL, OS_USERNAME, OS_PASSWORD, OS_PROJECT_NAME\n"
	  "(OS_USER_DOMAIN_NAME, OS_PROJECT_DOMAIN_NAME: Default): creates what is missing,\n"
	  "corrects a URL that differs; safe to run again.",
	  opts_catalog, 0, 0, NULL, run_catalog },
	{ NULL, NULL, NULL, NULL, 0, 0, NULL, NULL },
};
