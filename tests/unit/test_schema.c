/*
 * test_schema.c - the method table: lookups, versions, argument validation, boolean strings,
 * and the Volume primitive builder (through a full encode/decode/parse pipeline).
 */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <criterion/parameterized.h>
#include <stdlib.h>
#include <string.h>

#include "proto/codec.h"
#include "proto/json.h"
#include "proto/schema.h"
#include "pv_fixture.h"

#define VOL_ID "6a1f0000-0000-4000-8000-000000000001"
#define R1 "563e9e70-5f46-4265-9a92-f7bca28d896c"
#define R2 "1c2d0000-0000-4000-8000-0000000000aa"
#define VOL_WITH(name, ns, id) \
	"{\"versioned_object.name\": \"" name "\", \"versioned_object.namespace\": \"" ns \
	"\", \"versioned_object.version\": \"1.9\", \"versioned_object.data\": {\"id\": " id \
	", \"size\": 1}}"
#define VOL VOL_WITH("Volume", "cinder", "\"" VOL_ID "\"")
#define SNAP \
	"{\"versioned_object.name\": \"Snapshot\", \"versioned_object.namespace\": \"cinder\", " \
	"\"versioned_object.version\": \"1.6\", \"versioned_object.data\": {\"id\": \"" R2 \
	"\", \"volume_id\": \"" VOL_ID "\"}}"

TestSuite(schema, .init = pv_fixture_setup, .fini = pv_fixture_teardown);

/* Good arguments for each method. */
static const char *const good_args[PROTO_M_COUNT] = {
	[PROTO_M_CREATE_VOLUME] = "{\"volume\": " VOL ", \"request_spec\": {}, "
				  "\"filter_properties\": null, \"allow_reschedule\": true}",
	[PROTO_M_DELETE_VOLUME] = "{\"volume\": " VOL ", \"unmanage_only\": false, "
				  "\"cascade\": true}",
	[PROTO_M_EXTEND_VOLUME] = "{\"volume\": " VOL ", \"new_size\": 2, "
				  "\"reservations\": [\"" R1 "\", \"" R2 "\"]}",
	[PROTO_M_EXTEND_VOLUME_COMPLETION] = "{\"volume\": " VOL ", \"new_size\": 2, "
					     "\"reservations\": [\"" R1 "\"], \"error\": false}",
	[PROTO_M_INITIALIZE_CONNECTION] = "{\"volume\": " VOL ", \"connector\": {\"host\": \"h\"}}",
	[PROTO_M_TERMINATE_CONNECTION] = "{\"volume_id\": \"" VOL_ID "\", \"connector\": null, "
					 "\"force\": true}",
	[PROTO_M_ATTACH_VOLUME] = "{\"volume_id\": \"" VOL_ID "\", \"volume\": " VOL ", "
				  "\"instance_uuid\": \"" R1 "\", \"host_name\": null, "
				  "\"mountpoint\": \"/dev/vdb\", \"mode\": \"ro\"}",
	[PROTO_M_DETACH_VOLUME] = "{\"volume_id\": \"" VOL_ID "\", \"volume\": " VOL ", "
				  "\"attachment_id\": \"" R2 "\"}",
	[PROTO_M_ATTACHMENT_UPDATE] = "{\"vref\": " VOL ", \"connector\": {\"host\": \"h\"}, "
				      "\"attachment_id\": \"" R2 "\"}",
	[PROTO_M_ATTACHMENT_DELETE] = "{\"attachment_id\": \"" R2 "\", \"vref\": " VOL "}",
	[PROTO_M_PUBLISH_SERVICE_CAPABILITIES] = "{}",
	[PROTO_M_MIGRATE_VOLUME] = "{\"volume\": " VOL ", \"host\": {\"host\": \"n2@fs#fs\", "
				   "\"cluster_name\": null, \"capabilities\": {\"x\": 1}}, "
				   "\"force_host_copy\": false}",
	[PROTO_M_MIGRATE_VOLUME_COMPLETION] = "{\"volume\": " VOL ", \"new_volume\": "
					      VOL_WITH("Volume", "cinder", "\"" R2 "\"")
					      ", \"error\": false}",
	[PROTO_M_UPDATE_MIGRATED_VOLUME] = "{\"volume\": " VOL ", \"new_volume\": "
					   VOL_WITH("Volume", "cinder", "\"" R2 "\"")
					   ", \"volume_status\": \"in-use\"}",
	[PROTO_M_RETYPE] = "{\"volume\": " VOL ", \"new_type_id\": \"" R2 "\", "
			   "\"host\": {\"host\": \"n1@fs#fs\", \"cluster_name\": \"c1\"}, "
			   "\"migration_policy\": \"on-demand\", \"reservations\": [\"" R1 "\"], "
			   "\"old_reservations\": null}",
	[PROTO_M_CREATE_SNAPSHOT] = "{\"snapshot\": " SNAP "}",
	[PROTO_M_DELETE_SNAPSHOT] = "{\"snapshot\": " SNAP ", \"unmanage_only\": true}",
	[PROTO_M_REVERT_TO_SNAPSHOT] = "{\"volume\": " VOL ", \"snapshot\": " SNAP "}",
	[PROTO_M_COPY_VOLUME_TO_IMAGE] = "{\"volume_id\": \"" VOL_ID "\", \"image_meta\": "
					 "{\"id\": \"" R1 "\", \"disk_format\": \"raw\"}}",
	[PROTO_M_REIMAGE] = "{\"volume\": " VOL ", \"image_meta\": {\"id\": \"" R1 "\"}}",
	[PROTO_M_MANAGE_EXISTING] = "{\"ref\": {\"source-name\": \"volume-x\"}, "
				    "\"volume\": " VOL "}",
	[PROTO_M_GET_MANAGEABLE_VOLUMES] = "{\"marker\": null, \"limit\": 10, \"offset\": 0, "
					   "\"sort_keys\": [\"size\"], "
					   "\"sort_dirs\": [\"desc\"], \"want_objects\": true}",
};

static int parse(enum proto_method_id id, const struct pv *args, union proto_args *out)
{
	detail[0] = '\0';
	return proto_args_parse(proto_method_get(id), args, out, detail, sizeof(detail));
}

/* good_args[id] with key set to the value in json ("" removes the key). */
static struct pv *mutate(enum proto_method_id id, const char *key, const char *json)
{
	struct pv *base = J(good_args[id]), *c = pv_new_map(&ta, base->n + 1);
	bool found = false;

