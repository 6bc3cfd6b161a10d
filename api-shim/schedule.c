/*
 * schedule.c - the backend of a new volume (see schedule.h).
 */
#include "api-shim/schedule.h"

#include <stdio.h>
#include <string.h>

#include "common/util.h"
#include "core/settings.h"
#include "core/status.h"
#include "api-shim/fault.h"

#define SERVICE_IS_UP SCHEDULE_SQL_IS_UP("services")

/* A known availability zone: one a cinder-volume service reports (a service without a zone
 * is in the configured one, $2). */
static const char sql_az_known[] =
	"SELECT 1 FROM services WHERE \"binary\" = 'cinder-volume' AND NOT COALESCE(deleted, false) "
	"AND COALESCE(availability_zone, $2) = $1 LIMIT 1";

/* The live, enabled backends of the zone $1 (a service without a zone is in the configured
 * one, $2). */
#define SQL_LIVE_BACKENDS \
	"SELECT host FROM services WHERE \"binary\" = 'cinder-volume' " \
	"AND NOT COALESCE(deleted, false) AND NOT COALESCE(disabled, false) " \
	"AND COALESCE(availability_zone, $2) = $1 AND host LIKE '%@%' AND " SERVICE_IS_UP

/* For a new volume, the most recent heartbeat wins. */
static const char sql_backend[] =
	SQL_LIVE_BACKENDS " ORDER BY COALESCE(updated_at, created_at) DESC LIMIT 1";

/* For a retype, the backend named $3: the first service by name, so that the choice does not
 * depend on the timing of heartbeats. */
static const char sql_backend_named[] =
	SQL_LIVE_BACKENDS " AND split_part(host, '@', 2) = $3 ORDER BY host LIMIT 1";

/* A volume service by host ($1) or, when $1 is null, by cluster ($2). */
#define SQL_SERVICE_NAMED \
	"FROM services WHERE topic = 'cinder-volume' AND NOT COALESCE(deleted, false) " \
	"AND (CASE WHEN $1::text IS NULL THEN cluster_name = $2 ELSE host = $1 END)"

/* A live, enabled one ($3: the configured zone). */
static const char sql_service[] =
	"SELECT host, COALESCE(cluster_name, ''), COALESCE(availability_zone, $3) "
	SQL_SERVICE_NAMED " AND NOT COALESCE(disabled, false) AND " SERVICE_IS_UP
	" ORDER BY COALESCE(updated_at, created_at) DESC LIMIT 1";

static const char sql_service_exists[] = "SELECT 1 " SQL_SERVICE_NAMED " LIMIT 1";

int schedule_zone_known(db_conn *db, const char *az, bool *known)
{
	const char *params[2] = { az, settings.storage_availability_zone };
	PGresult *res = NULL;
	int rc;

	*known = strcmp(az, settings.storage_availability_zone) == 0;
	if (*known)
		return DB_OK;
	rc = db_exec(db, sql_az_known, 2, params, &res);
	if (rc != DB_OK)
		return rc;
	*known = PQntuples(res) > 0;
	PQclear(res);
	return DB_OK;
}

/* Runs sql (a SQL_LIVE_BACKENDS query with nparams parameters) and writes its service as
 * a volume host into host, "" when there is none. */
static int pick(db_conn *db, const char *sql, int nparams, const char *const *params, char *host,
		size_t hostlen)
{
	PGresult *res = NULL;
	int rc = db_exec(db, sql, nparams, params, &res);

	host[0] = '\0';
	if (rc != DB_OK)
		return rc;
	if (PQntuples(res) > 0) {
		const char *svc = PQgetvalue(res, 0, 0);

		snprintf(host, hostlen, "%s#%s", svc, strchr(svc, '@') + 1);
	}
	PQclear(res);
	return DB_OK;
}

int schedule_pick_backend(db_conn *db, const char *az, char *host, size_t hostlen)
{
	const char *params[2] = { az, settings.storage_availability_zone };

	return pick(db, sql_backend, 2, params, host, hostlen);
}

