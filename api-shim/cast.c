/*
 * cast.c - volume RPC casts from the API side (see cast.h).
 */
#include "api-shim/cast.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "common/mq.h"
#include "common/util.h"
#include "core/volume.h"
#include "proto/codec.h"
#include "proto/topology.h"
#include "api-shim/fault.h"
#include "api-shim/publish.h"

/* Room for one cast: a Volume primitive and a few arguments stay far below this. */
#define CAST_ARENA_CAP (256 * 1024)
#define CAST_NARGS 6

/* The request context of the cast (pointers into r, ts or static strings). The role "admin"
 * that Cinder's RequestContext.to_dict adds for an admin context is added by the encoder. */
static void cast_context(const struct shim_request *r, const char *ts, struct proto_context *ctx)
{
	memset(ctx, 0, sizeof(*ctx));
	ctx->user_id = r->auth.user_id;
	ctx->project_id = r->auth.project_id;
	ctx->request_id = r->request_id;
	ctx->global_request_id = r->global_request_id[0] != '\0' ? r->global_request_id : NULL;
	ctx->auth_token = r->auth_token;
	ctx->remote_address = r->remote_addr[0] != '\0' ? r->remote_addr : NULL;
	ctx->timestamp = ts;
	ctx->read_deleted = "no";
	ctx->is_admin = r->auth.is_admin;
	ctx->is_admin_project = true;
	for (int i = 0; i < r->auth.nroles && ctx->nroles < PROTO_MAX_ROLES; i++)
		ctx->roles[ctx->nroles++] = r->auth.roles[i];
}

static struct pv *reservations_array(struct pv_arena *a, const struct cast_args *args)
{
	struct pv *arr = pv_new_array(a, (uint32_t)args->nreservations);

	for (int i = 0; arr != NULL && i < args->nreservations; i++)
		pv_array_push(a, arr, pv_new_str(a, args->reservations[i]));
	return arr;
}

/* Puts the arguments besides "volume". Failures show in a->failed. */
static void put_args(struct pv_arena *a, struct pv *map, enum proto_method_id method,
		     const struct cast_args *args)
{
	switch (method) {
	case PROTO_M_CREATE_VOLUME:
		/* The manager reads everything from the database; Cinder's manager accepts
		 * request_spec and filter_properties None. */
		pv_map_put(a, map, "request_spec", pv_new_null(a));
		pv_map_put(a, map, "filter_properties", pv_new_null(a));
		pv_map_put_bool(a, map, "allow_reschedule", true);
		break;
	case PROTO_M_DELETE_VOLUME:
		pv_map_put_bool(a, map, "unmanage_only", false);
		pv_map_put_bool(a, map, "cascade", false);
		break;
	case PROTO_M_EXTEND_VOLUME:
		pv_map_put_int(a, map, "new_size", args->new_size);
		pv_map_put(a, map, "reservations", reservations_array(a, args));
		break;
	case PROTO_M_EXTEND_VOLUME_COMPLETION:
		pv_map_put_int(a, map, "new_size", args->new_size);
		pv_map_put(a, map, "reservations", reservations_array(a, args));
		pv_map_put_bool(a, map, "error", args->error);
		break;
	case PROTO_M_COUNT:
		a->failed = true;
		break;
	}
}

/* Builds and encodes the message; *body is malloc'd. Returns 0 or -1. */
static int build(const struct shim_request *r, const struct proto_method *pm,
		 const struct vol_row *row, const struct cast_args *args, struct proto_msg *m,
		 char **body, size_t *len)
{
	struct proto_volume_fields f;
	struct proto_context ctx;
	char ts[32];

	util_now_iso(ts);
	cast_context(r, ts, &ctx);
	if (proto_msg_prepare_cast(m, pm->name, pm->send_version, &ctx, CAST_NARGS) != 0)
		return -1;
	vol_to_proto_fields(row, &f);
	pv_map_put(&m->arena, m->args, "volume", proto_build_volume(&m->arena, &f));
	put_args(&m->arena, m->args, pm->id, args);
	if (m->arena.failed)
		return -1;
	return proto_msgpack_encode(m, body, len) == PROTO_OK ? 0 : -1;
}

int cast_volume(struct txn_ctx *t, db_conn *db, enum proto_method_id method,
		const char *volume_id, const struct cast_args *args)
{
	const struct proto_method *pm = proto_method_get(method);
	struct vol_row *row = malloc(sizeof(*row));
	char rk[PROTO_NAME_MAX], err[512];
	struct proto_msg m;
	char *body = NULL;
	size_t len = 0;
	int rc;

	if (row == NULL || pm == NULL) {
		free(row);
		return txn_internal(t);
	}
	rc = vol_get(db, volume_id, false, row);
	if (rc != DB_OK) {
		free(row);
		return txn_fail(t, rc, volume_id);
	}
	if (row->host[0] == '\0' ||
	    proto_routing_key_for_volume_host(row->host, rk, sizeof(rk)) != 0) {
		snprintf(err, sizeof(err), "volume %s has no backend host", volume_id);
		fault_unavailable(t->r, err);
		free(row);
		return TXN_FAULT;
	}
	proto_msg_init(&m, CAST_ARENA_CAP);
	rc = build(t->r, pm, row, args, &m, &body, &len);
	if (rc == 0) {
		struct mq_props props = {
			.content_type = PROTO_CONTENT_TYPE_MSGPACK,
			.message_id = m.unique_id,
			.persistent = true,
		};

		rc = publish_message(rk, body, len, &props, err, sizeof(err));
		if (rc == 0) {
			t->published = true;
			log_info("cast %s (%s) for volume %s to %s, _unique_id %s", pm->name,
				 pm->send_version, volume_id, rk, m.unique_id);
		}
	} else {
		snprintf(err, sizeof(err), "the %s message could not be built", pm->name);
		log_error("%s", err);
	}
	free(body);
	proto_msg_destroy(&m);
	free(row);
	if (rc != 0) {
		fault_unavailable(t->r, err);
		return TXN_FAULT;
	}
	return DB_OK;
}
