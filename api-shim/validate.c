/*
 * validate.c - Cinder-like schema checks and Python renderings of values (see validate.h).
 */
#include "api-shim/validate.h"

#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/volume.h"
#include "api-shim/fault.h"
#include "proto/schema.h"

#define MSG_MAX 1024
#define SIZE_MAX_VALUE 0x7FFFFFFF
#define SIZE_PATTERN "^[0-9]+$"
#define REPR_DEPTH_MAX 8

/* A bounded output buffer: appends stop at the end, and the text then ends with "...". */
struct out {
	char *buf;
	size_t len, cap;
	bool full;
};

static void put(struct out *o, const char *s, size_t n)
{
	if (o->full)
		return;
	if (o->len + n + 4 > o->cap) {
		size_t room = o->cap > o->len + 4 ? o->cap - o->len - 4 : 0;

		memcpy(o->buf + o->len, s, room);
		o->len += room;
		memcpy(o->buf + o->len, "...", 4);
		o->len += 3;
		o->full = true;
		return;
	}
	memcpy(o->buf + o->len, s, n);
	o->len += n;
	o->buf[o->len] = '\0';
}

static void puts_(struct out *o, const char *s)
{
	put(o, s, strlen(s));
}

/* Python's repr() of a str: single quotes unless the text holds ' and no ". */
static void repr_string(struct out *o, const char *s, size_t n)
{
	char q = memchr(s, '\'', n) != NULL && memchr(s, '"', n) == NULL ? '"' : '\'';

	put(o, &q, 1);
	for (size_t i = 0; i < n && !o->full; i++) {
		unsigned char c = (unsigned char)s[i];
		char esc[8];

		if (c == '\\' || c == (unsigned char)q) {
			esc[0] = '\\';
			esc[1] = (char)c;
			put(o, esc, 2);
		} else if (c == '\n') {
			puts_(o, "\\n");
		} else if (c == '\r') {
			puts_(o, "\\r");
		} else if (c == '\t') {
			puts_(o, "\\t");
		} else if (c < 0x20 || c == 0x7f) {
			snprintf(esc, sizeof(esc), "\\x%02x", c);
			puts_(o, esc);
		} else {
			put(o, (const char *)&c, 1);
		}
	}
	put(o, &q, 1);
}

/* Python's repr() of a float: the shortest text that reads back the same value. */
static void repr_real(struct out *o, double d)
{
	char buf[40];

	if (isnan(d)) {
		puts_(o, "nan");
		return;
	}
	if (isinf(d)) {
		puts_(o, d > 0 ? "inf" : "-inf");
		return;
	}
	for (int prec = 1; prec <= 17; prec++) {
		snprintf(buf, sizeof(buf), "%.*g", prec, d);
		if (strtod(buf, NULL) == d)
			break;
	}
	if (strpbrk(buf, ".eni") == NULL)
		strcat(buf, ".0");
	puts_(o, buf);
}

static void repr_value(struct out *o, const json_t *v, int depth)
{
	char buf[32];

	if (depth > REPR_DEPTH_MAX) {
		puts_(o, "...");
		return;
	}
	switch (json_typeof(v)) {
	case JSON_OBJECT: {
		const char *key;
		json_t *val;
		bool first = true;

		puts_(o, "{");
		json_object_foreach((json_t *)v, key, val) {
			if (!first)
				puts_(o, ", ");
			first = false;
			repr_string(o, key, strlen(key));
			puts_(o, ": ");
			repr_value(o, val, depth + 1);
			if (o->full)
				break;
		}
		puts_(o, "}");
		break;
	}
	case JSON_ARRAY:
		puts_(o, "[");
		for (size_t i = 0; i < json_array_size(v) && !o->full; i++) {
			if (i > 0)
				puts_(o, ", ");
			repr_value(o, json_array_get(v, i), depth + 1);
		}
		puts_(o, "]");
		break;
	case JSON_STRING:
		repr_string(o, json_string_value(v), json_string_length(v));
		break;
	case JSON_INTEGER:
		snprintf(buf, sizeof(buf), "%" JSON_INTEGER_FORMAT, json_integer_value(v));
		puts_(o, buf);
		break;
	case JSON_REAL:
		repr_real(o, json_real_value(v));
		break;
	case JSON_TRUE:
		puts_(o, "True");
		break;
	case JSON_FALSE:
		puts_(o, "False");
		break;
	case JSON_NULL:
		puts_(o, "None");
		break;
	}
}

