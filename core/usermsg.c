/*
 * usermsg.c - Cinder user messages (cinder.message.api API.create, cinder.message.message_field).
 */
#include "core/usermsg.h"

#include <stdio.h>
#include <string.h>

#include "common/log.h"
#include "common/util.h"
#include "proto/names.h"

struct usermsg_text {
	const char *id;
	const char *text;
};

/*
 * Cinder's message_field.Action and Detail tables (the ids are what the messages table holds;
 * the API shows these texts), plus volmgr's own detail. Detail 003 has HEAD's wording.
 */
static const struct usermsg_text usermsg_actions[] = {
	{ "001", "schedule allocate volume" },
	{ "002", "attach volume" },
	{ "003", "copy volume to image" },
	{ "004", "update attachment" },
	{ "005", "copy image to volume" },
	{ "006", "unmanage volume" },
	{ "007", "extend volume" },
	{ "008", "create volume from backend storage" },
	{ "009", "create snapshot" },
	{ "010", "delete snapshot" },
	{ "011", "update snapshot" },
	{ "012", "update snapshot metadata" },
	{ "013", "create backup" },
	{ "014", "delete backup" },
	{ "015", "restore backup" },
	{ "016", "reimage volume" },
};

static const struct usermsg_text usermsg_details[] = {
	{ "001", "An unknown error occurred." },
	{ "002", "Driver is not initialized at present." },
	{ "003", "No storage could be allocated for this volume request. You may be able to try"
		 " another size or volume type." },
	{ "004", "Failed to upload volume to image at backend." },
	{ "005", "Volume's attach mode is invalid." },
	{ "006", "Not enough quota resource for operation." },
	{ "007", "Image used for creating volume exceeds available space." },
	{ "008", "Unmanaging encrypted volumes is not supported." },
	{ "009", "Compute service failed to extend volume." },
	{ "010", "Volume Driver failed to extend volume." },
	{ "011", "Image signature verification failed." },
	{ "012", "Driver failed to create the volume." },
	{ "013", "Snapshot failed to create." },
	{ "014", "Volume snapshot update metadata failed." },
	{ "015", "Snapshot is busy." },
	{ "016", "Snapshot failed to delete." },
	{ "017", "Backup status is invalid." },
	{ "018", "Backup service is down." },
	{ "019", "Failed to get backup device from the volume service." },
	{ "020", "Backup driver failed to create backup." },
	{ "021", "Failed to attach volume." },
	{ "022", "Failed to detach volume." },
	{ "023", "Cleanup of temporary volume/snapshot failed." },
	{ "024", "Backup failed to schedule. Service not found for creating backup." },
	{ "025", "Backup driver failed to delete backup." },
	{ "026", "Backup driver failed to restore backup." },
	{ "027", "Volume status is invalid." },
	{ "028", "Compute service failed to reimage volume." },
	{ "029", "The image disk format must be the same as the volume format for the volume type"
		 " you are requesting." },
	{ UMSG_DETAIL_COMPUTE_FEEDBACK_TIMEOUT,
	  "The compute service did not confirm the extend before the deadline." },
};

static const char *usermsg_lookup(const struct usermsg_text *t, size_t n, const char *id)
{
	for (size_t i = 0; id != NULL && i < n; i++)
		if (strcmp(t[i].id, id) == 0)
			return t[i].text;
	return "";
}

const char *usermsg_action_text(const char *action_id)
{
	return usermsg_lookup(usermsg_actions, sizeof(usermsg_actions) / sizeof(usermsg_actions[0]),
			      action_id);
}

const char *usermsg_detail_text(const char *detail_id)
{
	return usermsg_lookup(usermsg_details, sizeof(usermsg_details) / sizeof(usermsg_details[0]),
			      detail_id);
}

/* As Cinder's message_create: created_at now, deleted false, updated_at left NULL. */
static const char usermsg_sql_create[] =
	"INSERT INTO messages (id, project_id, request_id, resource_type, resource_uuid, event_id,"
	" message_level, created_at, deleted, expires_at, detail_id, action_id)"
	" VALUES ($1, $2, $3, $4, $5, $6, 'ERROR', now() AT TIME ZONE 'utc', false,"
	" (now() AT TIME ZONE 'utc') + $7::integer * interval '1 second', $8, $9)";

int usermsg_create(db_conn *db, const char *project_id, const char *request_id,
		   const char *resource_uuid, const char *action_id, const char *detail_id,
		   int ttl_seconds)
{
	char id[37], event_id[256], ttl[16];
	const char *p[9] = { id, project_id, request_id, UMSG_RESOURCE_VOLUME, resource_uuid,
			     event_id, ttl, detail_id, action_id };
	int len;

	/* Cinder's event id: "VOLUME_" + resource type + "_" + action + "_" + detail. */
	len = snprintf(event_id, sizeof(event_id), "VOLUME_%s_%s_%s", UMSG_RESOURCE_VOLUME,
		       action_id, detail_id);
	if (len < 0 || (size_t)len >= sizeof(event_id))
		return DB_REJECT;
	util_uuid4(id);
	snprintf(ttl, sizeof(ttl), "%d", ttl_seconds);
	return db_exec(db, usermsg_sql_create, 9, p, NULL);
}
