/*
 * handlers.h - the route handlers server.c dispatches to. Each one sets the reply on r.
 *
 * Captures (r->captures) follow the route pattern: for every /v3/{project_id}/... route,
 * captures[0] is the URL's project id, already checked against the caller's (server.c).
 */
#ifndef VOLMGR_SHIM_HANDLERS_H
#define VOLMGR_SHIM_HANDLERS_H

#include "api-shim/request.h"

/* version.c: GET / (300, every version) and GET /v3/ (200, the v3 version). */
void version_root(struct shim_request *r);
void version_v3(struct shim_request *r);

/* smetrics.c: GET and HEAD /healthcheck, oslo.middleware's healthcheck (common/health.h) over
 * smetrics_health; the detailed JSON form for an admin only. */
void healthcheck_show(struct shim_request *r);

/* volumes.c */
void volumes_create(struct shim_request *r);        /* POST   /v3/{p}/volumes */
void volumes_list(struct shim_request *r);          /* GET    /v3/{p}/volumes */
void volumes_list_detail(struct shim_request *r);   /* GET    /v3/{p}/volumes/detail */
void volumes_show(struct shim_request *r);          /* GET    /v3/{p}/volumes/{id} */
void volumes_delete(struct shim_request *r);        /* DELETE /v3/{p}/volumes/{id} */
void volumes_manage(struct shim_request *r);        /* POST   /v3/{p}/os-volume-manage,
						     * /v3/{p}/manageable_volumes */
/* GET /v3/{p}/os-volume-manage[/detail], /v3/{p}/manageable_volumes[/detail] (manage.c) */
void manageable_list(struct shim_request *r);
void manageable_list_detail(struct shim_request *r);

/* metadata.c: a volume's name, description and metadata */
void volumes_update(struct shim_request *r);              /* PUT    /v3/{p}/volumes/{id} */
void volume_metadata_index(struct shim_request *r);       /* GET    .../volumes/{id}/metadata */
void volume_metadata_create(struct shim_request *r);      /* POST   .../volumes/{id}/metadata */
void volume_metadata_update_all(struct shim_request *r);  /* PUT    .../volumes/{id}/metadata */
void volume_metadata_show(struct shim_request *r);        /* GET    .../metadata/{key} */
void volume_metadata_update(struct shim_request *r);      /* PUT    .../metadata/{key} */
void volume_metadata_delete(struct shim_request *r);      /* DELETE .../metadata/{key} */

/* overview.c: what a project has and may have */
void volumes_summary(struct shim_request *r);         /* GET /v3/{p}/volumes/summary (3.12) */
void limits_show(struct shim_request *r);             /* GET /v3/{p}/limits */
void availability_zones_list(struct shim_request *r); /* GET /v3/{p}/os-availability-zone */

/* types.c: the volume type resource and its extra specs */
void types_list(struct shim_request *r);         /* GET    /v3/{p}/types */
void types_show(struct shim_request *r);         /* GET    /v3/{p}/types/{id} ("default") */
void types_create(struct shim_request *r);       /* POST   /v3/{p}/types */
void types_update(struct shim_request *r);       /* PUT    /v3/{p}/types/{id} */
void types_delete(struct shim_request *r);       /* DELETE /v3/{p}/types/{id} */
void type_specs_index(struct shim_request *r);   /* GET    .../types/{id}/extra_specs */
void type_specs_create(struct shim_request *r);  /* POST   .../types/{id}/extra_specs */
void type_specs_show(struct shim_request *r);    /* GET    .../extra_specs/{key} */
void type_specs_update(struct shim_request *r);  /* PUT    .../extra_specs/{key} */
void type_specs_delete(struct shim_request *r);  /* DELETE .../extra_specs/{key} */
void type_access_list(struct shim_request *r);   /* GET    .../types/{id}/os-volume-type-access */
void types_action(struct shim_request *r);       /* POST   .../types/{id}/action */

/* actions.c: POST /v3/{p}/volumes/{id}/action */
void actions_dispatch(struct shim_request *r);

/* snapshots.c: the snapshots and their metadata (docs/cinder.md §17) */
void snapshots_create(struct shim_request *r);      /* POST   /v3/{p}/snapshots */
void snapshots_list(struct shim_request *r);        /* GET    /v3/{p}/snapshots */
void snapshots_list_detail(struct shim_request *r); /* GET    /v3/{p}/snapshots/detail */
void snapshots_show(struct shim_request *r);        /* GET    /v3/{p}/snapshots/{id} */
void snapshots_update(struct shim_request *r);      /* PUT    /v3/{p}/snapshots/{id} */
void snapshots_delete(struct shim_request *r);      /* DELETE /v3/{p}/snapshots/{id} */
/* GET, POST (merge), PUT (replace) /v3/{p}/snapshots/{id}/metadata */
void snapshots_metadata_list(struct shim_request *r);
void snapshots_metadata_create(struct shim_request *r);
void snapshots_metadata_update_all(struct shim_request *r);
/* GET, PUT, DELETE /v3/{p}/snapshots/{id}/metadata/{key} */
void snapshots_metadata_show(struct shim_request *r);
void snapshots_metadata_update(struct shim_request *r);
void snapshots_metadata_delete(struct shim_request *r);
/* actions.c: POST /v3/{p}/snapshots/{id}/action */
void snapshots_action(struct shim_request *r);

/* actions.c: the attachments API's requests that change state (served by the action table) */
void attachments_create(struct shim_request *r);    /* POST   /v3/{p}/attachments */
void attachments_update(struct shim_request *r);    /* PUT    /v3/{p}/attachments/{id} */
void attachments_delete(struct shim_request *r);    /* DELETE /v3/{p}/attachments/{id} */
void attachments_action(struct shim_request *r);    /* POST   /v3/{p}/attachments/{id}/action */

/* attachments.c: the attachment views */
void attachments_list(struct shim_request *r);        /* GET /v3/{p}/attachments */
void attachments_list_detail(struct shim_request *r); /* GET /v3/{p}/attachments/detail */
void attachments_show(struct shim_request *r);        /* GET /v3/{p}/attachments/{id} */

/* messages.c: GET /v3/{p}/messages (microversion >= 3.3) */
void messages_list(struct shim_request *r);

/* quotas.c: GET /v3/{p}/os-quota-sets/{target}[?usage=true] */
void quotas_show(struct shim_request *r);

/* services.c: the services rows (admins) */
void services_list(struct shim_request *r);    /* GET /v3/{p}/os-services */
/* PUT /v3/{p}/os-services/{enable,disable,disable-log-reason,freeze,thaw} */
void services_update(struct shim_request *r);

/* pools.c: GET /v3/{p}/scheduler-stats/get_pools (admins), from the capability reports */
void pools_list(struct shim_request *r);

#endif
