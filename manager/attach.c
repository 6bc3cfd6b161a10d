/*
 * attach.c - the RPC calls of the legacy attach flow, as cinder.volume.manager serves them:
 * initialize_connection, terminate_connection, attach_volume and detach_volume.
 *
 * Each runs inside the delivery's transaction and ends with a reply: a result (the connection
 * info, the attachment) or a failure naming Cinder's exception class, which the API maps to an
 * HTTP code. Every check comes before the first write, so a failure reply commits nothing but
 * the message's record.
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "common/util.h"
#include "manager/handlers.h"
#include "manager/records.h"
#include "proto/json.h"
#include "proto/names.h"

#define ATT_ERR_MAX 512

/* Loads and locks volume id, whatever its status. Returns DB_OK, JOB_SKIP after setting the
 * VolumeNotFound failure, or a negative db status. */
static int att_load(db_conn *db, struct job *job, const char *id, struct vol_row *v)
{
	int rc = vol_get(db, id, true, v);

	if (rc == VOL_NOT_FOUND) {
		job_fail(job, "VolumeNotFound", "Volume %s could not be found.", id);
		return JOB_SKIP;
	}
	return rc;
}

/* The live attachment of v with id, or NULL. */
static const struct vol_attachment *att_find(const struct vol_row *v, const char *id)
{
	for (int i = 0; i < v->nattachments && i < VOL_MAX_ATTACHMENTS; i++)
		if (strcmp(v->attachments[i].id, id) == 0)
			return &v->attachments[i];
	return NULL;
}

/* An admin-metadata value, "" when absent. Returns DB_OK or a negative db status. */
static int att_admin_md(db_conn *db, const char *volume_id, const char *key, char *buf,
			size_t len)
{
	int rc = vol_admin_md_get(db, volume_id, key, buf, len);

	if (rc == VOL_NOT_FOUND) {
		buf[0] = '\0';
		return DB_OK;
	}
	return rc;
}

/* The connector's "host" ("" when it has none), as the connection's key. */
static const char *att_connector_host(const struct pv *connector)
{
	const char *h = connector != NULL ? pv_str(pv_get(connector, "host")) : NULL;

	return h != NULL && strlen(h) < VOL_STR ? h : "";
}