	for (uint32_t i = 0; i < base->n; i++) {
		const struct pv_pair *p = &base->u.pairs[i];
		bool hit = strcmp(p->key.u.s, key) == 0;

		found |= hit;
		if (!hit)
			pv_map_put(&ta, c, p->key.u.s, &p->val);
		else if (json[0])
			pv_map_put(&ta, c, key, J(json));
	}
	if (!found && json[0])
		pv_map_put(&ta, c, key, J(json));
	cr_assert(not(ta.failed));
	return c;
}

Test(schema, lookups)
{
	const struct proto_method *mt = proto_method_find("extend_volume_completion");

	cr_assert(mt != NULL);
	cr_expect(eq(int, mt->id, PROTO_M_EXTEND_VOLUME_COMPLETION));
	cr_expect(eq(str, (char *)mt->send_version, "3.19"));
	cr_expect(eq(int, mt->min_minor, 19));
	cr_expect(not(mt->is_call));
	cr_expect(eq(ptr, (void *)proto_method_find("failover_host"), NULL));
	cr_expect(eq(int, proto_method_find("attachment_update")->min_minor, 9));
	cr_expect(proto_method_find("attach_volume")->is_call);
	cr_expect(eq(str, (char *)proto_method_find("detach_volume")->send_version, "3.4"));
	cr_expect(eq(ptr, (void *)proto_method_find(NULL), NULL));
	cr_expect(eq(ptr, (void *)proto_method_get(PROTO_M_COUNT), NULL));
	for (int i = 0; i < PROTO_M_COUNT; i++) {
		const struct proto_method *g = proto_method_get((enum proto_method_id)i);

		cr_expect(eq(int, g->id, i));
		cr_expect(eq(ptr, (void *)proto_method_find(g->name), (void *)g));
		cr_expect(eq(int, proto_version_check(g->send_version, g), PROTO_OK));
	}
}

Test(schema, good_args)
{
	union proto_args a;

	cr_assert(eq(int, parse(PROTO_M_CREATE_VOLUME, J(good_args[0]), &a), PROTO_OK), "%s",
		  detail);
	cr_expect(eq(str, (char *)a.create_volume.volume_id, VOL_ID));

	cr_assert(eq(int, parse(PROTO_M_DELETE_VOLUME, J(good_args[1]), &a), PROTO_OK), "%s",
		  detail);
	cr_expect(eq(str, (char *)a.delete_volume.volume_id, VOL_ID));
	cr_expect(not(a.delete_volume.unmanage_only));
	cr_expect(a.delete_volume.cascade);

	cr_assert(eq(int, parse(PROTO_M_EXTEND_VOLUME, J(good_args[2]), &a), PROTO_OK), "%s",
		  detail);
	cr_expect(eq(int, a.extend_volume.new_size, 2));
	cr_assert(eq(uint, a.extend_volume.nreservations, 2));
	cr_expect(eq(str, (char *)a.extend_volume.reservations[1], R2));

	cr_assert(eq(int, parse(PROTO_M_EXTEND_VOLUME_COMPLETION, J(good_args[3]), &a), PROTO_OK),
		  "%s", detail);
	cr_expect(eq(str, (char *)a.extend_volume_completion.volume_id, VOL_ID));
	cr_expect(eq(int, a.extend_volume_completion.new_size, 2));
	cr_expect(eq(uint, a.extend_volume_completion.nreservations, 1));
	cr_expect(not(a.extend_volume_completion.error));
}

Test(schema, call_args)
{
	union proto_args a;

	cr_assert(eq(int, parse(PROTO_M_INITIALIZE_CONNECTION,
				J(good_args[PROTO_M_INITIALIZE_CONNECTION]), &a), PROTO_OK), "%s", detail);
	cr_expect(eq(str, (char *)pv_str(pv_get(a.initialize_connection.connector, "host")), "h"));
	cr_assert(eq(int, parse(PROTO_M_TERMINATE_CONNECTION,
				J(good_args[PROTO_M_TERMINATE_CONNECTION]), &a), PROTO_OK), "%s", detail);
	cr_expect(eq(ptr, (void *)a.terminate_connection.connector, NULL));
	cr_expect(a.terminate_connection.force);
	cr_assert(eq(int, parse(PROTO_M_ATTACH_VOLUME, J(good_args[PROTO_M_ATTACH_VOLUME]), &a),
		     PROTO_OK), "%s", detail);
	cr_expect(eq(str, (char *)a.attach_volume.instance_uuid, R1));
	cr_expect(eq(ptr, (void *)a.attach_volume.host_name, NULL));
	cr_expect(eq(str, (char *)a.attach_volume.mode, "ro"));
	cr_assert(eq(int, parse(PROTO_M_DETACH_VOLUME, J(good_args[PROTO_M_DETACH_VOLUME]), &a),
		     PROTO_OK), "%s", detail);
	cr_expect(eq(str, (char *)a.detach_volume.attachment_id, R2));
	cr_expect(eq(str, (char *)a.detach_volume.volume_id, VOL_ID));
	cr_assert(eq(int, parse(PROTO_M_ATTACHMENT_UPDATE, J(good_args[PROTO_M_ATTACHMENT_UPDATE]),
				&a), PROTO_OK), "%s", detail);
	cr_expect(eq(str, (char *)a.attachment_update.volume_id, VOL_ID));
	cr_expect(eq(str, (char *)a.attachment_update.attachment_id, R2));
	cr_expect(eq(str, (char *)pv_str(pv_get(a.attachment_update.connector, "host")), "h"));
	cr_assert(eq(int, parse(PROTO_M_ATTACHMENT_DELETE, J(good_args[PROTO_M_ATTACHMENT_DELETE]),
				&a), PROTO_OK), "%s", detail);
	cr_expect(eq(str, (char *)a.attachment_delete.volume_id, VOL_ID));
	cr_expect(eq(str, (char *)a.attachment_delete.attachment_id, R2));
}

