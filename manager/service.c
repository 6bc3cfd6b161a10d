/*
 * service.c - the manager's row in Cinder's services table.
 */
#include <stdio.h>
#include <stdlib.h>

#include "common/cfg.h"
#include "common/log.h"
#include "common/util.h"
#include "core/settings.h"
#include "manager/capabilities.h"
#include "manager/handlers.h"
#include "manager/mconf.h"
#include "manager/periodic.h"
#include "manager/records.h"
#include "proto/schema.h"
#include "proto/topology.h"

/* Cinder's object version history head that volmgr's primitives follow. */
#define SERVICE_OBJECT_VERSION "1.39"
#define SERVICE_TXN_ATTEMPTS 3

/* The id of our row once known; 0 before. */
static char service_id[24];

static int service_register_txn(db_conn *db, void *arg)
{
	(void)arg;
	char uuid[37];
	const char *host = mconf.service_host;
	const char *lock[] = { host };
	PGresult *res = NULL;

	util_uuid4(uuid);
	/* Two managers starting at once for one host would otherwise both insert a row. */
	int rc = rec_exec(db, "SELECT pg_advisory_xact_lock(hashtext('volmgr-service:' || $1))",
			  1, lock, NULL);
	if (rc != DB_OK)
		return rc;
	const char *params[] = { host, PROTO_TOPIC_VOLUME, settings.storage_availability_zone,
				 PROTO_RPC_VERSION, SERVICE_OBJECT_VERSION, uuid };
	rc = db_exec(db,
		     "WITH old AS (SELECT id FROM services WHERE host = $1 AND \"binary\" = $2 "
		     "AND NOT deleted ORDER BY id LIMIT 1), "
		     "upd AS (UPDATE services s SET updated_at = now() AT TIME ZONE 'utc', "
		     "topic = $2, availability_zone = $3, rpc_current_version = $4, "
		     "object_current_version = $5, uuid = COALESCE(s.uuid, $6) "
		     "FROM old WHERE s.id = old.id RETURNING s.id), "
		     "ins AS (INSERT INTO services (created_at, updated_at, deleted, host, "
		     "\"binary\", topic, report_count, disabled, availability_zone, "
		     "rpc_current_version, object_current_version, replication_status, frozen, "
		     "uuid) SELECT now() AT TIME ZONE 'utc', now() AT TIME ZONE 'utc', false, $1, "
		     "$2, $2, 0, false, $3, $4, $5, 'not-capable', false, $6 "
		     "WHERE NOT EXISTS (SELECT 1 FROM old) RETURNING id) "
		     "SELECT id FROM upd UNION ALL SELECT id FROM ins",
		     6, params, &res);
	if (rc == DB_OK && PQntuples(res) == 1)
		util_strlcpy(service_id, PQgetvalue(res, 0, 0), sizeof(service_id));
	PQclear(res);
	return rc;
}

void service_register(db_conn *db)
{
	int rc = db_transaction(db, service_register_txn, NULL, SERVICE_TXN_ATTEMPTS);
	if (rc == DB_OK)
		log_info("service %s registered (services.id %s)", mconf.service_host, service_id);
	else
		log_error("cannot register service %s (trying again at the next report): %s: %s",
			  mconf.service_host, db_strerror(rc), db_last_error(db));
}

void service_report(db_conn *db)
{
	const char *params[] = { service_id };
	long n = 0;

	if (service_id[0] == '\0') {
		service_register(db);
		return;
	}
	int rc = rec_exec(db, "UPDATE services SET report_count = report_count + 1, "
			  "updated_at = now() AT TIME ZONE 'utc' WHERE id = $1::integer "
			  "AND NOT deleted", 1, params, &n);
	if (rc != DB_OK) {
		log_warning("service heartbeat failed: %s: %s", db_strerror(rc), db_last_error(db));
		return;
	}
	if (n == 0) {
		log_warning("service row %s is gone; registering again", service_id);
		service_id[0] = '\0';
		service_register(db);
	}
}

/*
 * Cinder's volume service answers by casting its backend's capabilities to the schedulers
 * (update_service_capabilities). The report is the capability thread's to send, so that the
 * consumer never waits for the broker's confirm: this only wakes it (worker 0's; the other
 * workers of the service, which get the broadcast too, log it as ignored, since one report
 * per service is what Cinder's one manager sends).
 */
int h_publish_service_capabilities(db_conn *db, struct job *job)
{
	(void)db;
	job_outcome(job, caps_wake() ? "reported" : "ignored");
	return DB_OK;
}

/* The filestore keeps no management plane to freeze: as Cinder's manager does after the
 * driver's freeze_backend and thaw_backend, only the service's row changes. */
static int service_set_frozen(db_conn *db, struct job *job, bool frozen)
{
	const char *params[] = { mconf.service_host, PROTO_TOPIC_VOLUME, frozen ? "true" : "false",
				 frozen ? "frozen" : "" };
	int rc = rec_exec(db, "UPDATE services SET disabled = $3::boolean, disabled_reason = $4, "
			  "modified_at = now() AT TIME ZONE 'utc' WHERE host = $1 AND "
			  "\"binary\" = $2 AND NOT COALESCE(deleted, false)", 4, params, NULL);
	if (rc != DB_OK)
		return rc;
	job->result = pv_new_bool(&job->reply_arena, true);
	return DB_OK;
}

int h_freeze_host(db_conn *db, struct job *job)
{
	return service_set_frozen(db, job, true);
}

int h_thaw_host(db_conn *db, struct job *job)
{
	return service_set_frozen(db, job, false);
}
