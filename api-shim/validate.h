/*
 * validate.h - request body checks that answer like Cinder's JSON-schema validation
 * (cinder.api.validation.validators on top of jsonschema's Draft 4 messages).
 *
 * A failure is a 400 whose message is
 *   "Invalid input for field/attribute <field>. Value: <value>. <jsonschema message>"
 * where <field> is the last element of the failing path, <value> Python's str() of the failing
 * instance and the message uses Python's repr(), e.g.
 *   "Invalid input for field/attribute new_size. Value: fake. 'fake' does not match '^[0-9]+$'"
 * With an empty path (field NULL) the message stands alone. The checkers follow jsonschema's
 * order: a schema's keywords in order (type, then properties, then required, then
 * additionalProperties), reporting only the first error.
 *
 * Every checker returns 0, or -1 after setting the 400 fault on r.
 */
#ifndef VOLMGR_SHIM_VALIDATE_H
#define VOLMGR_SHIM_VALIDATE_H

#include <stdbool.h>
#include <stddef.h>
#include <jansson.h>
#include "api-shim/request.h"

struct vol_kv;

/* Longest rendering of a value in a message; longer ones end with "...". */
#define VALIDATE_REPR_MAX 512

/* The number of characters (code points) of a UTF-8 string, as jsonschema's maxLength and
 * PostgreSQL's varchar(n) count them. */
size_t validate_utf8_chars(const char *s);

/* Python's repr() / str() of a JSON value (dict, list, 'str', True, None, 1.5, ...). */
void validate_pyrepr(const json_t *v, char *out, size_t outlen);
void validate_pystr(const json_t *v, char *out, size_t outlen);

/* Sets the 400 fault described above; fmt is the jsonschema message. */
void validate_fail(struct shim_request *r, const char *field, const json_t *value,
		   const char *fmt, ...) __attribute__((format(printf, 4, 5)));

/* Sets "<repr> is not of type <types>" (types as jsonschema lists them: "'string', 'null'")
 * and returns -1. */
int validate_type_fail(struct shim_request *r, const char *field, const json_t *v,
		       const char *types);

/* type: object. */
__attribute__((warn_unused_result))
int validate_object(struct shim_request *r, const char *field, const json_t *v);

/* required: each name in the NULL-terminated list must be a key of obj. */
__attribute__((warn_unused_result))
int validate_required(struct shim_request *r, const char *field, const json_t *obj,
		      const char *const *names);

/* additionalProperties: false, with the NULL-terminated list of allowed keys. */
__attribute__((warn_unused_result))
int validate_no_extra(struct shim_request *r, const char *field, const json_t *obj,
		      const char *const *allowed);

/*
 * Cinder's parameter_types.volume_size (and volume_size_allows_null when allow_null):
 * integer or string matching ^[0-9]+$, 1 <= n <= 0x7FFFFFFF (strings are compared as numbers,
 * as Cinder's validator does). *out gets the size, or -1 for null.
 */
__attribute__((warn_unused_result))
int validate_volume_size(struct shim_request *r, const char *field, const json_t *v,
			 bool allow_null, int *out);

/* type: [string, null] (with maxLength when maxlen > 0). */
__attribute__((warn_unused_result))
int validate_string_or_null(struct shim_request *r, const char *field, const json_t *v,
			    size_t maxlen);

/* The longest name, description, availability zone, metadata key or value (varchar(255)). */
#define VALIDATE_NAME_MAX_CHARS 255
/* Metadata items one request may set (volmgr's bound; Cinder has none). */
#define VALIDATE_METADATA_MAX 64

/*
 * A boolean argument as Cinder's parameter_types.boolean accepts it: true/false, or a string
 * of Cinder's boolean words (proto_parse_bool_string: "True", "yes", "0", ...); anything else
 * gets jsonschema's type or enum message. With allow_null, parameter_types.optional_boolean
 * (oneOf boolean, null): null is false, and anything else "is not valid under any of the
 * given schemas". *out gets the value; an absent value (v NULL) gives false.
 */
__attribute__((warn_unused_result))
int validate_boolean(struct shim_request *r, const char *field, const json_t *v,
		     bool allow_null, bool *out);

/* Cinder's name and description formats: a string or null, at most 255 characters once
 * stripped of leading and trailing whitespace, and at most 255 as sent (maxLength). */
__attribute__((warn_unused_result))
int validate_name(struct shim_request *r, const char *field, const json_t *v);

/* availability_zone: null, or a string of 1..255 characters once stripped. */
__attribute__((warn_unused_result))
int validate_availability_zone(struct shim_request *r, const char *field, const json_t *v);

/* The characters of a metadata key or an extra spec key (parameter_types.extra_specs), and
 * of an extra spec key of the types_extra_specs API (extra_specs_with_no_spaces_key). */
#define VALIDATE_KEY_CHARS \
	"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_:. /"
#define VALIDATE_SPEC_KEY_CHARS \
	"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_:."

/*
 * The members of obj (an object) as Cinder's key/value schemas check them: each key 1..255
 * characters of key_chars (else additionalProperties' message on field), each value a string
 * of at most 255 characters, or null when null_values.
 */
__attribute__((warn_unused_result))
int validate_key_values(struct shim_request *r, const char *field, const json_t *obj,
			const char *key_chars, bool null_values);

/*
 * parameter_types.metadata_allows_null: absent (md NULL), null, or an object whose keys match
 * ^[a-zA-Z0-9-_:. /]{1,255}$ and whose values are strings of at most 255 characters; volmgr
 * also bounds the count (VALIDATE_METADATA_MAX).
 */
__attribute__((warn_unused_result))
int validate_metadata(struct shim_request *r, const char *field, const json_t *md);

/* Whether the object md holds at most VALIDATE_METADATA_MAX pairs, volmgr's bound on a
 * metadata write. Returns 0, or -1 with a 400 set. */
__attribute__((warn_unused_result))
int validate_metadata_count(struct shim_request *r, const json_t *md);

/*
 * Whether writing md (an object that passed validate_metadata) over the nhave pairs have
 * keeps the total within VALIDATE_METADATA_MAX: md's keys alone when replace, else have's
 * and md's new ones. The readers show at most that many, so a write past it would lose pairs
 * silently. Returns 0, or -1 with Cinder's 400 body set.
 */
__attribute__((warn_unused_result))
int validate_metadata_total(struct shim_request *r, const struct vol_kv *have, int nhave,
			    const json_t *md, bool replace);

#endif