Test(schema, failure_format_and_parse)
{
	char cls[PROTO_FAILURE_CLASS_MAX], msg[PROTO_FAILURE_MESSAGE_MAX];
	char *text = proto_failure_format(PROTO_FAILURE_MODULE_CINDER, "InvalidVolume", "Invalid volume: \"x\" busy");

	cr_assert(text != NULL);
	cr_expect(strstr(text, "\"module\":\"cinder.exception\"") != NULL, "%s", text);
	cr_expect(strstr(text, "\"args\":[\"Invalid volume: \\\"x\\\" busy\"]") != NULL, "%s", text);
	cr_assert(eq(int, proto_failure_parse(text, cls, msg), 0));
	cr_expect(eq(str, cls, "InvalidVolume"));
	cr_expect(eq(str, msg, "Invalid volume: \"x\" busy"));
	free(text);
	cr_expect(eq(int, proto_failure_parse("{\"message\": \"m\"}", cls, msg), -1));
	cr_expect(eq(int, proto_failure_parse("not json", cls, msg), -1));
	cr_expect(eq(int, proto_failure_parse(NULL, cls, msg), -1));
	cr_assert(eq(int, proto_failure_parse("{\"class\": \"VolumeNotFound\"}", cls, msg), 0));
	cr_expect(eq(str, msg, ""));
}

Test(schema, optional_args_default)
{
	union proto_args a;

	cr_assert(eq(int, parse(PROTO_M_DELETE_VOLUME, J("{\"volume\": " VOL "}"), &a), PROTO_OK));
	cr_expect(eq(int, a.delete_volume.unmanage_only || a.delete_volume.cascade, 0));
	cr_assert(eq(int, parse(PROTO_M_CREATE_VOLUME, J("{\"volume\": " VOL "}"), &a), PROTO_OK));
}

/* Criterion copies parameters into a freshly exec'd worker, so they hold no pointers. */
struct arg_case {
	int method;
	char key[24];
	char json[320]; /* "": remove the key */
	int rc;
};

