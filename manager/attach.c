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
 * (os-brick's connectors are a few hundred bytes), and connections of one volume to distinct
 * hosts at once (a multiattach volume on a few compute hosts, during a migration two). */
#define ATT_CONNECTOR_MAX 16384
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
	if (strlen(connector) > ATT_CONNECTOR_MAX)
		return job_fail(job, "InvalidInput", "Invalid input received: Connector doesn't "
				"have required information: the connector is larger than %d bytes",
				ATT_CONNECTOR_MAX);
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
 * Cinder's initialize_connection: the driver's description plus the generic keys of
 * _parse_connection_options (access_mode from the readonly admin metadata, encrypted), and
 * the connection remembered for attach_volume.
 */
int h_initialize_connection(db_conn *db, struct job *job)
{
	const struct proto_args_initialize_connection *a = &job->args.initialize_connection;
	struct pv_arena *ar = &job->reply_arena;
	char err[ATT_ERR_MAX], readonly[JOB_MD_VALUE_MAX], name[64];
	struct pv *info = NULL, *data;
	char *connector = NULL, *text = NULL;
	struct vol_row v;

	bool refused;

	int rc = att_load(db, job, a->volume_id, &v);
	if (rc != DB_OK)
		return rc == JOB_SKIP ? DB_OK : rc;
	connector = att_json_text(a->connector);
	if (connector == NULL)
		return DB_REJECT;
	rc = att_connection_bounds(db, job, v.id, att_connector_host(a->connector), connector,
				   &refused);
	if (rc != DB_OK || refused)
		goto out;
	rc = att_admin_md(db, v.id, ADMIN_MD_READONLY, readonly, sizeof(readonly));
	if (rc != DB_OK)
		goto out;
	if (job_driver->initialize_connection(&v, a->connector, ar, &info, err,
					      sizeof(err)) != DRV_OK) {
		rc = job_fail(job, "VolumeBackendAPIException", "Bad or unexpected response from "
			      "the storage volume backend API: Driver initialize connection "
			      "failed (error: %s).", err);
		goto out;
	}
	snprintf(name, sizeof(name), "volume-%s", v.id);
	data = (struct pv *)pv_get(info, "data");
	pv_map_put_str(ar, data, "volume_id", v.id);
	pv_map_put_str(ar, data, "name", name);
	pv_map_put_str(ar, data, "access_mode", strcmp(readonly, "True") == 0 ? "ro" : "rw");
	pv_map_put_bool(ar, data, "encrypted", false);
	if (ar->failed || (text = att_json_text(info)) == NULL) {
		rc = DB_REJECT;
		goto out;
	}
	const char *params[] = { v.id, att_connector_host(a->connector), connector, text };
	rc = rec_exec(db, att_sql_connection_upsert, 4, params, NULL);
	if (rc == DB_OK)
		log_info("Volume %s: connection initialized for host '%s'.", v.id, params[1]);
	job->result = info;
out:
	free(connector);
	free(text);
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

static const char att_sql_detach_one[] =
	"UPDATE volume_attachment SET attach_status = '" VOL_AS_DETACHED "', "
	"detach_time = now() AT TIME ZONE 'utc', updated_at = now() AT TIME ZONE 'utc', "
	"deleted = true, deleted_at = now() AT TIME ZONE 'utc' "
	"WHERE id = $1 AND volume_id = $2 AND NOT deleted";

/* db.volume_detached: the volume is in-use while attachments remain, else available and
 * detached (a migrating volume keeps its status, as Cinder hides it). */
static const char att_sql_volume_detached[] =
	"UPDATE volumes SET attach_status = CASE WHEN n > 0 THEN '" VOL_AS_ATTACHED "' ELSE '"
	VOL_AS_DETACHED "' END, status = CASE WHEN n > 0 THEN '" VOL_S_IN_USE "' "
	"WHEN coalesce(migration_status, '') NOT IN ('', 'success', 'error') THEN status "
	"ELSE '" VOL_S_AVAILABLE "' END, updated_at = now() AT TIME ZONE 'utc' "
	"FROM (SELECT count(*) AS n FROM volume_attachment WHERE volume_id = $1 AND NOT deleted) c "
	"WHERE id = $1 AND NOT deleted";

/* Cinder's Volume.finish_detach: the attachment (if any) goes, the statuses follow the
 * remaining attachments, and attached_mode is removed. */
static int att_finish_detach(db_conn *db, const char *volume_id, const char *attachment_id)
{
	const char *params[] = { attachment_id, volume_id };
	int rc = DB_OK;

	if (attachment_id != NULL)
		rc = rec_exec(db, att_sql_detach_one, 2, params, NULL);
	if (rc == DB_OK)
		rc = rec_exec(db, att_sql_volume_detached, 1, params + 1, NULL);
	if (rc == DB_OK)
		rc = vol_admin_md_delete(db, volume_id, ADMIN_MD_ATTACHED_MODE);
	return rc;
}

/* Cinder's detach_volume (the detach.start and detach.end notifications included). */
int h_detach_volume(db_conn *db, struct job *job)
{
	const struct proto_args_detach_volume *a = &job->args.detach_volume;
	const char *request_id = job->msg->ctx.request_id;
	const struct vol_attachment *at;
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
			return att_finish_detach(db, v.id, NULL);
		}
	} else if (v.nattachments > 1) {
		return job_fail(job, "InvalidVolume", "Invalid volume: Detach volume failed: More "
				"than one attachment, but no attachment_id provided.");
	} else if (v.nattachments == 0) {
		log_info("Volume %s: detach called, but volume not attached.", v.id);
		job_outcome(job, "not_attached");
		return att_finish_detach(db, v.id, NULL);
	} else {
		at = &v.attachments[0];
	}
	rc = rec_notify(db, "detach.start", &v, v.status, v.size, request_id);
	if (rc == DB_OK)
		rc = att_finish_detach(db, v.id, at->id);
	if (rc == DB_OK)
		rc = rec_notify(db, "detach.end", &v, v.nattachments > 1 ? VOL_S_IN_USE :
				VOL_S_AVAILABLE, v.size, request_id);
	if (rc == DB_OK)
		log_info("Volume %s: attachment %s detached.", v.id, at->id);
	return rc;
}

int h_attachment_update(db_conn *db, struct job *job)
{
	(void)db;
	return job_fail(job, "NotImplementedError", "attachment_update is being built");
}

int h_attachment_delete(db_conn *db, struct job *job)
{
	(void)db;
	return job_fail(job, "NotImplementedError", "attachment_delete is being built");
}
