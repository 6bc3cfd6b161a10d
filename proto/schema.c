/*
 * schema.c - the method table: versions and typed arguments of the volume RPC methods.
 */
#include "proto/schema.h"

#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include "common/util.h"
#include "proto/codec.h"
#include "proto/internal.h"

enum arg_kind {
	A_VOLUME,       /* Volume primitive; stores data.id (const char *) */
	A_VOLUME_ID,    /* the volume's id, a uuid string (const char *) */
	A_MAP_OR_NULL,  /* validated only; sent as null */
	A_BOOL,         /* bool */
	A_SIZE,         /* int in 1..INT32_MAX */
	A_RESERVATIONS, /* array of uuid strings: const char *[PROTO_MAX_RESERVATIONS] followed by
			 * its count (unsigned), as in every argument struct that has one */
	A_ERROR,        /* bool, null (false) or a boolean string; sent as a bool */
	A_UUID,         /* uuid string (const char *) */
	A_UUID_OR_NULL, /* uuid string or null (NULL) */
	A_TEXT_OR_NULL, /* string of at most 255 bytes, or null (NULL) */
	A_MODE,         /* "rw" or "ro" (const char *) */
	A_CONNECTOR,    /* map (const struct pv *) */
	A_CONNECTOR_OR_NULL, /* map or null (NULL) */
	A_NEW_VOLUME,   /* a second Volume primitive (struct proto_volume_ref) */
	A_HOST,         /* a scheduler's backend map (struct proto_host) */
	A_POLICY,       /* a retype's migration policy, "never" or "on-demand" (const char *) */
	A_RESERVATIONS_OR_NULL, /* A_RESERVATIONS, or null for none */
	A_SNAPSHOT,     /* a Snapshot primitive (struct proto_snapshot_ref) */
	A_MAP,          /* map (const struct pv *), passed through */
	A_REQUEST_SPEC, /* a scheduler's request spec, map or null: stores its image_id (const
			 * char *, NULL when absent or null); sent as {"image_id": ...} or null */
	A_VALUE,        /* any value, passed through (const struct pv *, NULL for null) */
	A_COUNT_OR_NULL, /* integer in 0..INT32_MAX or null (struct proto_opt_count) */
};

#define NOSTORE SIZE_MAX

struct arg_spec {
	const char *name;
	enum arg_kind kind;
	bool required;
	size_t off;     /* into union proto_args, or NOSTORE */
};

/* The row of methods.h, as this module reads it. */
#define PROTO_ARG(key, kind, required, member) \
	{ key, kind, required, offsetof(union proto_args, member) }
#define PROTO_ARG_IGNORED(key, kind, required) { key, kind, required, NOSTORE }
#define UNPAREN(...) __VA_ARGS__
#define METHOD_ROW(ID, name, send_version, min_minor, kind, group, args, ...) \
	[PROTO_M_##ID] = { { PROTO_M_##ID, #name, send_version, min_minor, kind == PROTO_CALL, \
			     group }, { UNPAREN args } },

static const struct method_row {
	struct proto_method m;
	struct arg_spec args[7]; /* ends at the first unnamed entry */
} methods[PROTO_M_COUNT] = {
	PROTO_METHODS(METHOD_ROW)
};

#undef METHOD_ROW

#define METHOD_LABEL(ID, name, ...) [PROTO_M_##ID] = #name,
const char *const proto_method_labels[PROTO_M_COUNT + 1] = {
	PROTO_METHODS(METHOD_LABEL)
	[PROTO_M_COUNT] = "unknown",
};
#undef METHOD_LABEL
#undef PROTO_ARG
#undef PROTO_ARG_IGNORED