/* A value as JSON text (malloc'd), or NULL. */
static char *att_json_text(const struct pv *v)
{
	json_t *j = proto_pv_to_json(v);
	char *text = j != NULL ? json_dumps(j, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;

	json_decref(j);
	return text;
}

/* Bounds on what a caller may store through initialize_connection: a connector's JSON text
 * (PROTO_CONNECTOR_MAX; os-brick's connectors are a few hundred bytes), and connections of one
 * volume to distinct hosts at once (a multiattach volume on a few compute hosts, during a
 * migration two). */
#define ATT_CONNECTIONS_MAX 16

static const char att_sql_other_connections[] =
	"SELECT count(*) FROM volmgr_connections WHERE volume_id = $1 AND host <> $2";

/* Refuses (job_fail InvalidInput) a connector too large, or one more host than the bound;
 * *refused tells which happened. */
static int att_connection_bounds(db_conn *db, struct job *job, const char *volume_id,
				 const char *host, const char *connector, bool *refused)
{
	const char *params[] = { volume_id, host };
	PGresult *res = NULL;
	int rc;

	*refused = true;
	if (strlen(connector) > PROTO_CONNECTOR_MAX)
		return job_fail(job, "InvalidInput", "Invalid input received: Connector doesn't "
				"have required information: the connector is larger than %d bytes",
				PROTO_CONNECTOR_MAX);
	rc = db_exec(db, att_sql_other_connections, 2, params, &res);
	if (rc != DB_OK)
		return rc;
	long others = atol(PQgetvalue(res, 0, 0));
	PQclear(res);
	if (others >= ATT_CONNECTIONS_MAX)
		return job_fail(job, "InvalidInput", "Invalid input received: volume %s already "
				"has %ld connections", volume_id, others);
	*refused = false;
	return DB_OK;
}

static const char att_sql_connection_upsert[] =
	"INSERT INTO volmgr_connections (volume_id, host, connector, connection_info, created_at)"
	" VALUES ($1, $2, $3, $4, now() AT TIME ZONE 'utc') ON CONFLICT (volume_id, host) DO"
	" UPDATE SET connector = EXCLUDED.connector, connection_info = EXCLUDED.connection_info,"
	" created_at = EXCLUDED.created_at";

/*
 * The connection both initialize_connection and attachment_update make (Cinder's
 * initialize_connection and _connection_create, docs/cinder.md §10 and §14): the bounds, the
 * driver's description plus the generic keys of _parse_connection_options (access_mode from
 * the readonly admin metadata, encrypted), and the connection remembered in
 * volmgr_connections. *info receives the description, in the reply arena; it stays NULL when
 * the call was refused (job_fail). Returns DB_OK or a negative db status.
 */
static int att_connect(db_conn *db, struct job *job, const struct vol_row *v,
		       const struct pv *connector, struct pv **info)
{
	struct pv_arena *ar = &job->reply_arena;
	char err[ATT_ERR_MAX], readonly[JOB_MD_VALUE_MAX], name[64];
	char *connector_text = att_json_text(connector), *text = NULL;
	struct pv *data, *described = NULL;
	bool refused;
	int rc;

	*info = NULL;
	if (connector_text == NULL)
		return DB_REJECT;
	rc = att_connection_bounds(db, job, v->id, att_connector_host(connector), connector_text,
				   &refused);
	if (rc != DB_OK || refused)
		goto out;
	rc = att_admin_md(db, v->id, ADMIN_MD_READONLY, readonly, sizeof(readonly));
	if (rc != DB_OK)
		goto out;
	if (job_driver->initialize_connection(v, connector, ar, &described, err,
					      sizeof(err)) != DRV_OK) {
		rc = job_fail(job, "VolumeBackendAPIException", "Bad or unexpected response from "
			      "the storage volume backend API: Driver initialize connection "
			      "failed (error: %s).", err);
		goto out;
	}
	snprintf(name, sizeof(name), "volume-%s", v->id);
	data = (struct pv *)pv_get(described, "data");
	pv_map_put_str(ar, data, "volume_id", v->id);
	pv_map_put_str(ar, data, "name", name);
	pv_map_put_str(ar, data, "access_mode", strcmp(readonly, "True") == 0 ? "ro" : "rw");
	pv_map_put_bool(ar, data, "encrypted", false);
	if (ar->failed || (text = att_json_text(described)) == NULL) {
		rc = DB_REJECT;
		goto out;
	}
	const char *params[] = { v->id, att_connector_host(connector), connector_text, text };
	rc = rec_exec(db, att_sql_connection_upsert, 4, params, NULL);
	if (rc == DB_OK) {
		log_info("Volume %s: connection initialized for host '%s'.", v->id, params[1]);
		*info = described;
	}
out:
	free(connector_text);
	free(text);
	return rc;
}

int h_initialize_connection(db_conn *db, struct job *job)
{
	const struct proto_args_initialize_connection *a = &job->args.initialize_connection;
	struct pv *info;
	struct vol_row v;

	int rc = att_load(db, job, a->volume_id, &v);
	if (rc != DB_OK)
		return rc == JOB_SKIP ? DB_OK : rc;
	rc = att_connect(db, job, &v, a->connector, &info);
	if (info != NULL)
		job->result = info;
	return rc;
}

int h_terminate_connection(db_conn *db, struct job *job)
{
	const struct proto_args_terminate_connection *a = &job->args.terminate_connection;
	const char *params[2];
	char err[ATT_ERR_MAX];
	struct vol_row v;

	int rc = att_load(db, job, a->volume_id, &v);
	if (rc != DB_OK)
		return rc == JOB_SKIP ? DB_OK : rc;
	if (job_driver->terminate_connection(&v, a->connector, err, sizeof(err)) != DRV_OK)
		return job_fail(job, "VolumeBackendAPIException", "Bad or unexpected response from "
				"the storage volume backend API: Terminate volume connection "
				"failed: %s", err);
	params[0] = v.id;
	params[1] = att_connector_host(a->connector);
	/* A null connector (force detach without one) ends every connection of the volume. */
	rc = a->connector == NULL
		? rec_exec(db, "DELETE FROM volmgr_connections WHERE volume_id = $1", 1, params,
			   NULL)
		: rec_exec(db, "DELETE FROM volmgr_connections WHERE volume_id = $1 AND host = $2",
			   2, params, NULL);
	if (rc == DB_OK)
		log_info("Volume %s: connection terminated for host '%s'.", v.id,
			 a->connector == NULL ? "(all)" : params[1]);
	return rc;
}

/* A VolumeAttachment primitive of the attachment's main fields, as the reply's result. */
static const struct pv *att_primitive(struct pv_arena *ar, const char *volume_id,
				      const char *id, const struct proto_args_attach_volume *a)
{
	struct pv *data = pv_new_map(ar, 7);

	pv_map_put_str(ar, data, "id", id);
	pv_map_put_str(ar, data, "volume_id", volume_id);
	pv_map_put_str(ar, data, "instance_uuid", a->instance_uuid);
	pv_map_put_str(ar, data, "attached_host", a->host_name);
	pv_map_put_str(ar, data, "mountpoint", a->mountpoint);
	pv_map_put_str(ar, data, "attach_mode", a->mode);
	pv_map_put_str(ar, data, "attach_status", VOL_AS_ATTACHED);
	return proto_build_object(ar, "VolumeAttachment", "1.3", data);
}

/* The live attachment of the same instance (or, without one, the same host), or NULL:
 * Cinder's "volume<->instance mapping is already tracked" check. */
static const struct vol_attachment *att_existing(const struct vol_row *v,
						 const struct proto_args_attach_volume *a)
{
	for (int i = 0; i < v->nattachments && i < VOL_MAX_ATTACHMENTS; i++) {
		const struct vol_attachment *at = &v->attachments[i];

		if (a->instance_uuid != NULL ? strcmp(at->instance_uuid, a->instance_uuid) == 0
		    : strcmp(at->attached_host, a->host_name) == 0)
			return at;
	}
	return NULL;
}

/* The connection initialized last for the volume (the attaching host's first) becomes the
 * attachment's connector and connection info. */
static const char att_sql_bind_connection[] =
	"UPDATE volume_attachment SET connector = c.connector, connection_info = "
	"c.connection_info FROM (SELECT connector, connection_info FROM volmgr_connections "
	"WHERE volume_id = $2 ORDER BY (host = $3) DESC, created_at DESC LIMIT 1) c "
	"WHERE volume_attachment.id = $1";

/* Cinder's attach_volume (the attach.start and attach.end notifications included). */
int h_attach_volume(db_conn *db, struct job *job)
{
	const struct proto_args_attach_volume *a = &job->args.attach_volume;
	char attached_mode[JOB_MD_VALUE_MAX], readonly[JOB_MD_VALUE_MAX], id[37];
	const struct vol_attachment *existing;
	const char *request_id = job->msg->ctx.request_id;
	struct vol_row v;

	int rc = att_load(db, job, a->volume_id, &v);
	if (rc != DB_OK)
		return rc == JOB_SKIP ? DB_OK : rc;
	rc = att_admin_md(db, v.id, ADMIN_MD_ATTACHED_MODE, attached_mode, sizeof(attached_mode));
	if (rc == DB_OK)
		rc = att_admin_md(db, v.id, ADMIN_MD_READONLY, readonly, sizeof(readonly));
	if (rc != DB_OK)
		return rc;
	if (strcmp(v.status, VOL_S_ATTACHING) == 0 && attached_mode[0] != '\0' &&
	    strcmp(attached_mode, a->mode) != 0)
		return job_fail(job, "InvalidVolume", "Invalid volume: being attached by different "
				"mode");
	existing = att_existing(&v, a);
	if (existing != NULL) {
		/* Attaching again what is attached is not an error: the caller retried. */
		job->result = att_primitive(&job->reply_arena, v.id, existing->id, a);
		job_outcome(job, "already_attached");
		return vol_set_status(db, v.id, VOL_S_IN_USE, -1);
	}
	if (strcmp(v.status, VOL_S_IN_USE) == 0 && !v.multiattach && v.migration_status[0] == '\0')
		return job_fail(job, "InvalidVolume", "Invalid volume: volume is already attached "
				"and multiple attachments are not enabled");
	if (strcmp(readonly, "True") == 0 && strcmp(a->mode, "ro") != 0)
		return job_fail(job, "InvalidVolumeAttachMode", "Invalid attaching mode '%s' for "
				"volume %s.", a->mode, v.id);

	rc = rec_notify(db, "attach.start", &v, v.status, v.size, request_id);
	if (rc == DB_OK)
		rc = vol_attach(db, v.id, a->instance_uuid, a->host_name, a->mountpoint, a->mode, id);
	if (rc == DB_OK) {
		const char *params[] = { id, v.id, a->host_name != NULL ? a->host_name : "" };
		rc = rec_exec(db, att_sql_bind_connection, 3, params, NULL);
	}
	if (rc == DB_OK)
		rc = rec_notify(db, "attach.end", &v, VOL_S_IN_USE, v.size, request_id);
	if (rc != DB_OK)
		return rc;
	log_info("Volume %s: attached to %s %s at %s (%s), attachment %s.", v.id,
		 a->instance_uuid != NULL ? "instance" : "host",
		 a->instance_uuid != NULL ? a->instance_uuid : a->host_name,
		 a->mountpoint != NULL ? a->mountpoint : "-", a->mode, id);
	job->result = att_primitive(&job->reply_arena, v.id, id, a);
	return job->result != NULL ? DB_OK : DB_REJECT;
}

/* Cinder's detach_volume (the detach.start and detach.end notifications included). */
int h_detach_volume(db_conn *db, struct job *job)
{
	const struct proto_args_detach_volume *a = &job->args.detach_volume;
	const char *request_id = job->msg->ctx.request_id;
	const struct vol_attachment *at;
	char status[VOL_STATUS_MAX];
	struct vol_row v;

	int rc = att_load(db, job, a->volume_id, &v);
	if (rc != DB_OK)
		return rc == JOB_SKIP ? DB_OK : rc;
	if (a->attachment_id != NULL) {
		at = att_find(&v, a->attachment_id);
		if (at == NULL) {
			/* Not attached (any more): leave no volume "detaching" behind. */
			log_info("Volume %s: detach called, but attachment %s does not exist.", v.id,
				 a->attachment_id);
			job_outcome(job, "not_attached");
			return vol_detached(db, v.id, NULL, status);
		}
	} else if (v.nattachments > 1) {
		return job_fail(job, "InvalidVolume", "Invalid volume: Detach volume failed: More "
				"than one attachment, but no attachment_id provided.");
	} else if (v.nattachments == 0) {
		log_info("Volume %s: detach called, but volume not attached.", v.id);
		job_outcome(job, "not_attached");
		return vol_detached(db, v.id, NULL, status);
	} else {
		at = &v.attachments[0];
	}
	rc = rec_notify(db, "detach.start", &v, v.status, v.size, request_id);
	if (rc == DB_OK)
		rc = vol_detached(db, v.id, at->id, status);
	if (rc == DB_OK)
		rc = rec_notify(db, "detach.end", &v, status, v.size, request_id);
	if (rc == DB_OK)
		log_info("Volume %s: attachment %s detached.", v.id, at->id);
	return rc;
}

/* What the attachments API's calls read of a volume_attachment row. */
struct att_row {
	char attach_mode[37];      /* "" when null */
	char connector[PROTO_CONNECTOR_MAX + 1]; /* JSON text, "" when null or beyond the bound */
};

static const char att_sql_attachment[] =
	"SELECT coalesce(attach_mode, ''), coalesce(connector, '') FROM volume_attachment "
	"WHERE id = $1 AND volume_id = $2 AND NOT deleted FOR UPDATE";

/* Loads and locks volume volume_id (into v) and its live attachment id (into out). Returns
 * DB_OK, JOB_SKIP after setting the VolumeNotFound or VolumeAttachmentNotFound failure (an
 * attachment of another volume is not found either: Cinder would move it, docs/cinder.md
 * §14), or a negative db status. */
static int att_load_attachment(db_conn *db, struct job *job, const char *volume_id,
			       const char *id, struct vol_row *v, struct att_row *out)
{
	const char *params[] = { id, volume_id };
	PGresult *res = NULL;

	int rc = att_load(db, job, volume_id, v);
	if (rc == DB_OK)
		rc = db_exec(db, att_sql_attachment, 2, params, &res);
	if (rc != DB_OK)
		return rc;
	if (PQntuples(res) != 1) {
		PQclear(res);
		job_fail(job, "VolumeAttachmentNotFound", "Volume attachment could not be found "
			 "with filter: attachment_id = %s.", id);
		return JOB_SKIP;
	}
	snprintf(out->attach_mode, sizeof(out->attach_mode), "%s", PQgetvalue(res, 0, 0));
	/* A connector longer than any this service stores was not written by it: treated as
	 * none rather than cut. */
	if ((size_t)PQgetlength(res, 0, 1) < sizeof(out->connector))
		memcpy(out->connector, PQgetvalue(res, 0, 1), (size_t)PQgetlength(res, 0, 1) + 1);
	else
		out->connector[0] = '\0';
	PQclear(res);
	return DB_OK;
}

/* A string entry of the connector: absent gives fallback, a string of at most 255 bytes
 * itself, anything else NULL. */
static const char *att_connector_text(const struct pv *connector, const char *key,
				      const char *fallback)
{
	const struct pv *v = pv_get(connector, key);

	if (v == NULL)
		return fallback;
	return v->type == PV_STR && v->n <= 255 ? v->u.s : NULL;
}

/* The connector with its mode set to mode (Cinder writes it into the caller's dict), in a. */
static const struct pv *att_connector_with_mode(struct pv_arena *a, const struct pv *connector,
						const char *mode)
{
	struct pv *c = pv_new_map(a, connector->n + 1);

	for (uint32_t i = 0; c != NULL && i < connector->n; i++)
		if (strcmp(connector->u.pairs[i].key.u.s, "mode") != 0)
			pv_map_put(a, c, connector->u.pairs[i].key.u.s, &connector->u.pairs[i].val);
	pv_map_put_str(a, c, "mode", mode);
	return a->failed ? NULL : c;
}

/* Cinder's _connection_create result: the description without its nested data, whose keys
 * move up beside driver_volume_type (the description's own keys win), and attachment_id. */
static struct pv *att_flat_info(struct pv_arena *a, const struct pv *info,
				const char *attachment_id)
{
	const struct pv *data = pv_get(info, "data");
	uint32_t ndata = data != NULL && data->type == PV_MAP ? data->n : 0;
	struct pv *flat = pv_new_map(a, ndata + info->n + 1);

	for (uint32_t i = 0; flat != NULL && i < ndata; i++) {
		const char *key = data->u.pairs[i].key.u.s;

		if (pv_get(info, key) == NULL && strcmp(key, "attachment_id") != 0)
			pv_map_put(a, flat, key, &data->u.pairs[i].val);
	}
	for (uint32_t i = 0; flat != NULL && i < info->n; i++)
		if (strcmp(info->u.pairs[i].key.u.s, "data") != 0 &&
		    strcmp(info->u.pairs[i].key.u.s, "attachment_id") != 0)
			pv_map_put(a, flat, info->u.pairs[i].key.u.s, &info->u.pairs[i].val);
	pv_map_put_str(a, flat, "attachment_id", attachment_id);
	return a->failed ? NULL : flat;
}

/* _connection_create's row update and db.volume_attached(mark_attached=False) together. */
static const char att_sql_attachment_attaching[] =
	"UPDATE volume_attachment SET attach_status = '" VOL_AS_ATTACHING "', connector = $2, "
	"connection_info = $3, attached_host = $4, mountpoint = $5, attach_mode = $6, "
	"attach_time = now() AT TIME ZONE 'utc', updated_at = now() AT TIME ZONE 'utc' "
	"WHERE id = $1";
static const char att_sql_volume_attaching[] =
	"UPDATE volumes SET status = '" VOL_S_ATTACHING "', attach_status = '" VOL_AS_ATTACHING
	"', updated_at = now() AT TIME ZONE 'utc' WHERE id = $1";

/*
 * Cinder's attachment_update (docs/cinder.md §14): the mode is the attachment's when it has
 * one, else the connector's ("rw" by default); the volume is connected to the connector's
 * host; the attachment gets the connector, the connection info, the host, the mountpoint and
 * the mode, and it and the volume become attaching. The reply is the flat connection info.
 */
int h_attachment_update(db_conn *db, struct job *job)
{
	const struct proto_args_attachment_update *a = &job->args.attachment_update;
	struct pv_arena *ar = &job->reply_arena;
	const struct pv *connector = a->connector;
	char *connector_text = NULL, *info_text = NULL;
	struct pv *info, *flat;
	struct att_row at;
	struct vol_row v;

	int rc = att_load_attachment(db, job, a->volume_id, a->attachment_id, &v, &at);
	if (rc != DB_OK)
		return rc == JOB_SKIP ? DB_OK : rc;
	/* attachment-create's mode wins over the connector's (Cinder's compatibility with
	 * connector.mode). */
	bool mode_set = at.attach_mode[0] != '\0' && strcmp(at.attach_mode, "null") != 0;
	const char *mode = mode_set ? at.attach_mode : att_connector_text(connector, "mode", "rw");
	const char *mountpoint = att_connector_text(connector, "mountpoint", "na");
	if (mode == NULL || (strcmp(mode, "rw") != 0 && strcmp(mode, "ro") != 0) ||
	    mountpoint == NULL)
		return job_fail(job, "InvalidInput", "Invalid input received: Connector doesn't "
				"have required information: its mode must be \"rw\" or \"ro\" and "
				"its mountpoint a string of at most 255 bytes");
	if (mode_set && (connector = att_connector_with_mode(ar, connector, mode)) == NULL)
		return DB_REJECT;
	rc = att_connect(db, job, &v, connector, &info);
	if (rc != DB_OK || info == NULL)
		return rc;
	flat = att_flat_info(ar, info, a->attachment_id);
	connector_text = att_json_text(connector);
	info_text = flat != NULL ? att_json_text(flat) : NULL;
	if (connector_text == NULL || info_text == NULL) {
		rc = DB_REJECT;
		goto out;
	}
	const char *params[] = { a->attachment_id, connector_text, info_text,
				 att_connector_host(connector), mountpoint, mode };
	rc = rec_notify(db, "attach.start", &v, v.status, v.size, job->msg->ctx.request_id);
	if (rc == DB_OK)
		rc = rec_exec(db, att_sql_attachment_attaching, 6, params, NULL);
	if (rc == DB_OK)
		rc = rec_exec(db, att_sql_volume_attaching, 1, (const char *[]){ v.id }, NULL);
	if (rc != DB_OK)
		goto out;
	log_info("Volume %s: attachment %s updated for host '%s' (%s).", v.id, a->attachment_id,
		 params[3], mode);
	job->result = flat;
out:
	free(connector_text);
	free(info_text);
	return rc;
}

/* The connection of host ends with the last live attachment of the volume on that host. */
static const char att_sql_connection_end[] =
	"DELETE FROM volmgr_connections WHERE volume_id = $1 AND host = $2 AND NOT EXISTS "
	"(SELECT 1 FROM volume_attachment WHERE volume_id = $1 AND id <> $3 AND NOT deleted "
	"AND attached_host = $2)";

/* The stored connector text as a map in a, or NULL when there is none or it is not a JSON
 * object (then no connection was made that this service can end). */
static const struct pv *att_stored_connector(struct pv_arena *a, const char *text)
{
	const struct pv *c = NULL;
	char detail[128];
	json_t *j = NULL;

	if (text[0] != '\0' &&
	    proto_json_parse(text, strlen(text), &proto_default_limits, 0, &j, NULL, detail,
			     sizeof(detail)) == PROTO_OK && json_is_object(j))
		c = proto_pv_from_json(a, j);
	json_decref(j);
	return c;
}

/*
 * Cinder's attachment_delete, with the finish of its API (docs/cinder.md §14): detach.start;
 * the driver ends the connection when the attachment has a connector (one made without a
 * host, for a shelved server, has none); the host's connection row goes with the last
 * attachment on that host; the attachment is soft-deleted, the volume's statuses follow the
 * remaining attachments; detach.end. The reply's result is null.
 */
int h_attachment_delete(db_conn *db, struct job *job)
{
	const struct proto_args_attachment_delete *a = &job->args.attachment_delete;
	const char *request_id = job->msg->ctx.request_id;
	const struct pv *connector;
	char err[ATT_ERR_MAX], status[64];
	struct att_row at;
	struct vol_row v;

	int rc = att_load_attachment(db, job, a->volume_id, a->attachment_id, &v, &at);
	if (rc != DB_OK)
		return rc == JOB_SKIP ? DB_OK : rc;
	connector = att_stored_connector(&job->reply_arena, at.connector);
	if (connector == NULL)
		log_info("Volume %s: no connector for attachment %s; no connection to end.", v.id,
			 a->attachment_id);
	else if (job_driver->terminate_connection(&v, connector, err, sizeof(err)) != DRV_OK)
		return job_fail(job, "VolumeBackendAPIException", "Bad or unexpected response from "
				"the storage volume backend API: Terminate volume connection "
				"failed: %s", err);
	const char *params[] = { v.id, att_connector_host(connector), a->attachment_id };
	rc = rec_notify(db, "detach.start", &v, v.status, v.size, request_id);
	if (rc == DB_OK && connector != NULL)
		rc = rec_exec(db, att_sql_connection_end, 3, params, NULL);
	if (rc == DB_OK)
		rc = vol_detached(db, v.id, a->attachment_id, status);
	if (rc == DB_OK)
		rc = rec_notify(db, "detach.end", &v, status, v.size, request_id);
	if (rc == DB_OK)
		log_info("Volume %s: attachment %s deleted, volume %s.", v.id, a->attachment_id,
			 status);
	return rc;
}
