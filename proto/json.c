/*
 * json.c - value tree <-> jansson.
 */
#include "proto/json.h"

#include <string.h>

#include "proto/codec.h"
#include "proto/internal.h"

/* The proto status of a jansson parse error. */
static int json_status(const json_error_t *err, char *detail, size_t detlen)
{
	int rc;

	switch (json_error_code(err)) {
	case json_error_end_of_input_expected:
		rc = PROTO_ETRAILING;
		break;
	case json_error_invalid_utf8:
	case json_error_null_character:
	case json_error_null_byte_in_key:
		rc = PROTO_ESTRING;
		break;
	case json_error_numeric_overflow:
		rc = PROTO_ERANGE;
		break;
	case json_error_duplicate_key:
		rc = PROTO_EENVELOPE;
		break;
	case json_error_out_of_memory:
		rc = PROTO_ENOMEM;
		break;
	default:
		rc = PROTO_EPARSE;
		break;
	}
	return proto_detail(rc, detail, detlen, "offset %d: %s", err->position, err->text);
}

int proto_json_parse(const char *text, size_t len, const struct proto_limits *lim, size_t flags,
		     json_t **out, size_t *nodes, char *detail, size_t detlen)
{
	json_error_t err;
	size_t counted;
	int rc;

	*out = NULL;
	if (len > lim->max_bytes)
		return proto_detail(PROTO_ETOOBIG, detail, detlen, "body of %zu bytes exceeds %zu",
				    len, lim->max_bytes);
	rc = proto_json_prescan(text, len, lim, &counted, detail, detlen);
	if (rc != PROTO_OK)
		return rc;
	if (nodes != NULL)
		*nodes = counted;
	*out = json_loadb(text, len, flags, &err);
	return *out != NULL ? PROTO_OK : json_status(&err, detail, detlen);
}

json_t *proto_pv_to_json(const struct pv *v)
{
	json_t *j = NULL;

	switch (v->type) {
	case PV_NULL:
		return json_null();
	case PV_BOOL:
		return json_boolean(v->u.b);
	case PV_INT:
		return json_integer(v->u.i);
	case PV_FLOAT:
		return json_real(v->u.f);
	case PV_STR:
		return json_stringn(v->u.s, v->n);
	case PV_ARRAY:
		j = json_array();
		for (uint32_t i = 0; j && i < v->n; i++) {
			if (json_array_append_new(j, proto_pv_to_json(&v->u.items[i])) < 0) {
				json_decref(j);
				return NULL;
			}
		}
		return j;
	case PV_MAP:
		j = json_object();
		for (uint32_t i = 0; j && i < v->n; i++) {
			const struct pv_pair *p = &v->u.pairs[i];

			if (json_object_setn_new(j, p->key.u.s, p->key.n,
						 proto_pv_to_json(&p->val)) < 0) {
				json_decref(j);
				return NULL;
			}
		}
		return j;
	}
	return NULL;
}

struct pv *proto_pv_from_json(struct pv_arena *a, const json_t *j)
{
	struct pv *v = NULL;

	switch (json_typeof(j)) {
	case JSON_NULL:
		return pv_new_null(a);
	case JSON_TRUE:
	case JSON_FALSE:
		return pv_new_bool(a, json_is_true(j));
	case JSON_INTEGER:
		return pv_new_int(a, json_integer_value(j));
	case JSON_REAL:
		if (!(v = pv_new_null(a)))
			return NULL;
		*v = (struct pv){ .type = PV_FLOAT, .u.f = json_real_value(j) };
		return v;
	case JSON_STRING:
		/* jansson can carry embedded NULs (JSON_ALLOW_NUL); the tree cannot. */
		if (strlen(json_string_value(j)) != json_string_length(j))
			return NULL;
		return pv_new_str(a, json_string_value(j));
	case JSON_ARRAY:
		if (json_array_size(j) > UINT32_MAX || !(v = pv_new_array(a, (uint32_t)json_array_size(j))))
			return NULL;
		for (size_t i = 0; i < json_array_size(j); i++)
			if (pv_array_push(a, v, proto_pv_from_json(a, json_array_get(j, i))) < 0)
				return NULL;
		return v;
	case JSON_OBJECT: {
		const char *key;
		size_t klen;
		json_t *val;

		if (json_object_size(j) > UINT32_MAX || !(v = pv_new_map(a, (uint32_t)json_object_size(j))))
			return NULL;
		json_object_keylen_foreach((json_t *)j, key, klen, val) {
			if (memchr(key, '\0', klen) ||
			    pv_map_put(a, v, key, proto_pv_from_json(a, val)) < 0)
				return NULL;
		}
		return v;
	}
	}
	return NULL;
}