/* A_RESERVATIONS finds the count right after the array. */
#define RESERVATIONS_COUNT_FOLLOWS(s) \
	_Static_assert(offsetof(struct s, nreservations) == \
		       offsetof(struct s, reservations) + sizeof(((struct s *)0)->reservations), \
		       #s ": nreservations must follow reservations")
RESERVATIONS_COUNT_FOLLOWS(proto_args_extend_volume);
RESERVATIONS_COUNT_FOLLOWS(proto_args_extend_volume_completion);
_Static_assert(offsetof(struct proto_args_retype, nreservations) ==
	       offsetof(struct proto_args_retype, reservations) +
	       sizeof(((struct proto_args_retype *)0)->reservations),
	       "retype: nreservations must follow reservations");
_Static_assert(offsetof(struct proto_args_retype, nold_reservations) ==
	       offsetof(struct proto_args_retype, old_reservations) +
	       sizeof(((struct proto_args_retype *)0)->old_reservations),
	       "retype: nold_reservations must follow old_reservations");

static unsigned *reservations_count(char *base, const struct arg_spec *s)
{
	return (unsigned *)(base + s->off + PROTO_MAX_RESERVATIONS * sizeof(const char *));
}

const struct proto_method *proto_method_find(const char *name)
{
	for (int i = 0; name && i < PROTO_M_COUNT; i++)
		if (strcmp(methods[i].m.name, name) == 0)
			return &methods[i].m;
	return NULL;
}

const struct proto_method *proto_method_get(enum proto_method_id id)
{
	return (unsigned)id < PROTO_M_COUNT ? &methods[id].m : NULL;
}

int proto_version_check(const char *version, const struct proto_method *method)
{
	unsigned major, minor;

	if (proto_version_parse(version, &major, &minor) < 0 || major != PROTO_RPC_MAJOR ||
	    minor > PROTO_RPC_MINOR || (method && minor < (unsigned)method->min_minor))
		return PROTO_EVERSION;
	return PROTO_OK;
}

/* cinder.api.validation.parameter_types.boolean, verbatim and in its order. */
const char *const proto_bool_strings_true[] = {
	"True", "TRUE", "true", "1", "ON", "On", "on", "YES", "Yes", "yes", "y", "t", NULL,
};
const char *const proto_bool_strings_false[] = {
	"False", "FALSE", "false", "0", "OFF", "Off", "off", "NO", "No", "no", "n", "f", NULL,
};

static bool listed(const char *s, const char *const *list)
{
	for (; *list != NULL; list++)
		if (strcmp(s, *list) == 0)
			return true;
	return false;
}

int proto_parse_bool_string(const char *s, bool *out)
{
	if (s == NULL)
		return -1;
	if (listed(s, proto_bool_strings_true)) {
		*out = true;
		return 0;
	}
	if (listed(s, proto_bool_strings_false)) {
		*out = false;
		return 0;
	}
	return -1;
}

/* The value under key in map, NULL when absent; -1 when the key occurs twice. */
static int lookup(const struct pv *map, const char *key, const struct pv **v)
{
	*v = NULL;
	for (uint32_t i = 0; i < map->n; i++) {
		if (strcmp(map->u.pairs[i].key.u.s, key) == 0) {
			if (*v)
				return -1;
			*v = &map->u.pairs[i].val;
		}
	}
	return 0;
}

static bool str_is(const struct pv *v, const char *s)
{
	return pv_str(v) && strcmp(v->u.s, s) == 0;
}

/* NULL, or why v is not a Cinder versioned-object primitive called name with a uuid data.id
 * (stored in *id). */
static const char *parse_object(const struct pv *v, const char *name, const char **id)
{
	const struct pv *data;

	if (v->type != PV_MAP)
		return strcmp(name, "Volume") == 0 ? "expected a Volume versioned-object primitive"
						   : "expected a Snapshot versioned-object primitive";
	if (!str_is(pv_get(v, "versioned_object.name"), name))
		return strcmp(name, "Volume") == 0 ? "versioned_object.name must be \"Volume\""
						   : "versioned_object.name must be \"Snapshot\"";
	if (!str_is(pv_get(v, "versioned_object.namespace"), "cinder"))
		return "versioned_object.namespace must be \"cinder\"";
	data = pv_get(v, "versioned_object.data");
	if (!data || data->type != PV_MAP)
		return "versioned_object.data must be a map";
	*id = pv_str(pv_get(data, "id"));
	if (!*id || !util_is_uuid(*id))
		return "versioned_object.data.id must be a uuid";
	return NULL;
}

/* NULL, or why v is not a Cinder Volume primitive with a uuid data.id (stored in *id). */
static const char *parse_volume(const struct pv *v, const char **id)
{
	return parse_object(v, "Volume", id);
}

/* NULL, or why v is not a Cinder Snapshot primitive with a uuid data.id and data.volume_id
 * (stored in ref). */
static const char *parse_snapshot(const struct pv *v, struct proto_snapshot_ref *ref)
{
	const char *why = parse_object(v, "Snapshot", &ref->id);

	if (why != NULL)
		return why;
	ref->volume_id = pv_str(pv_get(pv_get(v, "versioned_object.data"), "volume_id"));
	if (ref->volume_id == NULL || !util_is_uuid(ref->volume_id))
		return "versioned_object.data.volume_id must be a uuid";
	return NULL;
}

/* A string of 1..255 bytes. */
static bool short_text(const struct pv *v)
{
	return pv_str(v) && v->n >= 1 && v->n <= 255;
}

/* NULL, or why v is not a scheduler's backend map (stored in *h). */
static const char *parse_host(const struct pv *v, struct proto_host *h)
{
	const struct pv *host, *cluster, *caps;

	if (v->type != PV_MAP)
		return "expected a map";
	if (lookup(v, "host", &host) < 0 || lookup(v, "cluster_name", &cluster) < 0 ||
	    lookup(v, "capabilities", &caps) < 0)
		return "duplicate key";
	if (!host || !short_text(host))
		return "host: expected a string of 1..255 bytes";
	if (cluster && cluster->type != PV_NULL && !short_text(cluster))
		return "cluster_name: expected a string of 1..255 bytes or null";
	if (caps && caps->type != PV_NULL && caps->type != PV_MAP)
		return "capabilities: expected a map or null";
	h->host = host->u.s;
	h->cluster_name = cluster && cluster->type != PV_NULL ? cluster->u.s : NULL;
	return NULL;
}

/* NULL, or why v does not fit s; stores into base (a union proto_args) on success. */
static const char *parse_arg(const struct arg_spec *s, const struct pv *v, char *base)
{
	void *dst = s->off == NOSTORE ? NULL : base + s->off;
	const char **strs = dst;

	const char *ignored;

	switch (s->kind) {
	case A_VOLUME:
		return parse_volume(v, strs != NULL ? strs : &ignored);
	case A_MAP_OR_NULL:
		return v->type == PV_MAP || v->type == PV_NULL ? NULL : "expected a map or null";
	case A_BOOL:
		if (v->type != PV_BOOL)
			return "expected a boolean";
		if (dst)
			*(bool *)dst = v->u.b;
		return NULL;
	case A_SIZE:
		if (v->type != PV_INT || v->u.i < 1 || v->u.i > INT32_MAX)
			return "expected an integer in 1..2147483647";
		*(int *)dst = (int)v->u.i;
		return NULL;
	case A_RESERVATIONS_OR_NULL:
		if (v->type == PV_NULL)
			return NULL;
		/* fall through */
	case A_RESERVATIONS:
		if (v->type != PV_ARRAY || v->n > PROTO_MAX_RESERVATIONS)
			return "expected an array of at most 16 uuid strings";
		for (uint32_t i = 0; i < v->n; i++)
			if (!(strs[i] = pv_str(&v->u.items[i])) || !util_is_uuid(strs[i]))
				return "expected an array of at most 16 uuid strings";
		*reservations_count(base, s) = v->n;
		return NULL;
	case A_ERROR: {
		bool *b = dst;

		if (v->type == PV_BOOL)
			*b = v->u.b;
		else if (v->type != PV_NULL &&
			 (v->type != PV_STR || proto_parse_bool_string(v->u.s, b) < 0))
			return "expected a boolean, null or a boolean string";
		return NULL;
	}
	case A_VOLUME_ID:
	case A_UUID:
	case A_UUID_OR_NULL:
		if (s->kind == A_UUID_OR_NULL && v->type == PV_NULL)
			return NULL;
		if (!pv_str(v) || !util_is_uuid(v->u.s))
			return s->kind != A_UUID_OR_NULL ? "expected a uuid" : "expected a uuid or null";
		*strs = v->u.s;
		return NULL;
	case A_TEXT_OR_NULL:
		if (v->type == PV_NULL)
			return NULL;
		if (v->type != PV_STR || v->n > 255)
			return "expected a string of at most 255 bytes or null";
		*strs = v->u.s;
		return NULL;
	case A_MODE:
		if (!str_is(v, "rw") && !str_is(v, "ro"))
			return "expected \"rw\" or \"ro\"";
		*strs = v->u.s;
		return NULL;
	case A_CONNECTOR:
	case A_CONNECTOR_OR_NULL:
		if (s->kind == A_CONNECTOR_OR_NULL && v->type == PV_NULL)
			return NULL;
		if (v->type != PV_MAP)
			return s->kind == A_CONNECTOR ? "expected a map" : "expected a map or null";
		*(const struct pv **)dst = v;
		return NULL;
	case A_NEW_VOLUME:
		return parse_volume(v, &((struct proto_volume_ref *)dst)->id);
	case A_HOST:
		return parse_host(v, dst);
	case A_POLICY:
		if (v->type == PV_NULL)
			return NULL;
		if (!str_is(v, "never") && !str_is(v, "on-demand"))
			return "expected \"never\", \"on-demand\" or null";
		*strs = v->u.s;
		return NULL;
	case A_SNAPSHOT:
		return parse_snapshot(v, dst);
	case A_MAP:
		if (v->type != PV_MAP)
			return "expected a map";
		*(const struct pv **)dst = v;
		return NULL;
	case A_REQUEST_SPEC: {
		const struct pv *image;

		if (v->type == PV_NULL)
			return NULL;
		if (v->type != PV_MAP)
			return "expected a map or null";
		/* Cinder's API and interop senders pass a plain dict, but a real scheduler passes
		 * its RequestSpec object on, serialized as a versioned object (docs/cinder.md
		 * §22.1): its fields are then under versioned_object.data. */
		const struct pv *data = pv_get(v, "versioned_object.data");
		if (data != NULL) {
			if (data->type != PV_MAP)
				return "versioned_object.data must be a map";
			v = data;
		}
		if (lookup(v, "image_id", &image) < 0)
			return "image_id: duplicate key";
		if (image == NULL || image->type == PV_NULL)
			return NULL;
		if (!short_text(image))
			return "image_id: expected a string of 1..255 bytes or null";
		*strs = image->u.s;
		return NULL;
	}
	case A_VALUE:
		*(const struct pv **)dst = v->type == PV_NULL ? NULL : v;
		return NULL;
	case A_COUNT_OR_NULL: {
		struct proto_opt_count *c = dst;

		if (v->type == PV_NULL)
			return NULL;
		if (v->type != PV_INT || v->u.i < 0 || v->u.i > INT32_MAX)
			return "expected an integer in 0..2147483647 or null";
		c->set = true;
		c->value = (int)v->u.i;
		return NULL;
	}
	}
	return "unsupported argument kind";
}

/*
 * What the table cannot say: a Volume primitive sent beside volume_id must name the same
 * volume, attach_volume names an instance or a host, and a message that grows a volume carries
 * the quota reservations it commits (Cinder's API always reserves gigabytes for an extend; a
 * failed completion only gives back what it names, so it may name none).
 */
static int check_args(const struct proto_method *method, const struct pv *args,
		      const union proto_args *out, char *detail, size_t detlen)
{
	const char *named = NULL, *vid = NULL;
	const struct pv *vol = NULL;

	for (const struct arg_spec *s = methods[method->id].args; s->name; s++) {
		if (s->kind == A_VOLUME_ID)
			named = *(const char *const *)((const char *)out + s->off);
		else if (s->kind == A_VOLUME)
			vol = pv_get(args, s->name);
	}
	if ((method->id == PROTO_M_EXTEND_VOLUME && out->extend_volume.nreservations == 0) ||
	    (method->id == PROTO_M_EXTEND_VOLUME_COMPLETION &&
	     !out->extend_volume_completion.error &&
	     out->extend_volume_completion.nreservations == 0))
		return proto_detail(PROTO_EARGS, detail, detlen,
				    "args.reservations: a volume grows only with the quota "
				    "reservations it commits");
	if (method->id == PROTO_M_ATTACH_VOLUME && !out->attach_volume.instance_uuid &&
	    !out->attach_volume.host_name)
		return proto_detail(PROTO_EARGS, detail, detlen,
				    "args.instance_uuid: instance_uuid or host_name is required");
	if (named && vol && parse_volume(vol, &vid) == NULL && strcmp(vid, named) != 0)
		return proto_detail(PROTO_EARGS, detail, detlen,
				    "args.volume: names another volume than volume_id");
	return PROTO_OK;
}

int proto_args_parse(const struct proto_method *method, const struct pv *args,
		     union proto_args *out, char *detail, size_t detlen)
{
	const struct arg_spec *s;

	memset(out, 0, sizeof(*out));
	if (!method || (unsigned)method->id >= PROTO_M_COUNT)
		return proto_detail(PROTO_EARGS, detail, detlen, "method: unknown");
	if (!args || args->type != PV_MAP)
		return proto_detail(PROTO_EARGS, detail, detlen, "args: expected a map");
	for (s = methods[method->id].args; s->name; s++) {
		const struct pv *v;
		const char *why;

		if (lookup(args, s->name, &v) < 0)
			return proto_detail(PROTO_EARGS, detail, detlen, "args.%s: duplicate key",
					    s->name);
		if (!v && s->required)
			return proto_detail(PROTO_EARGS, detail, detlen,
					    "args.%s: required argument missing", s->name);
		if (v && (why = parse_arg(s, v, (char *)out)))
			return proto_detail(PROTO_EARGS, detail, detlen, "args.%s: %s", s->name, why);
	}
	return check_args(method, args, out, detail, detlen);
}

/* {"host": ..., "cluster_name": ... or null, "capabilities": {}}, or NULL. */
static struct pv *build_host(struct pv_arena *a, const struct proto_host *h)
{
	struct pv *m;

	if (h->host == NULL || (m = pv_new_map(a, 3)) == NULL)
		return NULL;
	if (pv_map_put(a, m, "host", pv_new_str(a, h->host)) != 0 ||
	    pv_map_put(a, m, "cluster_name", pv_new_str(a, h->cluster_name)) != 0 ||
	    pv_map_put(a, m, "capabilities", pv_new_map(a, 0)) != 0)
		return NULL;
	return m;
}

/* The value of one argument for a sender; NULL when the arena failed or a required value is
 * missing. */
static const struct pv *build_arg(const struct arg_spec *s, const char *base,
			    const struct proto_volume_fields *vol, struct pv_arena *a)
{
	const void *src = s->off == NOSTORE ? NULL : base + s->off;
	/* Read only for the kinds that store a string: other members may be smaller, and not
	 * aligned for a pointer. */
	const char *str = NULL;

	if (src != NULL && (s->kind == A_UUID || s->kind == A_UUID_OR_NULL ||
			    s->kind == A_TEXT_OR_NULL || s->kind == A_MODE ||
			    s->kind == A_POLICY || s->kind == A_REQUEST_SPEC))
		str = *(const char *const *)src;
	switch (s->kind) {
	case A_VOLUME:
		return proto_build_volume(a, vol);
	case A_VOLUME_ID:
		return vol->id != NULL ? pv_new_str(a, vol->id) : NULL;
	case A_MAP_OR_NULL:
		return pv_new_null(a);
	case A_BOOL:
	case A_ERROR:
		return pv_new_bool(a, *(const bool *)src);
	case A_SIZE:
		return pv_new_int(a, *(const int *)src);
	case A_RESERVATIONS:
	case A_RESERVATIONS_OR_NULL: {
		const char *const *ids = src;
		unsigned n = *reservations_count((char *)base, s);
		struct pv *arr = pv_new_array(a, n);

		for (unsigned i = 0; arr != NULL && i < n && i < PROTO_MAX_RESERVATIONS; i++)
			if (pv_array_push(a, arr, pv_new_str(a, ids[i])) != 0)
				return NULL;
		return arr;
	}
	case A_UUID_OR_NULL:
	case A_TEXT_OR_NULL:
		return pv_new_str(a, str);
	case A_UUID:
	case A_MODE:
		return str != NULL ? pv_new_str(a, str) : NULL;
	case A_CONNECTOR:
	case A_CONNECTOR_OR_NULL: {
		const struct pv *c = *(const struct pv *const *)src;

		/* pv_map_put copies the value's top level only: the connector's entries stay
		 * where the caller built them, which must outlive the encoding. */
		if (c == NULL)
			return s->kind == A_CONNECTOR ? NULL : pv_new_null(a);
		return c;
	}
	case A_NEW_VOLUME: {
		const struct proto_volume_fields *f = ((const struct proto_volume_ref *)src)->fields;

		return f != NULL ? proto_build_volume(a, f) : NULL;
	}
	case A_HOST:
		return build_host(a, src);
	case A_POLICY:
		return pv_new_str(a, str != NULL ? str : "never");
	case A_SNAPSHOT: {
		const struct proto_snapshot_fields *f =
			((const struct proto_snapshot_ref *)src)->fields;

		return f != NULL ? proto_build_snapshot(a, f) : NULL;
	}
	case A_MAP:
	case A_VALUE: {
		/* Passed through as A_CONNECTOR is: the entries must outlive the encoding. */
		const struct pv *m = *(const struct pv *const *)src;

		if (m == NULL)
			return s->kind == A_MAP ? NULL : pv_new_null(a);
		return m;
	}
	case A_REQUEST_SPEC: {
		struct pv *m;

		if (str == NULL)
			return pv_new_null(a);
		if ((m = pv_new_map(a, 1)) == NULL || pv_map_put_str(a, m, "image_id", str) != 0)
			return NULL;
		return m;
	}
	case A_COUNT_OR_NULL: {
		const struct proto_opt_count *c = src;

		return c->set ? pv_new_int(a, c->value) : pv_new_null(a);
	}
	}
	return NULL;
}

int proto_args_build(const struct proto_method *method, const union proto_args *in,
		     const struct proto_volume_fields *vol, struct pv_arena *a, struct pv *args)
{
	if (!method || (unsigned)method->id >= PROTO_M_COUNT || !args || args->type != PV_MAP)
		return PROTO_EARGS;
	for (const struct arg_spec *s = methods[method->id].args; s->name; s++) {
		const struct pv *v = build_arg(s, (const char *)in, vol, a);

		if (v == NULL || pv_map_put(a, args, s->name, v) != 0)
			return PROTO_EARGS;
	}
	return a->failed ? PROTO_EARGS : PROTO_OK;
}

#define VOL(member) { #member, offsetof(struct proto_volume_fields, member) }

struct vol_member {
	const char *key;
	size_t off;
};

static const struct vol_member vol_strs[] = {
	VOL(id), VOL(user_id), VOL(project_id), VOL(host),
	VOL(cluster_name), VOL(availability_zone), VOL(status),
	VOL(previous_status), VOL(attach_status), VOL(migration_status),
	VOL(display_name), VOL(display_description), VOL(volume_type_id),
	VOL(created_at), VOL(updated_at), VOL(launched_at),
};

static const struct vol_member vol_bools[] = {
	VOL(bootable), VOL(multiattach), VOL(use_quota),
};

#define NELEM(x) (sizeof(x) / sizeof((x)[0]))

/*
 * Lazily loaded fields (metadata, admin_metadata, volume_attachment, volume_type) are left
 * unset rather than sent empty: a Cinder receiver then loads them from its database, where an
 * empty dict would wrongly tell it there are none.
 */
struct pv *proto_build_volume(struct pv_arena *a, const struct proto_volume_fields *f)
{
	struct pv *data = pv_new_map(a, NELEM(vol_strs) + NELEM(vol_bools) + 3);

	for (size_t i = 0; i < NELEM(vol_strs); i++)
		pv_map_put_str(a, data, vol_strs[i].key,
			       *(const char *const *)((const char *)f + vol_strs[i].off));
	for (size_t i = 0; i < NELEM(vol_bools); i++)
		pv_map_put_bool(a, data, vol_bools[i].key,
				*(const bool *)((const char *)f + vol_bools[i].off));
	pv_map_put_int(a, data, "size", f->size);
	pv_map_put_bool(a, data, "deleted", false);
	pv_map_put_bool(a, data, "shared_targets", true);
	return proto_build_object(a, "Volume", "1.9", data);
}

#define SNAP(member) { #member, offsetof(struct proto_snapshot_fields, member) }

static const struct vol_member snap_strs[] = {
	SNAP(id), SNAP(user_id), SNAP(project_id), SNAP(volume_id), SNAP(status),
	SNAP(progress), SNAP(display_name), SNAP(display_description), SNAP(volume_type_id),
	SNAP(provider_location), SNAP(created_at), SNAP(updated_at),
};

/* The lazily loaded fields (volume, metadata) are left unset, as proto_build_volume leaves
 * a volume's. */
struct pv *proto_build_snapshot(struct pv_arena *a, const struct proto_snapshot_fields *f)
{
	struct pv *data = pv_new_map(a, NELEM(snap_strs) + 3);

	for (size_t i = 0; i < NELEM(snap_strs); i++)
		pv_map_put_str(a, data, snap_strs[i].key,
			       *(const char *const *)((const char *)f + snap_strs[i].off));
	pv_map_put_int(a, data, "volume_size", f->volume_size);
	pv_map_put_bool(a, data, "use_quota", f->use_quota);
	pv_map_put_bool(a, data, "deleted", false);
	return proto_build_object(a, "Snapshot", "1.6", data);
}

struct pv *proto_build_object(struct pv_arena *a, const char *name, const char *version,
			      const struct pv *data)
{
	struct pv *obj = pv_new_map(a, 4);

	pv_map_put_str(a, obj, "versioned_object.name", name);
	pv_map_put_str(a, obj, "versioned_object.namespace", "cinder");
	pv_map_put_str(a, obj, "versioned_object.version", version);
	pv_map_put(a, obj, "versioned_object.data", data);
	return a->failed ? NULL : obj;
}
