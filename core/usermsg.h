/*
 * usermsg.h - Cinder user messages (table messages, docs/cinder.md §2.7).
 */
#ifndef VOLMGR_CORE_USERMSG_H
#define VOLMGR_CORE_USERMSG_H

#include "common/db.h"

/*
 * Inserts a message: id uuid4, message_level "ERROR", resource_type "VOLUME",
 * event_id "VOLUME_VOLUME_<action>_<detail>", expires_at = now + ttl_seconds.
 * request_id may be NULL. Runs in the caller's transaction. Returns DB_OK or a negative status.
 */
__attribute__((warn_unused_result))
int usermsg_create(db_conn *db, const char *project_id, const char *request_id,
		   const char *resource_uuid, const char *action_id, const char *detail_id,
		   int ttl_seconds);

/* The readable text of an action / detail id ("extend volume", "Volume Driver failed to
 * extend volume."), or "" when unknown. */
const char *usermsg_action_text(const char *action_id);
const char *usermsg_detail_text(const char *detail_id);

#endif
