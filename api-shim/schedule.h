/*
 * schedule.h - where a new volume goes.
 *
 * volmgr has no scheduler: the create route picks the backend itself, a live cinder-volume
 * service of the requested availability zone (heartbeat within Cinder's service_down_time,
 * 60 s), and casts create_volume straight to it; os-retype picks a live backend of the name
 * its new type asks for the same way, and a migration's destination is checked here as
 * Cinder's API and scheduler check it. Every call reads the services table on the caller's
 * connection, inside its transaction.
 */
#ifndef VOLMGR_SHIM_SCHEDULE_H
#define VOLMGR_SHIM_SCHEDULE_H

#include <stdbool.h>
#include <stddef.h>

#include "common/db.h"
#include "core/volume.h"
#include "api-shim/request.h"

/* Cinder's service_down_time, in seconds: a service whose last heartbeat is older is down. */
#define SCHEDULE_SERVICE_DOWN_TIME "60"
/* An SQL condition: the services row aliased alias is up (its heartbeat, or its creation when
 * it has none, is at most service_down_time old, as Cinder's Service.is_up). */
#define SCHEDULE_SQL_IS_UP(alias)                                                      \
	"COALESCE(" alias ".updated_at, " alias ".created_at) > (now() AT TIME ZONE 'utc') - " \
	"interval '" SCHEDULE_SERVICE_DOWN_TIME " seconds'"
/* An SQL condition: the services row aliased alias is a volume service whose reports the
 * scheduler keeps (its host manager leaves out the services that are deleted, disabled,
 * frozen or down): its pools are in get_pools, and its backend_state in the services list. */
#define SCHEDULE_SQL_REPORTED(alias)                                                         	alias ".\"binary\" = 'cinder-volume' AND NOT COALESCE(" alias ".deleted, false) "       	"AND NOT COALESCE(" alias ".disabled, false) AND NOT COALESCE(" alias ".frozen, false) " 	"AND " SCHEDULE_SQL_IS_UP(alias)

/*
 * *known tells whether az is a zone volumes may be created in: the configured
 * storage_availability_zone, or one a cinder-volume service reports.
 * Returns DB_OK or a negative db status.
 */
__attribute__((warn_unused_result))
int schedule_zone_known(db_conn *db, const char *az, bool *known);

/*
 * Writes into host the volume host of the live, enabled backend of zone az with the most
 * recent heartbeat ("<host>@<backend>#<backend>": volmgr's backends have one pool, named
 * after the backend), or "" when there is none. Returns DB_OK or a negative db status.
 */
__attribute__((warn_unused_result))
int schedule_pick_backend(db_conn *db, const char *az, char *host, size_t hostlen);

/* A destination service: its host ("<host>@<backend>"), its cluster ("" when none) and its
 * availability zone (the configured one when it reports none). */
struct schedule_service {
	char host[VOL_TEXT];
	char cluster_name[VOL_TEXT];
	char availability_zone[VOL_TEXT];
};

/*
 * Finds the live (heartbeat within service_down_time), enabled cinder-volume service named
 * backend ("<host>@<backend>", exact match) or, when backend is NULL, one of cluster (its
 * cluster_name, exact match), as Cinder's Service.get_by_id with is_up and disabled = false.
 * *found tells whether there is one; out is filled then. Returns DB_OK or a negative db
 * status.
 */
__attribute__((warn_unused_result))
int schedule_find_service(db_conn *db, const char *backend, const char *cluster,
			  struct schedule_service *out, bool *found);
/*
 * Whether a cinder-volume service named backend (or, when backend is NULL, of cluster) exists
 * at all, up or down, enabled or not: the difference between Cinder's ServiceNotFound and its
 * ServiceUnavailable once schedule_find_service found none. Returns DB_OK or a negative db
 * status.
 */
__attribute__((warn_unused_result))
int schedule_service_exists(db_conn *db, const char *backend, const char *cluster,
			    bool *exists);

/*
 * Cinder's _get_service_by_host_cluster at the backend level of the name (its extract_host):
 * schedule_find_service for host ("<host>@<backend>[#<pool>]", the pool ignored) or, when host
 * is NULL, for cluster, then, when none is found, schedule_service_exists for the same name
 * into *exists (false when one is found). Each caller answers a miss with its own fault.
 * Returns DB_OK or a negative db status.
 */
__attribute__((warn_unused_result))
int schedule_lookup_service(db_conn *db, const char *host, const char *cluster,
			    struct schedule_service *out, bool *found, bool *exists);

/*
 * As schedule_pick_backend, for a backend whose name (the part of the service's host after
 * '@') is backend: the first such service by host name, so that the same request always
 * chooses the same one. Returns DB_OK or a negative db status.
 */
__attribute__((warn_unused_result))
int schedule_pick_named(db_conn *db, const char *az, const char *backend, char *host,
			size_t hostlen);

/* A zone of the volume services, as Cinder's list_availability_zones reports it. */
struct schedule_zone {
	char name[VOL_TEXT];
	bool available;              /* at least one of its services is enabled */
};

/* The most zones schedule_zones reports. */
#define SCHEDULE_ZONES_MAX 64

/*
 * Fills zones with the availability zones of the cinder-volume services (a service without a
 * zone is in the configured one), in the order their first service registered, each available
 * unless all its services are disabled. As Cinder's, the list does not ask whether a service
 * is up. *n gets the count (at most max). Returns DB_OK or a negative db status.
 */
__attribute__((warn_unused_result))
int schedule_zones(db_conn *db, struct schedule_zone *zones, int max, int *n);

/*
 * Cinder's assert_not_frozen for the volume volume_id (a snapshot's checks go by its volume):
 * when the service of the volume's backend is frozen, sets Cinder's 400 "Modification
 * operations are not allowed on frozen storage backends." on r and returns TXN_FAULT.
 * Returns DB_OK when it is not, or a negative db status.
 */
__attribute__((warn_unused_result))
int schedule_check_not_frozen(db_conn *db, struct shim_request *r, const char *volume_id);

#endif
