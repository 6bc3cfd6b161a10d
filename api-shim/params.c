/*
 * params.c - argument specs: one validator per kind of argument (see params.h).
 */
#include "api-shim/params.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include "common/util.h"
#include "proto/schema.h"
#include "api-shim/fault.h"
#include "api-shim/validate.h"

/* "<repr> is not one of <values>" for a value outside an enum. */
static int not_one_of(struct shim_request *r, const char *field, const json_t *v,
		      const char *values)
{
	char repr[VALIDATE_REPR_MAX];

	validate_pyrepr(v, repr, sizeof(repr));
	validate_fail(r, field, v, "%s is not one of %s", repr, values);
	return -1;
}

/* values as a Python list ("['rw', 'ro']") or tuple. */
static void python_sequence(const char *const *values, bool list, char *out, size_t outlen)
{
	size_t off = 0;

	off += (size_t)snprintf(out, outlen, "%c", list ? '[' : '(');
	for (const char *const *v = values; *v != NULL && off < outlen; v++)
		off += (size_t)snprintf(out + off, outlen - off, "%s'%s'", v == values ? "" : ", ",
					*v);
	if (off < outlen)
		snprintf(out + off, outlen - off, "%c", list ? ']' : ')');
}

static bool listed(const char *s, const char *const *values)
{
	for (; *values != NULL; values++)
		if (strcmp(s, *values) == 0)
			return true;
	return false;
}

static int parse_uuid(struct shim_request *r, const char *field, const json_t *v,
		      struct param_value *out)
{
	char repr[VALIDATE_REPR_MAX];

	if (!json_is_string(v))
		return validate_type_fail(r, field, v, "'string'");
	if (!util_is_uuid(json_string_value(v))) {
		validate_pyrepr(v, repr, sizeof(repr));
		validate_fail(r, field, v, "%s is not a 'uuid'", repr);
		return -1;
	}
	out->s = json_string_value(v);
	return 0;
}

static int parse_text(struct shim_request *r, const struct param_arg *arg, const json_t *v,
		      struct param_value *out)
{
	char repr[VALIDATE_REPR_MAX];
	size_t n;

	if (arg->nullable && json_is_null(v))
		return 0;
	if (!json_is_string(v))
		return validate_type_fail(r, arg->key, v, arg->nullable ? "'string', 'null'" :
					  "'string'");
	n = validate_utf8_chars(json_string_value(v));
	if (n < arg->min || n > arg->max) {
		validate_pyrepr(v, repr, sizeof(repr));
		validate_fail(r, arg->key, v, "%s is too %s", repr, n < arg->min ? "short" : "long");
		return -1;
	}
	out->s = json_string_value(v);
	return 0;
}

/* os-reset_status's own message (not jsonschema's): "Volume status: X is invalid, valid
 * statuses are: ('creating', ...)." */
static int parse_status(struct shim_request *r, const struct param_arg *arg, const json_t *v,
			struct param_value *out)
{
	const char *s = json_string_value(v);
	char seq[1024];
	size_t i;

	if (!json_is_string(v) && !json_is_null(v))
		return validate_type_fail(r, arg->key, v, "'string', 'null'");
	out->s = out->lower;
	if (s == NULL)
		return 0;
	for (i = 0; s[i] != '\0' && i + 1 < sizeof(out->lower); i++)
		out->lower[i] = (char)tolower((unsigned char)s[i]);
	out->lower[i] = '\0';
	if (s[0] == '\0' || (s[i] == '\0' && listed(out->lower, arg->values)))
		return 0;
	python_sequence(arg->values, arg->list, seq, sizeof(seq));
	fault_reply(r, 400, "%s: %s is invalid, valid statuses are: %s.", arg->label, s, seq);
	return -1;
}

/* Parses the present value v of arg into out. Returns 0 or -1 with a 400 set. */
static int parse_arg(struct shim_request *r, const struct param_arg *arg, const json_t *v,
		     struct param_value *out)
{
	char text[VALIDATE_REPR_MAX];
	const char *s = json_string_value(v);

