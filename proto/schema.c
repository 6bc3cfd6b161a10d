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
	A_MAP_OR_NULL,  /* validated only */
	A_BOOL,         /* bool */
	A_SIZE,         /* int in 1..INT32_MAX */
	A_RESERVATIONS, /* array of uuid strings: pointers at off, count (unsigned) at off_n */
	A_ERROR,        /* bool, null (false) or a boolean string */
	A_UUID,         /* uuid string (const char *) */
	A_UUID_OR_NULL, /* uuid string or null (NULL) */
	A_TEXT_OR_NULL, /* string of at most 255 bytes, or null (NULL) */
	A_MODE,         /* "rw" or "ro" (const char *) */
	A_CONNECTOR,    /* map (const struct pv *) */
	A_CONNECTOR_OR_NULL, /* map or null (NULL) */
};

#define OFF(member) offsetof(union proto_args, member)
#define NOSTORE SIZE_MAX

struct arg_spec {
	const char *name;
	enum arg_kind kind;
	bool required;
	size_t off;
	size_t off_n;
};

/* Oslo lets a sender add optional arguments, so arguments not listed here are ignored. */
static const struct method_row {
	struct proto_method m;
	struct arg_spec args[7]; /* ends at the first unnamed entry */
} methods[PROTO_M_COUNT] = {
	[PROTO_M_CREATE_VOLUME] = {
		{ PROTO_M_CREATE_VOLUME, "create_volume", "3.0", 0, false }, {
			{ "volume", A_VOLUME, true, OFF(create_volume.volume_id), 0 },
			{ "request_spec", A_MAP_OR_NULL, false, NOSTORE, 0 },
			{ "filter_properties", A_MAP_OR_NULL, false, NOSTORE, 0 },
			{ "allow_reschedule", A_BOOL, false, NOSTORE, 0 },
		} },
	[PROTO_M_DELETE_VOLUME] = {
		{ PROTO_M_DELETE_VOLUME, "delete_volume", "3.0", 0, false }, {
			{ "volume", A_VOLUME, true, OFF(delete_volume.volume_id), 0 },
			{ "unmanage_only", A_BOOL, false, OFF(delete_volume.unmanage_only), 0 },
			{ "cascade", A_BOOL, false, OFF(delete_volume.cascade), 0 },
		} },
	[PROTO_M_EXTEND_VOLUME] = {
		{ PROTO_M_EXTEND_VOLUME, "extend_volume", "3.0", 0, false }, {
			{ "volume", A_VOLUME, true, OFF(extend_volume.volume_id), 0 },
			{ "new_size", A_SIZE, true, OFF(extend_volume.new_size), 0 },
			{ "reservations", A_RESERVATIONS, true, OFF(extend_volume.reservations),
			  OFF(extend_volume.nreservations) },
		} },
	[PROTO_M_EXTEND_VOLUME_COMPLETION] = {
		{ PROTO_M_EXTEND_VOLUME_COMPLETION, "extend_volume_completion", "3.19", 19, false }, {
			{ "volume", A_VOLUME, true, OFF(extend_completion.volume_id), 0 },
			{ "new_size", A_SIZE, true, OFF(extend_completion.new_size), 0 },
			{ "reservations", A_RESERVATIONS, true, OFF(extend_completion.reservations),
			  OFF(extend_completion.nreservations) },
			{ "error", A_ERROR, true, OFF(extend_completion.error), 0 },
		} },
	[PROTO_M_INITIALIZE_CONNECTION] = {
		{ PROTO_M_INITIALIZE_CONNECTION, "initialize_connection", "3.0", 0, true }, {
			{ "volume", A_VOLUME, true, OFF(initialize_connection.volume_id), 0 },
			{ "connector", A_CONNECTOR, true, OFF(initialize_connection.connector), 0 },
		} },
	[PROTO_M_TERMINATE_CONNECTION] = {
		{ PROTO_M_TERMINATE_CONNECTION, "terminate_connection", "3.0", 0, true }, {
			{ "volume_id", A_UUID, true, OFF(terminate_connection.volume_id), 0 },
			{ "connector", A_CONNECTOR_OR_NULL, true,
			  OFF(terminate_connection.connector), 0 },
			{ "force", A_BOOL, false, OFF(terminate_connection.force), 0 },
		} },
	[PROTO_M_ATTACH_VOLUME] = {
		{ PROTO_M_ATTACH_VOLUME, "attach_volume", "3.3", 0, true }, {
			{ "volume_id", A_UUID, true, OFF(attach_volume.volume_id), 0 },
			{ "volume", A_VOLUME, false, NOSTORE, 0 },
			{ "instance_uuid", A_UUID_OR_NULL, true, OFF(attach_volume.instance_uuid), 0 },
			{ "host_name", A_TEXT_OR_NULL, true, OFF(attach_volume.host_name), 0 },
			{ "mountpoint", A_TEXT_OR_NULL, true, OFF(attach_volume.mountpoint), 0 },
			{ "mode", A_MODE, true, OFF(attach_volume.mode), 0 },
		} },
	[PROTO_M_DETACH_VOLUME] = {
		{ PROTO_M_DETACH_VOLUME, "detach_volume", "3.4", 0, true }, {
			{ "volume_id", A_UUID, true, OFF(detach_volume.volume_id), 0 },
			{ "volume", A_VOLUME, false, NOSTORE, 0 },
			{ "attachment_id", A_UUID_OR_NULL, false, OFF(detach_volume.attachment_id), 0 },
		} },
	[PROTO_M_PUBLISH_SERVICE_CAPABILITIES] = {
		{ PROTO_M_PUBLISH_SERVICE_CAPABILITIES, "publish_service_capabilities", "3.0", 0,
		  false }, { { 0 } } },
};

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