int schedule_pick_named(db_conn *db, const char *az, const char *backend, char *host,
			size_t hostlen)
{
	const char *params[3] = { az, settings.storage_availability_zone, backend };

	return pick(db, sql_backend_named, 3, params, host, hostlen);
}

int schedule_find_service(db_conn *db, const char *backend, const char *cluster,
			  struct schedule_service *out, bool *found)
{
	const char *params[3] = { backend, cluster, settings.storage_availability_zone };
	PGresult *res = NULL;
	int rc = db_exec(db, sql_service, 3, params, &res);

	*found = false;
	if (rc != DB_OK)
		return rc;
	if (PQntuples(res) > 0) {
		*found = true;
		util_strlcpy(out->host, PQgetvalue(res, 0, 0), sizeof(out->host));
		util_strlcpy(out->cluster_name, PQgetvalue(res, 0, 1), sizeof(out->cluster_name));
		util_strlcpy(out->availability_zone, PQgetvalue(res, 0, 2),
			     sizeof(out->availability_zone));
	}
	PQclear(res);
	return DB_OK;
}

static const char sql_zones[] =
	"SELECT COALESCE(availability_zone, $1), bool_and(COALESCE(disabled, false)) "
	"FROM services WHERE topic = 'cinder-volume' AND NOT COALESCE(deleted, false) "
	"GROUP BY 1 ORDER BY min(id)";

int schedule_zones(db_conn *db, struct schedule_zone *zones, int max, int *n)
{
	const char *params[1] = { settings.storage_availability_zone };
	PGresult *res = NULL;
	int rc = db_exec(db, sql_zones, 1, params, &res);

	*n = 0;
	if (rc != DB_OK)
		return rc;
	for (int i = 0; i < PQntuples(res) && *n < max; i++) {
		struct schedule_zone *z = &zones[(*n)++];

		util_strlcpy(z->name, PQgetvalue(res, i, 0), sizeof(z->name));
		z->available = strcmp(PQgetvalue(res, i, 1), "t") != 0;
	}
	PQclear(res);
	return DB_OK;
}

int schedule_service_exists(db_conn *db, const char *backend, const char *cluster,
			    bool *exists)
{
	const char *params[2] = { backend, cluster };
	PGresult *res = NULL;
	int rc = db_exec(db, sql_service_exists, 2, params, &res);

	*exists = false;
	if (rc != DB_OK)
		return rc;
	*exists = PQntuples(res) > 0;
	PQclear(res);
	return DB_OK;
}

int schedule_lookup_service(db_conn *db, const char *host, const char *cluster,
			    struct schedule_service *out, bool *found, bool *exists)
{
	const char *named = host != NULL ? host : cluster;
	char backend[VOL_TEXT];
	int rc;

	snprintf(backend, sizeof(backend), "%.*s", (int)strcspn(named, "#"), named);
	*exists = false;
	rc = schedule_find_service(db, host != NULL ? backend : NULL,
				   host != NULL ? NULL : backend, out, found);
	if (rc == DB_OK && !*found)
		rc = schedule_service_exists(db, host != NULL ? backend : NULL,
					     host != NULL ? NULL : backend, exists);
	return rc;
}

/* The frozen service of a volume's backend (Cinder's is_backend_frozen by host: the volume
 * host without its pool). */
static const char sql_frozen[] =
	"SELECT 1 FROM volumes v JOIN services s ON s.host = split_part(v.host, '#', 1) "
	"WHERE v.id = $1 AND NOT COALESCE(s.deleted, false) AND COALESCE(s.frozen, false) "
	"LIMIT 1";

int schedule_check_not_frozen(db_conn *db, struct shim_request *r, const char *volume_id)
{
	const char *params[1] = { volume_id };
	PGresult *res = NULL;
	int rc = db_exec(db, sql_frozen, 1, params, &res);

	if (rc == DB_OK && PQntuples(res) > 0) {
		fault_reply(r, 400, "Invalid input received: Modification operations are not "
			    "allowed on frozen storage backends.");
		rc = TXN_FAULT;
	}
	PQclear(res);
	return rc;
}