size_t validate_utf8_chars(const char *s)
{
	size_t n = 0;

	for (; *s != '\0'; s++)
		if (((unsigned char)*s & 0xc0) != 0x80)
			n++;
	return n;
}

void validate_pyrepr(const json_t *v, char *outbuf, size_t outlen)
{
	struct out o = { outbuf, 0, outlen, false };

	if (outlen == 0)
		return;
	outbuf[0] = '\0';
	if (outlen < 8) {
		o.full = true;
		return;
	}
	repr_value(&o, v, 0);
}

void validate_pystr(const json_t *v, char *outbuf, size_t outlen)
{
	struct out o = { outbuf, 0, outlen, false };

	if (outlen == 0)
		return;
	outbuf[0] = '\0';
	if (outlen < 8)
		return;
	if (json_is_string(v))
		put(&o, json_string_value(v), json_string_length(v));
	else
		repr_value(&o, v, 0);
}

void validate_fail(struct shim_request *r, const char *field, const json_t *value,
		   const char *fmt, ...)
{
	char msg[MSG_MAX], val[VALIDATE_REPR_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (field == NULL) {
		fault_reply(r, 400, "%s", msg);
		return;
	}
	validate_pystr(value, val, sizeof(val));
	fault_reply(r, 400, "Invalid input for field/attribute %s. Value: %s. %s", field, val, msg);
}

int validate_type_fail(struct shim_request *r, const char *field, const json_t *v,
		     const char *types)
{
	char val[VALIDATE_REPR_MAX];

	validate_pyrepr(v, val, sizeof(val));
	validate_fail(r, field, v, "%s is not of type %s", val, types);
	return -1;
}

int validate_object(struct shim_request *r, const char *field, const json_t *v)
{
	return json_is_object(v) ? 0 : validate_type_fail(r, field, v, "'object'");
}

int validate_required(struct shim_request *r, const char *field, const json_t *obj,
		      const char *const *names)
{
	for (; *names != NULL; names++) {
		if (json_object_get(obj, *names) == NULL) {
			validate_fail(r, field, obj, "'%s' is a required property", *names);
			return -1;
		}
	}
	return 0;
}

static bool listed(const char *key, const char *const *allowed)
{
	for (; *allowed != NULL; allowed++)
		if (strcmp(key, *allowed) == 0)
			return true;
	return false;
}

int validate_no_extra(struct shim_request *r, const char *field, const json_t *obj,
		      const char *const *allowed)
{
	char extras[VALIDATE_REPR_MAX];
	struct out o = { extras, 0, sizeof(extras), false };
	const char *key;
	json_t *val;
	int n = 0;

	extras[0] = '\0';
	json_object_foreach((json_t *)obj, key, val) {
		if (listed(key, allowed))
			continue;
		if (n++ > 0)
			puts_(&o, ", ");
		repr_string(&o, key, strlen(key));
	}
	if (n == 0)
		return 0;
	validate_fail(r, field, obj, "Additional properties are not allowed (%s %s unexpected)",
		      extras, n == 1 ? "was" : "were");
	return -1;
}

int validate_volume_size(struct shim_request *r, const char *field, const json_t *v,
			 bool allow_null, int *out)
{
	char val[VALIDATE_REPR_MAX];
	long long n;

	*out = -1;
	if (allow_null && json_is_null(v))
		return 0;
	if (json_is_integer(v)) {
		n = json_integer_value(v);
	} else if (json_is_string(v)) {
		const char *s = json_string_value(v);
		size_t len = json_string_length(v);

		if (len == 0 || strspn(s, "0123456789") != len) {
			validate_pyrepr(v, val, sizeof(val));
			validate_fail(r, field, v, "%s does not match '%s'", val, SIZE_PATTERN);
			return -1;
		}
		/* Compare as a number, as Cinder's validator does; leading zeros are skipped so
		 * that a string of any length is read without overflow. */
		while (len > 1 && *s == '0') {
			s++;
			len--;
		}
		if (len > 12) {
			validate_fail(r, field, v, "%s is greater than the maximum of %d", s,
				      SIZE_MAX_VALUE);
			return -1;
		}
		n = strtoll(s, NULL, 10);
	} else {
		return validate_type_fail(r, field, v,
				 allow_null ? "'integer', 'string', 'null'" : "'integer', 'string'");
	}
	if (n < 1) {
		validate_fail(r, field, v, "%lld is less than the minimum of 1", n);
		return -1;
	}
	if (n > SIZE_MAX_VALUE) {
		validate_fail(r, field, v, "%lld is greater than the maximum of %d", n,
			      SIZE_MAX_VALUE);
		return -1;
	}
	*out = (int)n;
	return 0;
}

int validate_string_or_null(struct shim_request *r, const char *field, const json_t *v,
			    size_t maxlen)
{
	char val[VALIDATE_REPR_MAX];

	if (json_is_null(v))
		return 0;
	if (!json_is_string(v))
		return validate_type_fail(r, field, v, "'string', 'null'");
	if (maxlen > 0 && validate_utf8_chars(json_string_value(v)) > maxlen) {
		validate_pyrepr(v, val, sizeof(val));
		validate_fail(r, field, v, "%s is too long", val);
		return -1;
	}
	return 0;
}

/* "[True, 'True', ..., False, 'False', ...]": the enum of parameter_types.boolean as
 * jsonschema prints it. */
static void boolean_enum(char *out, size_t outlen)
{
	const char *const *lists[] = { proto_bool_strings_true, proto_bool_strings_false };
	size_t off = 0;

	off += (size_t)snprintf(out, outlen, "[");
	for (int l = 0; l < 2; l++) {
		off += (size_t)snprintf(out + off, outlen - off, "%s%s", l ? ", " : "",
					l ? "False" : "True");
		for (const char *const *s = lists[l]; *s != NULL && off < outlen; s++)
			off += (size_t)snprintf(out + off, outlen - off, ", '%s'", *s);
	}
	if (off < outlen)
		snprintf(out + off, outlen - off, "]");
}

int validate_boolean(struct shim_request *r, const char *field, const json_t *v,
		     bool allow_null, bool *out)
{
	char repr[VALIDATE_REPR_MAX], values[VALIDATE_REPR_MAX];

	*out = false;
	if (v == NULL || (allow_null && json_is_null(v)))
		return 0;
	if (json_is_boolean(v)) {
		*out = json_is_true(v);
		return 0;
	}
	if (json_is_string(v) && proto_parse_bool_string(json_string_value(v), out) == 0)
		return 0;
	validate_pyrepr(v, repr, sizeof(repr));
	if (allow_null) {
		validate_fail(r, field, v, "%s is not valid under any of the given schemas", repr);
		return -1;
	}
	if (!json_is_string(v))
		return validate_type_fail(r, field, v, "'boolean', 'string'");
	boolean_enum(values, sizeof(values));
	validate_fail(r, field, v, "%s is not one of %s", repr, values);
	return -1;
}

/* The characters of s without leading and trailing whitespace (Python's len(s.strip())). */
static size_t stripped_chars(const char *s)
{
	size_t len;

	while (*s != '\0' && strchr(" \t\n\r", *s) != NULL)
		s++;
	len = strlen(s);
	while (len > 0 && strchr(" \t\n\r", s[len - 1]) != NULL)
		len--;
	return validate_utf8_chars(s) - (strlen(s) - len);
}

int validate_name(struct shim_request *r, const char *field, const json_t *v)
{
	size_t n;

	if (validate_string_or_null(r, field, v, 0) != 0)
		return -1;
	if (json_is_null(v))
		return 0;
	n = stripped_chars(json_string_value(v));
	if (n > VALIDATE_NAME_MAX_CHARS) {
		fault_reply(r, 400, "Invalid input received: %s has %zu characters, more than %d.",
			    field, n, VALIDATE_NAME_MAX_CHARS);
		return -1;
	}
	/* The value is stored as sent, so the whitespace counts too: the schema's maxLength
	 * refuses what the varchar(255) column would (a 500 otherwise). */
	return validate_string_or_null(r, field, v, VALIDATE_NAME_MAX_CHARS);
}

int validate_availability_zone(struct shim_request *r, const char *field, const json_t *v)
{
	size_t n;

	if (validate_string_or_null(r, field, v, 0) != 0)
		return -1;
	if (json_is_null(v))
		return 0;
	if (json_string_length(v) == 0) {
		fault_reply(r, 400, "The '%s' can not be None.", field);
		return -1;
	}
	n = stripped_chars(json_string_value(v));
	if (n < 1 || n > VALIDATE_NAME_MAX_CHARS) {
		fault_reply(r, 400, "Invalid input received: %s has %zu characters, %s %d.", field, n,
			    n < 1 ? "less than" : "more than", n < 1 ? 1 : VALIDATE_NAME_MAX_CHARS);
		return -1;
	}
	return 0;
}

int validate_key_values(struct shim_request *r, const char *field, const json_t *obj,
			const char *key_chars, bool null_values)
{
	const char *key;
	json_t *val;

	json_object_foreach((json_t *)obj, key, val) {
		size_t n = strlen(key);
		char repr[VALIDATE_REPR_MAX];

		if (n == 0 || n > VALIDATE_NAME_MAX_CHARS || strspn(key, key_chars) != n) {
			json_t *k = json_string(key);

			validate_pyrepr(k, repr, sizeof(repr));
			json_decref(k);
			validate_fail(r, field, obj, "Additional properties are not allowed (%s "
				      "was unexpected)", repr);
			return -1;
		}
		if (json_is_null(val) && null_values)
			continue;
		if (!json_is_string(val))
			return validate_type_fail(r, key, val, null_values ? "'string', 'null'" :
						  "'string'");
		if (validate_string_or_null(r, key, val, VALIDATE_NAME_MAX_CHARS) != 0)
			return -1;
	}
	return 0;
}

int validate_metadata(struct shim_request *r, const char *field, const json_t *md)
{
	if (md == NULL || json_is_null(md))
		return 0;
	if (!json_is_object(md))
		return validate_type_fail(r, field, md, "'object', 'null'");
	if (validate_key_values(r, field, md, VALIDATE_KEY_CHARS, false) != 0)
		return -1;
	return validate_metadata_count(r, md);
}

int validate_metadata_count(struct shim_request *r, const json_t *md)
{
	if (json_object_size(md) > VALIDATE_METADATA_MAX) {
		fault_reply(r, 400, "Invalid input received: at most %d metadata items are "
			    "supported.", VALIDATE_METADATA_MAX);
		return -1;
	}
	return 0;
}

int validate_metadata_total(struct shim_request *r, const struct vol_kv *have, int nhave,
			    const json_t *md, bool replace)
{
	size_t total = replace ? json_object_size(md) : (size_t)nhave;
	const char *key;
	json_t *val;

	json_object_foreach((json_t *)md, key, val) {
		bool known = false;

		for (int i = 0; !replace && !known && i < nhave; i++)
			known = strcmp(have[i].key, key) == 0;
		total += !replace && !known;
	}
	if (total <= VALIDATE_METADATA_MAX)
		return 0;
	fault_reply(r, 400, "Invalid input received: at most %d metadata items are supported.",
		    VALIDATE_METADATA_MAX);
	return -1;
}
