/*
 * cmd_msg.c - message bodies by hand: decode (msgpack to JSON), encode and cast (a method and
 * its arguments to msgpack, and to a service with publisher confirms).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/util.h"
#include "core/volume.h"
#include "proto/codec.h"
#include "proto/json.h"
#include "proto/schema.h"
#include "proto/topology.h"
#include "volctl/msgio.h"
#include "volctl/volctl.h"

#define MSG_ARENA_CAP (1024 * 1024)
#define MSG_DEFAULT_USER "volctl"

/* ---- decode ---- */

static int run_decode(struct volctl_args *a)
{
	struct pv_arena arena;
	struct pv *v = NULL;
	char detail[256], *body = NULL;
	size_t len = 0;
	int rc;

	if (msgio_read_file(a->pos[0], MSGIO_MAX_BODY, &body, &len) != 0)
		return volctl_fail("cannot read %s (missing, unreadable or over %d bytes)",
				   a->npos > 0 ? a->pos[0] : "stdin", MSGIO_MAX_BODY);
	pv_arena_init(&arena, (size_t)MSGIO_MAX_BODY * 4);
	rc = proto_msgpack_decode_value(body, len, NULL, &arena, &v, detail, sizeof(detail));
	if (rc != PROTO_OK) {
		rc = volctl_fail("not a msgpack body: %s: %s", proto_strerror(rc), detail);
	} else {
		json_t *j = proto_pv_to_json(v);

		rc = j != NULL ? VOLCTL_OK : volctl_fail("out of memory");
		if (j != NULL)
			volctl_emit_one(j, true);
	}
	pv_arena_destroy(&arena);
	free(body);
	return rc;
}

/* ---- encode / cast ---- */

/* The arguments as one JSON object: a single positional JSON object, or KEY=VALUE pairs whose
 * values are JSON when they parse as JSON and strings otherwise. */
static json_t *msg_args_json(const struct volctl_args *a, char *err, size_t errlen)
{
	json_t *obj;

	if (a->npos == 2 && a->pos[1][0] == '{') {
		json_error_t je;

		obj = json_loads(a->pos[1], 0, &je);
		if (!json_is_object(obj)) {
			snprintf(err, errlen, "arguments are not a JSON object: %s", je.text);
			json_decref(obj);
			return NULL;
		}
		return obj;
	}
	obj = json_object();
	for (int i = 1; obj != NULL && i < a->npos; i++) {
		const char *eq = strchr(a->pos[i], '=');
		char key[128];

		if (eq == NULL || eq == a->pos[i] || (size_t)(eq - a->pos[i]) >= sizeof(key)) {
			snprintf(err, errlen, "argument %s is not KEY=VALUE", a->pos[i]);
			json_decref(obj);
			return NULL;
		}
		snprintf(key, sizeof(key), "%.*s", (int)(eq - a->pos[i]), a->pos[i]);
		json_t *v = json_loads(eq + 1, JSON_DECODE_ANY, NULL);
		json_object_set_new(obj, key, v != NULL ? v : json_string(eq + 1));
	}
	return obj;
}

static int check_msg(struct volctl_args *a)
{
	char err[256];
	json_t *j = msg_args_json(a, err, sizeof(err));

	if (j == NULL)
		return volctl_usage_error("%s", err);
	json_decref(j);
	if (a->volume != NULL && !util_is_uuid(a->volume))
		return volctl_usage_error("--volume %s is not a uuid", a->volume);
	if (a->unique_id != NULL && (strlen(a->unique_id) != 32 ||
				     strspn(a->unique_id, "0123456789abcdef") != 32))
		return volctl_usage_error("--unique-id must be 32 lowercase hex digits");
	if (a->version != NULL) {
		unsigned major, minor;

		if (proto_version_parse(a->version, &major, &minor) != 0)
			return volctl_usage_error("--version %s is not X.Y", a->version);
	}
	return VOLCTL_OK;
}

/* What a built message goes with: its routing key (from --routing-key, --host or the volume). */
struct msg_built {
	struct proto_msg m;
	char *body;
	size_t len;
	char routing_key[PROTO_NAME_MAX];
};

