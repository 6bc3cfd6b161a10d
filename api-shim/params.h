/*
 * params.h - declarative argument specs for request bodies: one spec parses and validates the
 * object under an action's name (or any request object) into typed values, answering like
 * Cinder's JSON-schema validation (validate.h) where Cinder validates by schema.
 *
 * The checks follow jsonschema's order: the object's type, then the spec's precheck, then each
 * argument in the spec's order (its type and format), then required keys, then the postcheck,
 * then no other key. The first failure is answered (400) and parsing stops.
 */
#ifndef VOLMGR_SHIM_PARAMS_H
#define VOLMGR_SHIM_PARAMS_H

#include <stdbool.h>
#include <stddef.h>
#include <jansson.h>
#include "api-shim/request.h"

/* The most arguments one spec has. */
#define PARAMS_MAX 10

/* One validator per kind of argument. */
enum param_kind {
	PARAM_SIZE,           /* parameter_types.volume_size: an integer or a digit string,
			       * 1..2^31-1 -> i */
	PARAM_BOOLEAN,        /* parameter_types.boolean: true/false or one of oslo's strict
			       * boolean strings -> b */
	PARAM_ERROR_FLAG,     /* a boolean, null (false) or a boolean string ("" is false); a
			       * string that is no boolean gets oslo's "is not a boolean" -> b */
	PARAM_CONNECTOR,      /* type [object, string] -> j */
	PARAM_CONNECTOR_OR_NULL, /* type [string, object, null] -> j */
	PARAM_OBJECT_OR_NULL, /* type [object, null] -> j */
	PARAM_NONEMPTY_OBJECT, /* type object, minProperties 1 -> j */
	PARAM_STRING_OR_NULL, /* type [string, null] -> s (NULL for null) */
	PARAM_UUID,           /* parameter_types.uuid -> s */
	PARAM_UUID_OR_NULL,   /* a uuid or null ("not valid under any of the given schemas")
			       * -> s (NULL for null) */
	PARAM_TEXT,           /* a string of min..max characters (or null when nullable:
			       * s NULL) -> s */
	PARAM_ENUM,           /* one of values -> s */
	PARAM_METADATA,       /* parameter_types.extra_specs: an object of strings under keys of
			       * ^[a-zA-Z0-9-_:. /]{1,255}$ (validate_metadata) -> j */
	PARAM_STATUS,         /* a status of os-reset_status: a string or null, one of values
			       * in any case; empty and null mean unset -> s, lower case ("" when
			       * unset) */
};

struct param_arg {
	const char *key;
	enum param_kind kind;
	bool required;
	size_t min, max;              /* PARAM_TEXT: length bounds in characters */
	bool nullable;                /* PARAM_TEXT: type [string, null] */
	const char *const *values;    /* PARAM_ENUM, PARAM_STATUS: valid values, NULL-ended */
	const char *label;            /* PARAM_STATUS: the field's name in the message */
	bool list;                    /* PARAM_STATUS: the message prints a list, else a tuple */
};

/* An object-level rule a spec cannot express: 0, or -1 with a 400 set on r. */
typedef int (*param_check_fn)(struct shim_request *r, const char *name, const json_t *obj);

struct param_spec {
	bool any;                     /* no validation at all (Cinder validates nothing) */
	bool null_ok;                 /* the object may be null (then no argument is present) */
	param_check_fn precheck;      /* after the type check */
	param_check_fn postcheck;     /* after the required keys */
	struct param_arg args[PARAMS_MAX]; /* ends at the first entry without a key */
};

/* Room for a PARAM_STATUS value: longer strings are never valid. */
#define PARAM_STATUS_MAX 64

/* A parsed argument. j is the JSON value as sent (NULL when absent); the typed field of the
 * kind is set when the value is present. Strings point into the parsed body, or into lower
 * for PARAM_STATUS. */
struct param_value {
	const json_t *j;
	int i;
	bool b;
	const char *s;
	char lower[PARAM_STATUS_MAX];
};

/*
 * Parses obj (the value under name) against spec into out[0..PARAMS_MAX), in the order of the
 * spec's arguments. Returns 0, or -1 with a 400 set on r.
 */
__attribute__((warn_unused_result))
int params_parse(struct shim_request *r, const char *name, const json_t *obj,
		 const struct param_spec *spec, struct param_value *out);

/*
 * Cinder's common.get_cluster_host over the values sent (NULL: absent or null): when
 * cluster_allowed (the request's microversion has the cluster parameter), exactly one of
 * cluster and host; else a host that is not empty. *host and *cluster get the one given (the
 * other NULL). Returns 0, or -1 with Cinder's InvalidInput set on r.
 */
__attribute__((warn_unused_result))
int params_cluster_host(struct shim_request *r, const char *h, const char *c,
			bool cluster_allowed, const char **host, const char **cluster);

#endif