int proto_parse_bool_string(const char *s, bool *out)
{
	/* cinder.api.validation.parameter_types.boolean, verbatim. */
	static const char *const yes[] = {
		"True", "TRUE", "true", "1", "ON", "On", "on", "YES", "Yes", "yes", "y", "t",
	};
	static const char *const no[] = {
		"False", "FALSE", "false", "0", "OFF", "Off", "off", "NO", "No", "no", "n", "f",
	};

	for (size_t i = 0; s && i < sizeof(yes) / sizeof(yes[0]); i++) {
		if (strcmp(s, yes[i]) == 0 || strcmp(s, no[i]) == 0) {
			*out = strcmp(s, yes[i]) == 0;
			return 0;
		}
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

/* NULL, or why v is not a Cinder Volume primitive with a uuid data.id (stored in *id). */
static const char *parse_volume(const struct pv *v, const char **id)
{
	const struct pv *data;

	if (v->type != PV_MAP)
		return "expected a Volume versioned-object primitive";
	if (!str_is(pv_get(v, "versioned_object.name"), "Volume"))
		return "versioned_object.name must be \"Volume\"";
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
	case A_RESERVATIONS:
		if (v->type != PV_ARRAY || v->n > PROTO_MAX_RESERVATIONS)
			return "expected an array of at most 16 uuid strings";
		for (uint32_t i = 0; i < v->n; i++)
			if (!(strs[i] = pv_str(&v->u.items[i])) || !util_is_uuid(strs[i]))
				return "expected an array of at most 16 uuid strings";
		*(unsigned *)(base + s->off_n) = v->n;
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
	case A_UUID:
	case A_UUID_OR_NULL:
		if (s->kind == A_UUID_OR_NULL && v->type == PV_NULL)
			return NULL;
		if (!pv_str(v) || !util_is_uuid(v->u.s))
			return s->kind == A_UUID ? "expected a uuid" : "expected a uuid or null";
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
	}
	return "unsupported argument kind";
}

/* What the table cannot say: attach_volume names an instance or a host, and a Volume
 * primitive sent beside volume_id names the same volume. */
static int check_attach_target(enum proto_method_id id, const struct pv *args,
			       const union proto_args *out, char *detail, size_t detlen)
{
	const struct pv *vol = pv_get(args, "volume");
	const char *vid = NULL, *named;

	if (id != PROTO_M_ATTACH_VOLUME && id != PROTO_M_DETACH_VOLUME)
		return PROTO_OK;
	named = id == PROTO_M_ATTACH_VOLUME ? out->attach_volume.volume_id :
		out->detach_volume.volume_id;
	if (id == PROTO_M_ATTACH_VOLUME && !out->attach_volume.instance_uuid &&
	    !out->attach_volume.host_name)
		return proto_detail(PROTO_EARGS, detail, detlen,
				    "args.instance_uuid: instance_uuid or host_name is required");
	if (vol && parse_volume(vol, &vid) == NULL && strcmp(vid, named) != 0)
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
	return check_attach_target(method->id, args, out, detail, detlen);
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