ParameterizedTestParameters(schema, args)
{
	static struct arg_case cases[] = {
		{ PROTO_M_CREATE_VOLUME, "volume", "", PROTO_EARGS },
		{ PROTO_M_CREATE_VOLUME, "volume", "\"" VOL_ID "\"", PROTO_EARGS },
		{ PROTO_M_CREATE_VOLUME, "volume", VOL_WITH("Snapshot", "cinder", "\"" VOL_ID "\""),
		  PROTO_EARGS },
		{ PROTO_M_CREATE_VOLUME, "volume", VOL_WITH("Volume", "nova", "\"" VOL_ID "\""),
		  PROTO_EARGS },
		{ PROTO_M_CREATE_VOLUME, "volume", VOL_WITH("Volume", "cinder", "\"abc\""),
		  PROTO_EARGS },
		{ PROTO_M_CREATE_VOLUME, "volume", VOL_WITH("Volume", "cinder", "7"), PROTO_EARGS },
		{ PROTO_M_CREATE_VOLUME, "volume",
		  VOL_WITH("Volume", "cinder", "\"6a1f0000x0000-4000-8000-000000000001\""),
		  PROTO_EARGS },
		{ PROTO_M_CREATE_VOLUME, "volume", "{\"versioned_object.name\": \"Volume\", "
		  "\"versioned_object.namespace\": \"cinder\"}", PROTO_EARGS },
		{ PROTO_M_CREATE_VOLUME, "request_spec", "[]", PROTO_EARGS },
		{ PROTO_M_CREATE_VOLUME, "allow_reschedule", "\"true\"", PROTO_EARGS },
		{ PROTO_M_CREATE_VOLUME, "some_future_arg", "{\"x\": 1}", PROTO_OK },
		{ PROTO_M_DELETE_VOLUME, "volume", "", PROTO_EARGS },
		{ PROTO_M_DELETE_VOLUME, "cascade", "\"yes\"", PROTO_EARGS },
		{ PROTO_M_DELETE_VOLUME, "unmanage_only", "1", PROTO_EARGS },
		{ PROTO_M_EXTEND_VOLUME, "new_size", "", PROTO_EARGS },
		{ PROTO_M_EXTEND_VOLUME, "new_size", "0", PROTO_EARGS },
		{ PROTO_M_EXTEND_VOLUME, "new_size", "-1", PROTO_EARGS },
		{ PROTO_M_EXTEND_VOLUME, "new_size", "\"2\"", PROTO_EARGS },
		{ PROTO_M_EXTEND_VOLUME, "new_size", "2.0", PROTO_EARGS },
		{ PROTO_M_EXTEND_VOLUME, "new_size", "true", PROTO_EARGS },
		{ PROTO_M_EXTEND_VOLUME, "new_size", "2147483648", PROTO_EARGS },
		{ PROTO_M_EXTEND_VOLUME, "new_size", "2147483647", PROTO_OK },
		{ PROTO_M_EXTEND_VOLUME, "reservations", "", PROTO_EARGS },
		{ PROTO_M_EXTEND_VOLUME, "reservations", "\"" R1 "\"", PROTO_EARGS },
		{ PROTO_M_EXTEND_VOLUME, "reservations", "[1]", PROTO_EARGS },
		{ PROTO_M_EXTEND_VOLUME, "reservations", "[\"abc\"]", PROTO_EARGS },
		{ PROTO_M_EXTEND_VOLUME, "reservations", "[]", PROTO_EARGS },  /* a grow without quota */
		{ PROTO_M_EXTEND_VOLUME_COMPLETION, "volume", "", PROTO_EARGS },
		{ PROTO_M_EXTEND_VOLUME_COMPLETION, "new_size", "0", PROTO_EARGS },
		{ PROTO_M_EXTEND_VOLUME_COMPLETION, "reservations", "{}", PROTO_EARGS },
		{ PROTO_M_EXTEND_VOLUME_COMPLETION, "error", "", PROTO_EARGS },
		{ PROTO_M_EXTEND_VOLUME_COMPLETION, "error", "\"maybe\"", PROTO_EARGS },
		{ PROTO_M_EXTEND_VOLUME_COMPLETION, "error", "1", PROTO_EARGS },
		{ PROTO_M_EXTEND_VOLUME_COMPLETION, "error", "[]", PROTO_EARGS },
		{ PROTO_M_EXTEND_VOLUME_COMPLETION, "error", "\"Y\"", PROTO_EARGS },
		{ PROTO_M_INITIALIZE_CONNECTION, "connector", "", PROTO_EARGS },
		{ PROTO_M_INITIALIZE_CONNECTION, "connector", "\"host\"", PROTO_EARGS },
		{ PROTO_M_INITIALIZE_CONNECTION, "connector", "null", PROTO_EARGS },
		{ PROTO_M_TERMINATE_CONNECTION, "volume_id", "\"x\"", PROTO_EARGS },
		{ PROTO_M_TERMINATE_CONNECTION, "connector", "{}", PROTO_OK },
		{ PROTO_M_TERMINATE_CONNECTION, "connector", "[]", PROTO_EARGS },
		{ PROTO_M_ATTACH_VOLUME, "mode", "\"rx\"", PROTO_EARGS },
		{ PROTO_M_ATTACH_VOLUME, "mode", "", PROTO_EARGS },
		{ PROTO_M_ATTACH_VOLUME, "instance_uuid", "\"abc\"", PROTO_EARGS },
		{ PROTO_M_ATTACH_VOLUME, "instance_uuid", "null", PROTO_EARGS },
		{ PROTO_M_ATTACH_VOLUME, "volume", VOL_WITH("Volume", "cinder", "\"" R2 "\""),
		  PROTO_EARGS },
		{ PROTO_M_ATTACH_VOLUME, "volume", "", PROTO_OK },
		{ PROTO_M_ATTACH_VOLUME, "mountpoint", "7", PROTO_EARGS },
		{ PROTO_M_DETACH_VOLUME, "attachment_id", "null", PROTO_OK },
		{ PROTO_M_DETACH_VOLUME, "attachment_id", "\"x\"", PROTO_EARGS },
		{ PROTO_M_DETACH_VOLUME, "volume_id", "", PROTO_EARGS },
		{ PROTO_M_ATTACHMENT_UPDATE, "vref", "", PROTO_EARGS },
		{ PROTO_M_ATTACHMENT_UPDATE, "vref", "\"" VOL_ID "\"", PROTO_EARGS },
		{ PROTO_M_ATTACHMENT_UPDATE, "connector", "null", PROTO_EARGS },
		{ PROTO_M_ATTACHMENT_UPDATE, "connector", "[]", PROTO_EARGS },
		{ PROTO_M_ATTACHMENT_UPDATE, "attachment_id", "", PROTO_EARGS },
		{ PROTO_M_ATTACHMENT_UPDATE, "attachment_id", "null", PROTO_EARGS },
		{ PROTO_M_ATTACHMENT_DELETE, "attachment_id", "\"x\"", PROTO_EARGS },
		{ PROTO_M_ATTACHMENT_DELETE, "attachment_id", "null", PROTO_EARGS },
		{ PROTO_M_ATTACHMENT_DELETE, "vref", "", PROTO_EARGS },
		{ PROTO_M_MIGRATE_VOLUME, "host", "", PROTO_EARGS },
		{ PROTO_M_MIGRATE_VOLUME, "host", "\"n2@fs\"", PROTO_EARGS },
		{ PROTO_M_MIGRATE_VOLUME, "host", "{\"cluster_name\": null}", PROTO_EARGS },
		{ PROTO_M_MIGRATE_VOLUME, "host", "{\"host\": \"\"}", PROTO_EARGS },
		{ PROTO_M_MIGRATE_VOLUME, "host", "{\"host\": \"h\", \"cluster_name\": 3}",
		  PROTO_EARGS },
		{ PROTO_M_MIGRATE_VOLUME, "host", "{\"host\": \"h\", \"capabilities\": []}",
		  PROTO_EARGS },
		{ PROTO_M_MIGRATE_VOLUME, "host", "{\"host\": \"h\"}", PROTO_OK },
		{ PROTO_M_MIGRATE_VOLUME, "force_host_copy", "", PROTO_OK },
		{ PROTO_M_MIGRATE_VOLUME, "force_host_copy", "\"yes\"", PROTO_EARGS },
		{ PROTO_M_MIGRATE_VOLUME_COMPLETION, "new_volume", "", PROTO_EARGS },
		{ PROTO_M_MIGRATE_VOLUME_COMPLETION, "new_volume", "\"" R2 "\"", PROTO_EARGS },
		{ PROTO_M_MIGRATE_VOLUME_COMPLETION, "error", "", PROTO_EARGS },
		{ PROTO_M_MIGRATE_VOLUME_COMPLETION, "error", "\"true\"", PROTO_OK },
		{ PROTO_M_UPDATE_MIGRATED_VOLUME, "volume_status", "null", PROTO_OK },
		{ PROTO_M_UPDATE_MIGRATED_VOLUME, "volume_status", "", PROTO_EARGS },
		{ PROTO_M_UPDATE_MIGRATED_VOLUME, "volume_status", "7", PROTO_EARGS },
		{ PROTO_M_RETYPE, "new_type_id", "\"gold\"", PROTO_EARGS },
		{ PROTO_M_RETYPE, "migration_policy", "\"always\"", PROTO_EARGS },
		{ PROTO_M_RETYPE, "migration_policy", "null", PROTO_OK },
		{ PROTO_M_RETYPE, "migration_policy", "", PROTO_OK },
		{ PROTO_M_RETYPE, "reservations", "null", PROTO_OK },
		{ PROTO_M_RETYPE, "reservations", "[\"x\"]", PROTO_EARGS },
		{ PROTO_M_RETYPE, "old_reservations", "[\"" R2 "\"]", PROTO_OK },
		{ PROTO_M_RETYPE, "old_reservations", "{}", PROTO_EARGS },
	};
	return cr_make_param_array(struct arg_case, cases, sizeof(cases) / sizeof(cases[0]));
}

ParameterizedTest(struct arg_case *c, schema, args)
{
	union proto_args a;
	int rc = parse((enum proto_method_id)c->method, mutate(c->method, c->key, c->json), &a);

	cr_assert(eq(int, rc, c->rc), "%s=%s: %s", c->key, c->json, detail);
	if (rc != PROTO_OK)
		cr_expect(strstr(detail, c->key) != NULL, "detail must name the key: %s", detail);
}