static int msg_build(const struct volctl_args *a, struct msg_built *b)
{
	const struct proto_method *pm = proto_method_find(a->pos[0]);
	static struct vol_row row;   /* large; volctl is single-threaded */
	struct proto_context ctx;
	char ts[32], err[256];
	json_t *args = msg_args_json(a, err, sizeof(err));
	const char *key;
	json_t *v;
	int rc = VOLCTL_FAIL;

	memset(&ctx, 0, sizeof(ctx));
	b->routing_key[0] = '\0';
	if (a->volume != NULL) {
		db_conn *db = volctl_db();

		if (db == NULL)
			goto out;
		rc = vol_get(db, a->volume, false, &row);
		if (rc == VOL_NOT_FOUND) {
			rc = volctl_fail("volume %s not found", a->volume);
			goto out;
		}
		if (rc != DB_OK) {
			rc = volctl_db_fail(db, rc);
			goto out;
		}
		rc = VOLCTL_FAIL;
		ctx.project_id = row.project_id;
		ctx.user_id = row.user_id;
		if (proto_routing_key_for_volume_host(row.host, b->routing_key,
						      sizeof(b->routing_key)) != 0)
			b->routing_key[0] = '\0';
	}
	if (a->host != NULL &&
	    proto_routing_key_for_volume_host(a->host, b->routing_key, sizeof(b->routing_key)) != 0) {
		rc = volctl_fail("--host %s is not <host>@<backend>", a->host);
		goto out;
	}
	if (a->routing_key != NULL)
		util_strlcpy(b->routing_key, a->routing_key, sizeof(b->routing_key));
	util_now_iso(ts);
	ctx.user_id = a->user != NULL ? a->user : ctx.user_id != NULL ? ctx.user_id : MSG_DEFAULT_USER;
	ctx.project_id = a->project != NULL ? a->project
		: ctx.project_id != NULL ? ctx.project_id : MSG_DEFAULT_USER;
	ctx.timestamp = ts;
	ctx.read_deleted = "no";
	ctx.is_admin = a->admin;
	ctx.is_admin_project = true;
	ctx.roles[ctx.nroles++] = a->admin ? "admin" : "member";
	if (proto_msg_prepare_cast(&b->m, a->pos[0], a->version != NULL ? a->version
				   : pm != NULL ? pm->send_version : "3.0", &ctx,
				   (uint32_t)json_object_size(args) + 1) != 0)
		goto nomem;
	if (a->unique_id != NULL)
		util_strlcpy(b->m.unique_id, a->unique_id, sizeof(b->m.unique_id));
	if (a->volume != NULL) {
		struct proto_volume_fields f;

		vol_to_proto_fields(&row, &f);
		pv_map_put(&b->m.arena, b->m.args, "volume", proto_build_volume(&b->m.arena, &f));
	}
	json_object_foreach(args, key, v)
		pv_map_put(&b->m.arena, b->m.args, key, proto_pv_from_json(&b->m.arena, v));
	if (b->m.arena.failed || proto_msgpack_encode(&b->m, &b->body, &b->len) != PROTO_OK)
		goto nomem;
	rc = VOLCTL_OK;
	goto out;
nomem:
	rc = volctl_fail("cannot build the message (too large, or out of memory)");
out:
	json_decref(args);
	return rc;
}

/* Writes the body to --output or stdout. */
static int msg_write(struct volctl_args *a, struct msg_built *b)
{
	FILE *f = a->output != NULL ? fopen(a->output, "wb") : stdout;
	int rc = VOLCTL_OK;

	if (f == NULL || fwrite(b->body, 1, b->len, f) != b->len || fflush(f) != 0)
		rc = volctl_fail("cannot write %s", a->output != NULL ? a->output : "stdout");
	if (f != NULL && f != stdout)
		fclose(f);
	return rc;
}