	switch (arg->kind) {
	case PARAM_SIZE:
		return validate_volume_size(r, arg->key, v, false, &out->i);
	case PARAM_BOOLEAN:
		return validate_boolean(r, arg->key, v, false, &out->b);
	case PARAM_ERROR_FLAG:
		if (json_is_null(v))
			return 0;
		if (json_is_boolean(v)) {
			out->b = json_is_true(v);
			return 0;
		}
		if (!json_is_string(v))
			return validate_type_fail(r, arg->key, v, "'string', 'null', 'boolean'");
		if (s[0] == '\0' || proto_parse_bool_string(s, &out->b) == 0)
			return 0;
		fault_reply(r, 400, "Value '%s' for '%s' is not a boolean.", s, arg->key);
		return -1;
	case PARAM_CONNECTOR:
		if (json_is_object(v) || json_is_string(v))
			return 0;
		return validate_type_fail(r, arg->key, v, "'object', 'string'");
	case PARAM_CONNECTOR_OR_NULL:
		if (json_is_object(v) || json_is_string(v) || json_is_null(v))
			return 0;
		return validate_type_fail(r, arg->key, v, "'string', 'object', 'null'");
	case PARAM_OBJECT_OR_NULL:
		if (json_is_object(v) || json_is_null(v))
			return 0;
		return validate_type_fail(r, arg->key, v, "'object', 'null'");
	case PARAM_NONEMPTY_OBJECT:
		if (!json_is_object(v))
			return validate_type_fail(r, arg->key, v, "'object'");
		if (json_object_size(v) > 0)
			return 0;
		validate_fail(r, arg->key, v, "{} does not have enough properties");
		return -1;
	case PARAM_STRING_OR_NULL:
		if (json_is_string(v) || json_is_null(v)) {
			out->s = s;
			return 0;
		}
		return validate_type_fail(r, arg->key, v, "'string', 'null'");
	case PARAM_UUID:
		return parse_uuid(r, arg->key, v, out);
	case PARAM_UUID_OR_NULL:
		if (json_is_null(v) || (json_is_string(v) && util_is_uuid(s))) {
			out->s = s;
			return 0;
		}
		validate_fail(r, arg->key, v, "%s is not valid under any of the given schemas",
			      json_is_string(v) ? "uuid" : "value");
		return -1;
	case PARAM_TEXT:
		return parse_text(r, arg, v, out);
	case PARAM_ENUM:
		if (s != NULL && listed(s, arg->values)) {
			out->s = s;
			return 0;
		}
		python_sequence(arg->values, true, text, sizeof(text));
		return not_one_of(r, arg->key, v, text);
	case PARAM_METADATA:
		if (!json_is_object(v))
			return validate_type_fail(r, arg->key, v, "'object'");
		return validate_metadata(r, arg->key, v);
	case PARAM_STATUS:
		return parse_status(r, arg, v, out);
	}
	fault_reply(r, 500, "%s", FAULT_MSG_INTERNAL);
	return -1;
}

int params_parse(struct shim_request *r, const char *name, const json_t *obj,
		 const struct param_spec *spec, struct param_value *out)
{
	const char *keys[PARAMS_MAX + 1], *required[PARAMS_MAX + 1];
	int n = 0, nreq = 0;

	memset(out, 0, sizeof(*out) * PARAMS_MAX);
	for (const struct param_arg *arg = spec->args; n < PARAMS_MAX && arg->key; arg++) {
		keys[n++] = arg->key;
		if (arg->required)
			required[nreq++] = arg->key;
	}
	keys[n] = required[nreq] = NULL;
	if (spec->any || (spec->null_ok && json_is_null(obj)))
		return 0;
	if (!json_is_object(obj))
		return validate_type_fail(r, name, obj, spec->null_ok ? "'object', 'null'" :
					  "'object'");
	if (spec->precheck != NULL && spec->precheck(r, name, obj) != 0)
		return -1;
	for (int i = 0; i < n; i++) {
		out[i].j = json_object_get(obj, keys[i]);
		if (out[i].j != NULL && parse_arg(r, &spec->args[i], out[i].j, &out[i]) != 0)
			return -1;
		if (spec->args[i].kind == PARAM_STATUS && out[i].s == NULL)
			out[i].s = "";
	}
	if (validate_required(r, name, obj, required) != 0)
		return -1;
	if (spec->postcheck != NULL && spec->postcheck(r, name, obj) != 0)
		return -1;
	return validate_no_extra(r, name, obj, keys);
}

int params_cluster_host(struct shim_request *r, const char *h, const char *c,
			bool cluster_allowed, const char **host, const char **cluster)
{
	bool has_host = h != NULL && h[0] != '\0';
	bool has_cluster = cluster_allowed && c != NULL && c[0] != '\0';

	*host = has_host ? h : NULL;
	*cluster = has_cluster ? c : NULL;
	if (has_host != has_cluster)
		return 0;
	fault_reply(r, 400, "Invalid input received: %s", cluster_allowed ?
		    "One and only one of cluster and host must be set." : "Host field is missing.");
	return -1;
}