Test(schema, reservation_count_limit)
{
	struct pv *r = pv_new_array(&ta, PROTO_MAX_RESERVATIONS + 1);
	struct pv *args = mutate(PROTO_M_EXTEND_VOLUME, "reservations", "");
	union proto_args a;

	for (int i = 0; i < PROTO_MAX_RESERVATIONS; i++)
		pv_array_push(&ta, r, pv_new_str(&ta, R1));
	pv_map_put(&ta, args, "reservations", r);
	cr_assert(eq(int, parse(PROTO_M_EXTEND_VOLUME, args, &a), PROTO_OK), "%s", detail);
	cr_expect(eq(uint, a.extend_volume.nreservations, PROTO_MAX_RESERVATIONS));
	pv_array_push(&ta, r, pv_new_str(&ta, R1)); /* args holds a shallow copy of r */
	args->u.pairs[args->n - 1].val = *r;
	cr_expect(eq(int, parse(PROTO_M_EXTEND_VOLUME, args, &a), PROTO_EARGS));
	cr_expect(strstr(detail, "args.reservations") != NULL, "%s", detail);
}

Test(schema, duplicate_arg_is_rejected)
{
	struct pv *args = J(good_args[PROTO_M_EXTEND_VOLUME]);
	struct pv *c = pv_new_map(&ta, args->n + 1);
	union proto_args a;

	for (uint32_t i = 0; i < args->n; i++)
		pv_map_put(&ta, c, args->u.pairs[i].key.u.s, &args->u.pairs[i].val);
	pv_map_put_int(&ta, c, "new_size", 3);
	cr_expect(eq(int, parse(PROTO_M_EXTEND_VOLUME, c, &a), PROTO_EARGS));
	cr_expect(strstr(detail, "args.new_size: duplicate") != NULL, "%s", detail);
}

Test(schema, args_must_be_a_map)
{
	union proto_args a;

	cr_expect(eq(int, parse(PROTO_M_DELETE_VOLUME, J("[]"), &a), PROTO_EARGS));
	cr_expect(eq(int, proto_args_parse(NULL, J("{}"), &a, detail, sizeof(detail)),
		     PROTO_EARGS));
}

struct error_case {
	char json[12];
	bool val;
};

ParameterizedTestParameters(schema, completion_error_values)
{
	static struct error_case cases[] = {
		{ "false", false }, { "true", true }, { "null", false }, { "\"false\"", false },
		{ "\"yes\"", true }, { "\"t\"", true }, { "\"OFF\"", false }, { "\"0\"", false },
	};
	return cr_make_param_array(struct error_case, cases, sizeof(cases) / sizeof(cases[0]));
}

ParameterizedTest(struct error_case *c, schema, completion_error_values)
{
	union proto_args a;

	cr_assert(eq(int, parse(PROTO_M_EXTEND_VOLUME_COMPLETION,
				mutate(PROTO_M_EXTEND_VOLUME_COMPLETION, "error", c->json), &a),
		     PROTO_OK), "%s: %s", c->json, detail);
	cr_expect(eq(int, a.extend_volume_completion.error, c->val), "%s", c->json);
}