/* Publishes the cast with a confirm and prints its id. */
static int msg_publish(struct volctl_args *a, struct msg_built *b)
{
	const char *ex = a->exchange != NULL ? a->exchange : volctl_exchange();
	struct mq_props props = {
		.content_type = PROTO_CONTENT_TYPE_MSGPACK,
		.message_id = b->m.unique_id,
		.persistent = true,
	};
	mq_conn *pub;

	if (b->routing_key[0] == '\0')
		return volctl_fail("no routing key: give --volume, --host or --routing-key");
	if ((pub = volctl_mq(true)) == NULL)
		return VOLCTL_FAIL;
	int rc = mq_publish(pub, ex, b->routing_key, b->body, b->len, &props, true,
			    MSGIO_PUBLISH_TIMEOUT_MS);
	if (rc != MQ_OK)
		return volctl_fail("publish to %s with key %s: %s", ex, b->routing_key,
				   mq_strerror(rc));
	volctl_emit_one(json_pack("{s:s, s:s, s:s, s:s}", "unique_id", b->m.unique_id,
				  "method", a->pos[0], "exchange", ex, "routing_key",
				  b->routing_key), a->json);
	return VOLCTL_OK;
}

/* Builds the message, hands it to send, frees it. */
static int msg_run(struct volctl_args *a, int (*send)(struct volctl_args *, struct msg_built *))
{
	struct msg_built b = { .body = NULL };
	int rc;

	proto_msg_init(&b.m, MSG_ARENA_CAP);
	rc = msg_build(a, &b);
	if (rc == VOLCTL_OK)
		rc = send(a, &b);
	free(b.body);
	proto_msg_destroy(&b.m);
	return rc;
}

static int run_encode(struct volctl_args *a)
{
	return msg_run(a, msg_write);
}

static int run_cast(struct volctl_args *a)
{
	return msg_run(a, msg_publish);
}

static const struct volctl_opt opts_decode[] = { VOLCTL_OPT_END };
static const struct volctl_opt opts_encode[] = {
	VOLCTL_OPT_STR("--volume", volume),
	VOLCTL_OPT_STR("--host", host),
	VOLCTL_OPT_STR("--routing-key", routing_key),
	VOLCTL_OPT_STR("--user", user),
	VOLCTL_OPT_STR("--project", project),
	VOLCTL_OPT_FLAG("--admin", admin),
	VOLCTL_OPT_STR("--version", version),
	VOLCTL_OPT_STR("--unique-id", unique_id),
	VOLCTL_OPT_STR("--output", output),
	VOLCTL_OPT_STR("--exchange", exchange),
	VOLCTL_OPT_JSON,
	VOLCTL_OPT_END,
};

#define MSG_ARGS_HELP \
	"Arguments are one JSON object, or KEY=VALUE pairs whose values are read as JSON\n" \
	"when they parse (new_size=3, error=true, reservations='[\"...\"]') and as strings\n" \
	"otherwise. --volume ID adds the volume's Cinder Volume primitive built from its\n" \
	"row (and, for cast, routes to the volume's host). The context is --user/--project\n" \
	"(default: the volume's, else \"volctl\"), admin with --admin; the version defaults\n" \
	"to what volmgr sends for the method; --unique-id keeps a given _unique_id.\n"

const struct volctl_cmd volctl_cmds_msg[] = {
	{ "decode", "[FILE|-]",
	  "Decodes a msgpack message body from FILE (default stdin) into JSON, whatever it\n"
	  "holds (an RPC envelope, a reply, or any msgpack value). Exit 1 when it is not\n"
	  "msgpack, with the decoder's reason.",
	  opts_decode, 0, 1, NULL, run_decode },
	{ "encode", "METHOD [JSON|KEY=VALUE...] [--volume ID] [--user U] [--project P] [--admin]"
	  " [--version X.Y] [--unique-id HEX] [--output FILE]",
	  "Writes the msgpack body of a cast of METHOD to stdout or FILE.\n" MSG_ARGS_HELP,
	  opts_encode, 1, VOLCTL_MAX_POS, check_msg, run_encode },
	{ "cast", "METHOD [JSON|KEY=VALUE...] (--volume ID | --host HOST@BACKEND | --routing-key K)"
	  " [encode options] [--exchange E] [--json]",
	  "Publishes a cast of METHOD to the control exchange (or --exchange), to the\n"
	  "service of --host, of the volume, or to --routing-key, waits for the broker's\n"
	  "publisher confirm (mandatory: an unroutable cast fails), and prints its\n"
	  "_unique_id.\n" MSG_ARGS_HELP,
	  opts_encode, 1, VOLCTL_MAX_POS, check_msg, run_cast },
	{ NULL, NULL, NULL, NULL, 0, 0, NULL, NULL },
};