Test(schema, bool_strings)
{
	static const char *const yes[] = { "True", "TRUE", "true", "1", "ON", "On", "on",
					   "YES", "Yes", "yes", "y", "t" };
	static const char *const no[] = { "False", "FALSE", "false", "0", "OFF", "Off", "off",
					  "NO", "No", "no", "n", "f" };
	static const char *const bad[] = { "Y", "T", "N", "F", "TrUe", "oN", "", " true", "2",
					   "yes ", "nope" };
	bool b;

	for (size_t i = 0; i < 12; i++) {
		b = false;
		cr_expect(eq(int, proto_parse_bool_string(yes[i], &b), 0), "%s", yes[i]);
		cr_expect(b, "%s", yes[i]);
		b = true;
		cr_expect(eq(int, proto_parse_bool_string(no[i], &b), 0), "%s", no[i]);
		cr_expect(not(b), "%s", no[i]);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		cr_expect(eq(int, proto_parse_bool_string(bad[i], &b), -1), "%s", bad[i]);
	cr_expect(eq(int, proto_parse_bool_string(NULL, &b), -1));
}

struct version_case {
	char v[12];
	int method; /* -1: none */
	int rc;
};

ParameterizedTestParameters(schema, versions)
{
	static struct version_case cases[] = {
		{ "3.0", -1, PROTO_OK }, { "3.19", -1, PROTO_OK }, { "3.20", -1, PROTO_OK },
		{ "3.21", -1, PROTO_EVERSION }, { "4.0", -1, PROTO_EVERSION },
		{ "2.9", -1, PROTO_EVERSION }, { "x", -1, PROTO_EVERSION },
		{ "3", -1, PROTO_EVERSION }, { "3.", -1, PROTO_EVERSION },
		{ ".3", -1, PROTO_EVERSION }, { "3.0.1", -1, PROTO_EVERSION },
		{ " 3.0", -1, PROTO_EVERSION }, { "3.-1", -1, PROTO_EVERSION },
		{ "", -1, PROTO_EVERSION }, { "3.999999", -1, PROTO_EVERSION },
		{ "3.0", PROTO_M_EXTEND_VOLUME, PROTO_OK },
		{ "3.20", PROTO_M_EXTEND_VOLUME, PROTO_OK },
		{ "3.18", PROTO_M_EXTEND_VOLUME_COMPLETION, PROTO_EVERSION },
		{ "3.0", PROTO_M_EXTEND_VOLUME_COMPLETION, PROTO_EVERSION },
		{ "3.19", PROTO_M_EXTEND_VOLUME_COMPLETION, PROTO_OK },
		{ "3.20", PROTO_M_EXTEND_VOLUME_COMPLETION, PROTO_OK },
		{ "3.21", PROTO_M_EXTEND_VOLUME_COMPLETION, PROTO_EVERSION },
	};
	return cr_make_param_array(struct version_case, cases, sizeof(cases) / sizeof(cases[0]));
}

ParameterizedTest(struct version_case *c, schema, versions)
{
	const struct proto_method *mt =
		c->method < 0 ? NULL : proto_method_get((enum proto_method_id)c->method);

	cr_expect(eq(int, proto_version_check(c->v, mt), c->rc), "\"%s\"", c->v);
}

Test(schema, null_version)
{
	cr_expect(eq(int, proto_version_check(NULL, NULL), PROTO_EVERSION));
}

Test(schema, build_volume_primitive)
{
	struct proto_volume_fields f = {
		.id = VOL_ID, .user_id = "u1", .project_id = "p1", .host = "node1@fs#fs", .size = 3,
		.status = "extending", .attach_status = "attached", .bootable = true,
		.use_quota = true, .created_at = "2024-02-20T10:00:00Z",
	};
	struct pv *v = proto_build_volume(&ta, &f);
	const struct pv *d;

	cr_assert(v != NULL);
	cr_expect(eq(str, (char *)pv_str(pv_get(v, "versioned_object.name")), "Volume"));
	cr_expect(eq(str, (char *)pv_str(pv_get(v, "versioned_object.namespace")), "cinder"));
	cr_expect(eq(str, (char *)pv_str(pv_get(v, "versioned_object.version")), "1.9"));
	d = pv_get(v, "versioned_object.data");
	cr_assert(d != NULL);
	cr_expect(eq(str, (char *)pv_str(pv_get(d, "host")), "node1@fs#fs"));
	cr_expect(eq(i64, pv_get(d, "size")->u.i, 3));
	cr_expect(eq(int, pv_get(d, "cluster_name")->type, PV_NULL));
	cr_expect(eq(int, pv_get(d, "display_description")->type, PV_NULL));
	cr_expect(pv_get(d, "bootable")->u.b && pv_get(d, "use_quota")->u.b);
	cr_expect(eq(int, pv_get(d, "multiattach")->u.b || pv_get(d, "deleted")->u.b, 0));
	cr_expect(pv_get(d, "shared_targets")->u.b);
	cr_expect(eq(u32, d->n, 22));
}

Test(schema, build_volume_reports_arena_failure)
{
	struct pv_arena small;
	struct proto_volume_fields f = { .id = VOL_ID };

	pv_arena_init(&small, 512);
	cr_expect(eq(ptr, proto_build_volume(&small, &f), NULL));
	pv_arena_destroy(&small);
}

/* The sending side's recipe, end to end: prepare, fill args, encode, decode, check, parse. */
Test(schema, completion_cast_pipeline)
{
	const struct proto_method *mt = proto_method_get(PROTO_M_EXTEND_VOLUME_COMPLETION);
	struct proto_context ctx = { .user_id = "admin", .project_id = "p1", .is_admin = true,
				     .is_admin_project = true };
	struct proto_volume_fields f = { .id = VOL_ID, .size = 1, .status = "extending" };
	struct proto_msg out, in;
	struct pv *res;
	union proto_args a;
	char *buf;
	size_t len;

	proto_msg_init(&out, 1 << 16);
	cr_assert(eq(int, proto_msg_prepare_cast(&out, mt->name, mt->send_version, &ctx, 4), 0));
	res = pv_new_array(&out.arena, 1);
	pv_array_push(&out.arena, res, pv_new_str(&out.arena, R1));
	pv_map_put(&out.arena, out.args, "volume", proto_build_volume(&out.arena, &f));
	pv_map_put_int(&out.arena, out.args, "new_size", 2);
	pv_map_put(&out.arena, out.args, "reservations", res);
	pv_map_put_bool(&out.arena, out.args, "error", true);
	cr_assert(not(out.arena.failed));
	cr_assert(eq(int, proto_msgpack_encode(&out, &buf, &len), PROTO_OK));

	cr_assert(eq(int, proto_msgpack_decode(buf, len, NULL, &in, detail, sizeof(detail)),
		     PROTO_OK), "%s", detail);
	free(buf);
	cr_expect(eq(str, in.unique_id, out.unique_id));
	cr_assert(eq(ptr, (void *)proto_method_find(in.method), (void *)mt));
	cr_expect(eq(int, proto_version_check(in.version, mt), PROTO_OK));
	cr_assert(eq(int, proto_args_parse(mt, in.args, &a, detail, sizeof(detail)), PROTO_OK),
		  "%s", detail);
	cr_expect(eq(str, (char *)a.extend_volume_completion.volume_id, VOL_ID));
	cr_expect(eq(int, a.extend_volume_completion.new_size, 2));
	cr_expect(eq(str, (char *)a.extend_volume_completion.reservations[0], R1));
	cr_expect(a.extend_volume_completion.error);
	proto_msg_destroy(&in);
	proto_msg_destroy(&out);
}

/* What proto_args_build sends, read back by proto_args_parse: both follow the same row. */
static struct pv *build(enum proto_method_id id, const union proto_args *in)
{
	struct proto_volume_fields f = { .id = VOL_ID, .project_id = "p1", .size = 1 };
	struct pv *args = pv_new_map(&ta, 8);

	cr_assert(eq(int, proto_args_build(proto_method_get(id), in, &f, &ta, args), PROTO_OK));
	return args;
}

Test(schema, built_args_parse_back)
{
	const struct pv *connector = J("{\"host\": \"h1\"}");
	union proto_args in, out;

	memset(&in, 0, sizeof(in));
	in.create_volume.allow_reschedule = true;
	cr_assert(eq(int, parse(PROTO_M_CREATE_VOLUME, build(PROTO_M_CREATE_VOLUME, &in), &out),
		     PROTO_OK), "%s", detail);
	cr_expect(eq(str, (char *)out.create_volume.volume_id, VOL_ID));
	cr_expect(out.create_volume.allow_reschedule);

	memset(&in, 0, sizeof(in));
	in.extend_volume_completion = (struct proto_args_extend_volume_completion){
		.new_size = 3, .reservations = { R1, R2 }, .nreservations = 2, .error = true,
	};
	cr_assert(eq(int, parse(PROTO_M_EXTEND_VOLUME_COMPLETION,
				build(PROTO_M_EXTEND_VOLUME_COMPLETION, &in), &out), PROTO_OK),
		  "%s", detail);
	cr_expect(eq(int, out.extend_volume_completion.new_size, 3));
	cr_expect(eq(u32, out.extend_volume_completion.nreservations, 2));
	cr_expect(eq(str, (char *)out.extend_volume_completion.reservations[1], R2));
	cr_expect(out.extend_volume_completion.error);

	memset(&in, 0, sizeof(in));
	in.terminate_connection.connector = connector;
	in.terminate_connection.force = true;
	cr_assert(eq(int, parse(PROTO_M_TERMINATE_CONNECTION,
				build(PROTO_M_TERMINATE_CONNECTION, &in), &out), PROTO_OK),
		  "%s", detail);
	cr_expect(eq(str, (char *)out.terminate_connection.volume_id, VOL_ID));
	cr_expect(eq(str, (char *)pv_str(pv_get(out.terminate_connection.connector, "host")),
		     "h1"));
	cr_expect(out.terminate_connection.force);

	memset(&in, 0, sizeof(in));
	in.attach_volume = (struct proto_args_attach_volume){
		.instance_uuid = R1, .mountpoint = "/dev/vdb", .mode = "ro",
	};
	cr_assert(eq(int, parse(PROTO_M_ATTACH_VOLUME, build(PROTO_M_ATTACH_VOLUME, &in), &out),
		     PROTO_OK), "%s", detail);
	cr_expect(eq(str, (char *)out.attach_volume.volume_id, VOL_ID));
	cr_expect(eq(ptr, (void *)out.attach_volume.host_name, NULL));
	cr_expect(eq(str, (char *)out.attach_volume.mode, "ro"));

	memset(&in, 0, sizeof(in));
	in.attachment_update = (struct proto_args_attachment_update){
		.connector = connector, .attachment_id = R2,
	};
	cr_assert(eq(int, parse(PROTO_M_ATTACHMENT_UPDATE, build(PROTO_M_ATTACHMENT_UPDATE, &in),
				&out), PROTO_OK), "%s", detail);
	cr_expect(eq(str, (char *)out.attachment_update.volume_id, VOL_ID));
	cr_expect(eq(str, (char *)out.attachment_update.attachment_id, R2));
	cr_expect(eq(str, (char *)pv_str(pv_get(out.attachment_update.connector, "host")), "h1"));

	memset(&in, 0, sizeof(in));
	in.attachment_delete.attachment_id = R1;
	cr_assert(eq(int, parse(PROTO_M_ATTACHMENT_DELETE, build(PROTO_M_ATTACHMENT_DELETE, &in),
				&out), PROTO_OK), "%s", detail);
	cr_expect(eq(str, (char *)out.attachment_delete.volume_id, VOL_ID));
	cr_expect(eq(str, (char *)out.attachment_delete.attachment_id, R1));
	/* A sender must name the attachment. */
	in.attachment_delete.attachment_id = NULL;
	cr_expect(eq(int, proto_args_build(proto_method_get(PROTO_M_ATTACHMENT_DELETE), &in,
					   &(struct proto_volume_fields){ .id = VOL_ID }, &ta,
					   pv_new_map(&ta, 8)), PROTO_EARGS));
}

/* The migration methods carry a second Volume primitive and a backend map; retype two lists
 * of reservations. */
Test(schema, migration_args_build_and_parse_back)
{
	struct proto_volume_fields nf = { .id = R2, .project_id = "p1", .size = 1,
					  .migration_status = "target:" VOL_ID };
	union proto_args in, out;
	const struct pv *built;

	memset(&in, 0, sizeof(in));
	in.migrate_volume_completion.new_volume.fields = &nf;
	in.migrate_volume_completion.error = true;
	built = build(PROTO_M_MIGRATE_VOLUME_COMPLETION, &in);
	cr_assert(eq(int, parse(PROTO_M_MIGRATE_VOLUME_COMPLETION, built, &out), PROTO_OK), "%s",
		  detail);
	cr_expect(eq(str, (char *)out.migrate_volume_completion.volume_id, VOL_ID));
	cr_expect(eq(str, (char *)out.migrate_volume_completion.new_volume.id, R2));
	cr_expect(out.migrate_volume_completion.error);
	cr_expect(eq(str, (char *)pv_str(pv_get(pv_get(pv_get(built, "new_volume"),
							"versioned_object.data"),
						 "migration_status")), "target:" VOL_ID));

	memset(&in, 0, sizeof(in));
	in.update_migrated_volume.new_volume.fields = &nf;
	cr_assert(eq(int, parse(PROTO_M_UPDATE_MIGRATED_VOLUME,
				build(PROTO_M_UPDATE_MIGRATED_VOLUME, &in), &out), PROTO_OK),
		  "%s", detail);
	cr_expect(eq(ptr, (void *)out.update_migrated_volume.volume_status, NULL));

	memset(&in, 0, sizeof(in));
	in.migrate_volume.host.host = "n2@fs#fs";
	in.migrate_volume.force_host_copy = true;
	built = build(PROTO_M_MIGRATE_VOLUME, &in);
	cr_assert(eq(int, parse(PROTO_M_MIGRATE_VOLUME, built, &out), PROTO_OK), "%s", detail);
	cr_expect(eq(str, (char *)out.migrate_volume.host.host, "n2@fs#fs"));
	cr_expect(eq(ptr, (void *)out.migrate_volume.host.cluster_name, NULL));
	cr_expect(out.migrate_volume.force_host_copy);
	cr_assert(pv_get(pv_get(built, "host"), "capabilities") != NULL);
	cr_expect(eq(int, pv_get(pv_get(built, "host"), "capabilities")->type, PV_MAP));

	memset(&in, 0, sizeof(in));
	in.retype = (struct proto_args_retype){
		.new_type_id = R1, .host = { "n1@fs#fs", "c1" }, .old_reservations = { R2 },
		.nold_reservations = 1,
	};
	cr_assert(eq(int, parse(PROTO_M_RETYPE, build(PROTO_M_RETYPE, &in), &out), PROTO_OK),
		  "%s", detail);
	cr_expect(eq(str, (char *)out.retype.migration_policy, "never"));
	cr_expect(eq(str, (char *)out.retype.host.cluster_name, "c1"));
	cr_expect(eq(uint, out.retype.nreservations, 0));
	cr_expect(eq(uint, out.retype.nold_reservations, 1));
	cr_expect(eq(str, (char *)out.retype.old_reservations[0], R2));

	/* A sender must give the second volume. */
	memset(&in, 0, sizeof(in));
	cr_expect(eq(int, proto_args_build(proto_method_get(PROTO_M_UPDATE_MIGRATED_VOLUME), &in,
					   &nf, &ta, pv_new_map(&ta, 8)), PROTO_EARGS));
}

/* The snapshot, image and manage methods: a Snapshot primitive, a passed-through map, a
 * request spec's image id and optional counts survive a build and a parse. */
Test(schema, snapshot_and_image_args_build_and_parse_back)
{
	struct proto_snapshot_fields sf = { .id = R2, .volume_id = VOL_ID, .status = "creating",
					    .volume_size = 3, .use_quota = true };
	union proto_args in, out;
	const struct pv *built, *data;

	memset(&in, 0, sizeof(in));
	in.revert_to_snapshot.snapshot.fields = &sf;
	built = build(PROTO_M_REVERT_TO_SNAPSHOT, &in);
	cr_assert(eq(int, parse(PROTO_M_REVERT_TO_SNAPSHOT, built, &out), PROTO_OK), "%s", detail);
	cr_expect(eq(str, (char *)out.revert_to_snapshot.volume_id, VOL_ID));
	cr_expect(eq(str, (char *)out.revert_to_snapshot.snapshot.id, R2));
	cr_expect(eq(str, (char *)out.revert_to_snapshot.snapshot.volume_id, VOL_ID));
	data = pv_get(pv_get(built, "snapshot"), "versioned_object.data");
	cr_expect(eq(str, (char *)pv_str(pv_get(pv_get(built, "snapshot"),
						"versioned_object.name")), "Snapshot"));
	cr_expect(eq(i64, pv_get(data, "volume_size")->u.i, 3));
	cr_expect(eq(str, (char *)pv_str(pv_get(data, "volume_id")), VOL_ID));

	/* A Volume where a Snapshot belongs is refused, and so is a Snapshot that does not
	 * name its volume (the manager locks the volume before it reads the snapshot). */
	cr_expect(eq(int, parse(PROTO_M_CREATE_SNAPSHOT,
				mutate(PROTO_M_CREATE_SNAPSHOT, "snapshot", VOL), &out), PROTO_EARGS));
	cr_expect(eq(int, parse(PROTO_M_CREATE_SNAPSHOT,
				mutate(PROTO_M_CREATE_SNAPSHOT, "snapshot",
				       VOL_WITH("Snapshot", "cinder", "\"" R2 "\"")), &out),
		     PROTO_EARGS));

	memset(&in, 0, sizeof(in));
	in.create_volume.image_id = R1;
	built = build(PROTO_M_CREATE_VOLUME, &in);
	cr_assert(eq(int, parse(PROTO_M_CREATE_VOLUME, built, &out), PROTO_OK), "%s", detail);
	cr_expect(eq(str, (char *)out.create_volume.image_id, R1));
	memset(&in, 0, sizeof(in));
	built = build(PROTO_M_CREATE_VOLUME, &in);
	cr_expect(eq(int, pv_get(built, "request_spec")->type, PV_NULL));
	cr_assert(eq(int, parse(PROTO_M_CREATE_VOLUME, built, &out), PROTO_OK), "%s", detail);
	cr_expect(eq(ptr, (void *)out.create_volume.image_id, NULL));
	cr_expect(eq(int, parse(PROTO_M_CREATE_VOLUME, mutate(PROTO_M_CREATE_VOLUME,
				"request_spec", "{\"image_id\": 7}"), &out), PROTO_EARGS));
	/* A real scheduler's RequestSpec object carries image_id under versioned_object.data. */
	cr_assert(eq(int, parse(PROTO_M_CREATE_VOLUME, mutate(PROTO_M_CREATE_VOLUME,
				"request_spec", "{\"versioned_object.name\": \"RequestSpec\", "
				"\"versioned_object.data\": {\"image_id\": \"" R1 "\", "
				"\"volume_id\": \"" R2 "\"}}"), &out), PROTO_OK), "%s", detail);
	cr_expect(eq(str, (char *)out.create_volume.image_id, R1));
	cr_expect(eq(int, parse(PROTO_M_CREATE_VOLUME, mutate(PROTO_M_CREATE_VOLUME,
				"request_spec", "{\"versioned_object.data\": []}"), &out),
		     PROTO_EARGS));

	cr_assert(eq(int, parse(PROTO_M_COPY_VOLUME_TO_IMAGE,
				J(good_args[PROTO_M_COPY_VOLUME_TO_IMAGE]), &out), PROTO_OK));
	cr_expect(eq(str, (char *)pv_str(pv_get(out.copy_volume_to_image.image_meta, "id")), R1));
	cr_expect(eq(int, parse(PROTO_M_REIMAGE, mutate(PROTO_M_REIMAGE, "image_meta", "null"),
				&out), PROTO_EARGS));

	cr_assert(eq(int, parse(PROTO_M_GET_MANAGEABLE_VOLUMES,
				mutate(PROTO_M_GET_MANAGEABLE_VOLUMES, "limit", "null"), &out),
		  PROTO_OK));
	cr_expect(not(out.get_manageable_volumes.limit.set));
	cr_expect(out.get_manageable_volumes.offset.set);
	cr_expect(eq(int, out.get_manageable_volumes.offset.value, 0));
	cr_expect(out.get_manageable_volumes.want_objects);
	cr_expect(eq(int, parse(PROTO_M_GET_MANAGEABLE_VOLUMES,
				mutate(PROTO_M_GET_MANAGEABLE_VOLUMES, "offset", "-1"), &out),
		     PROTO_EARGS));
	memset(&in, 0, sizeof(in));
	in.get_manageable_volumes.limit = (struct proto_opt_count){ true, 5 };
	built = build(PROTO_M_GET_MANAGEABLE_VOLUMES, &in);
	cr_expect(eq(i64, pv_get(built, "limit")->u.i, 5));
	cr_expect(eq(int, pv_get(built, "marker")->type, PV_NULL));
}

/* A sender cannot leave out what the schema requires: a call without its connector. */
Test(schema, build_refuses_a_missing_required_value)
{
	struct proto_volume_fields f = { .id = VOL_ID };
	union proto_args in;
	struct pv *args = pv_new_map(&ta, 8);

	memset(&in, 0, sizeof(in));
	cr_expect(eq(int, proto_args_build(proto_method_get(PROTO_M_INITIALIZE_CONNECTION), &in,
					   &f, &ta, args), PROTO_EARGS));
}

/* The method rows say which methods the manager may group-commit. */
Test(schema, group_commit_flags)
{
	cr_expect(proto_method_get(PROTO_M_EXTEND_VOLUME_COMPLETION)->group_commit);
	cr_expect(proto_method_get(PROTO_M_EXTEND_VOLUME)->group_commit);
	cr_expect(not(proto_method_get(PROTO_M_CREATE_VOLUME)->group_commit));
	for (int i = 0; i < PROTO_M_COUNT; i++) {
		const struct proto_method *m = proto_method_get((enum proto_method_id)i);

		cr_expect(not(m->is_call && m->group_commit), "%s: a call is never grouped",
			  m->name);
	}
}
