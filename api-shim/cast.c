/*
 * cast.c - volume RPC casts and calls from the API side (see cast.h).
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
#include "proto/json.h"
#include "proto/topology.h"
#include "api-shim/fault.h"
#include "api-shim/publish.h"
#include "api-shim/replies.h"
#include "api-shim/shim.h"
#include "api-shim/smetrics.h"

/* Room for one cast: a Volume primitive and a few arguments stay far below this. */
#define CAST_ARENA_CAP (256 * 1024)
/* A reply's arena: results are connection descriptions, far below this. */
#define CALL_ARENA_CAP (2 * 1024 * 1024)

/* The request context of the cast (pointers into r, ts or static strings). The role "admin"
 * that Cinder's RequestContext.to_dict adds for an admin context is added by the encoder. */
static void cast_context(const struct shim_request *r, const char *ts, struct proto_context *ctx)
{
	memset(ctx, 0, sizeof(*ctx));
	ctx->user_id = r->auth.user_id;
	ctx->project_id = r->auth.project_id;
	ctx->user_domain = r->auth.user_domain_id[0] != '\0' ? r->auth.user_domain_id : NULL;
	ctx->project_domain = r->auth.project_domain_id[0] != '\0' ? r->auth.project_domain_id :
			      NULL;
	ctx->request_id = r->request_id;
	ctx->global_request_id = r->global_request_id[0] != '\0' ? r->global_request_id : NULL;
	/* The caller's token is not passed on: the manager calls the compute API with its own
	 * credentials, and a cast is kept (journal, dead letters) where a token must not be. */
	ctx->remote_address = r->remote_addr[0] != '\0' ? r->remote_addr : NULL;
	ctx->timestamp = ts;
	ctx->read_deleted = "no";
	ctx->is_admin = r->auth.is_admin;
	ctx->is_admin_project = true;
	for (int i = 0; i < r->auth.nroles && ctx->nroles < PROTO_MAX_ROLES; i++)
		ctx->roles[ctx->nroles++] = r->auth.roles[i];
}

/* What makes a message a call: NULL for a cast. */
struct call_envelope {
	const char *msg_id;
	int timeout_ms;
};

/* Builds and encodes the message; *body is malloc'd. Returns 0 or -1. */
static int build(const struct shim_request *r, const struct proto_method *pm,
		 const struct vol_row *row, const union proto_args *args,
		 const struct call_envelope *call, struct proto_msg *m, char **body, size_t *len)
{
	struct proto_volume_fields f;
	struct proto_context ctx;
	struct proto_call c;
	char ts[32];

	util_now_iso(ts);
	cast_context(r, ts, &ctx);
	if (call != NULL)
		c = (struct proto_call){ call->msg_id, replies_queue(),
					 (call->timeout_ms + 999) / 1000 };
	vol_to_proto_fields(row, &f);
	return proto_encode_volume_msg(m, pm, &ctx, args, &f, call != NULL ? &c : NULL,
				       api_cfg.rpc_wire_format, body, len) == PROTO_OK ? 0 : -1;
}

struct cast_msg {
	char rk[PROTO_NAME_MAX];
	char *body;
	size_t len;
	char unique_id[33];
	char expiration[16];          /* a call's AMQP expiration, or "" */
};

void cast_msg_free(struct cast_msg *m)
{
	if (m == NULL)
		return;
	free(m->body);
	free(m);
}

/*
 * Builds the message of method for row, addressed to the volume's backend. Returns it, or
 * NULL with the reason in err (for a 503).
 */
static struct cast_msg *cast_build(const struct shim_request *r, const struct proto_method *pm,
				   const struct vol_row *row, const union proto_args *args,
				   const struct call_envelope *call, char *err, size_t errlen)
{
	struct cast_msg *c = calloc(1, sizeof(*c));
	struct proto_msg m;

	if (c == NULL) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	if (row->host[0] == '\0' ||
	    proto_routing_key_for_volume_host(row->host, c->rk, sizeof(c->rk)) != 0) {
		snprintf(err, errlen, "volume %s has no backend host", row->id);
		free(c);
		return NULL;
	}
	proto_msg_init(&m, CAST_ARENA_CAP);
	if (build(r, pm, row, args, call, &m, &c->body, &c->len) != 0) {
		snprintf(err, errlen, "the %s message could not be built", pm->name);
		log_error("%s", err);
		proto_msg_destroy(&m);
		cast_msg_free(c);
		return NULL;
	}
	util_strlcpy(c->unique_id, m.unique_id, sizeof(c->unique_id));
	if (call != NULL)
		snprintf(c->expiration, sizeof(c->expiration), "%d", call->timeout_ms);
	log_info("%s %s (%s) for volume %s to %s, _unique_id %s", call != NULL ? "call" : "cast",
		 pm->name, pm->send_version, row->id, c->rk, m.unique_id);
	proto_msg_destroy(&m);
	return c;
}

int cast_submit(const struct cast_msg *m, int64_t deadline_ms, publish_done_fn done, void *arg,
		char *err, size_t errlen)
{
	struct mq_props props = {
		.content_type = proto_format_content_type(api_cfg.rpc_wire_format),
		.message_id = m->unique_id,
		.persistent = true,
		.expiration = m->expiration[0] != '\0' ? m->expiration : NULL,
	};

	return publish_submit(m->rk, m->body, m->len, &props, deadline_ms, done, arg, err,
			      errlen);
}

/* From the publisher: the verdict on a cast sent by cast_volume_row. */
static void cast_sent(void *arg, const char *err)
{
	struct cast_send *s = arg;

	s->failed = err != NULL;
	if (err != NULL)
		util_strlcpy(s->err, err, sizeof(s->err));
	req_wake(s->r);
}

int cast_volume_row(struct shim_request *r, struct cast_send *s, enum proto_method_id method,
		    const struct vol_row *row, const union proto_args *args,
		    req_resume_fn resume)
{
	const struct proto_method *pm = proto_method_get(method);
	struct cast_msg *m;
	char err[TXN_ERR_MAX];
	int rc;

	memset(s, 0, sizeof(*s));
	s->r = r;
	m = cast_build(r, pm, row, args, NULL, err, sizeof(err));
	if (m == NULL) {
		fault_unavailable(r, err);
		return -1;
	}
	/* Suspended first, so that a confirm overtaking this thread finds it waiting. */
	req_suspend(r, resume);
	rc = cast_submit(m, req_wait_deadline(r, api_cfg.publish_timeout), cast_sent, s, err,
			 sizeof(err));
	cast_msg_free(m);
	if (rc != 0)
		cast_sent(s, err);
	return 0;
}

int cast_volume(struct txn_ctx *t, db_conn *db, enum proto_method_id method,
		const char *volume_id, const union proto_args *args)
{
	const struct proto_method *pm = proto_method_get(method);
	struct vol_row *row = malloc(sizeof(*row));
	char err[TXN_ERR_MAX];
	int rc;

	if (row == NULL)
		return txn_internal(t);
	rc = vol_get(db, volume_id, false, row);
	if (rc != DB_OK) {
		free(row);
		return txn_fail(t, rc, volume_id);
	}
	cast_msg_free(t->cast);
	t->cast = cast_build(t->r, pm, row, args, NULL, err, sizeof(err));
	free(row);
	if (t->cast == NULL) {
		fault_unavailable(t->r, err);
		return TXN_FAULT;
	}
	return DB_OPEN;
}

/* Decodes the reply body into out. Returns 0, or -1 with a 500 set. */
static int read_reply(struct shim_request *r, const struct proto_method *pm, const char *body,
		      size_t len, struct call_reply *out)
{
	struct proto_limits lim = proto_default_limits;
	struct pv_arena arena;
	struct proto_reply rep;
	char detail[256];
	int rc = -1;

	pv_arena_init(&arena, CALL_ARENA_CAP);
	/* The volume service answers in the format of the call (replies.c checked it). */
	if (proto_decode_reply(api_cfg.rpc_wire_format, body, len, &lim, &arena, &rep, detail,
			       sizeof(detail)) != PROTO_OK) {
		log_error("%s: undecodable reply: %s", pm->name, detail);
	} else if (rep.failure != NULL) {
		out->failed = true;
		if (proto_failure_parse(rep.failure, out->failure_class,
					out->failure_message) != 0)
			log_error("%s: unreadable failure in the reply: %s", pm->name, rep.failure);
		else
			rc = 0;
	} else {
		out->result = rep.result != NULL ? proto_pv_to_json(rep.result) : json_null();
		rc = out->result != NULL ? 0 : -1;
	}
	pv_arena_destroy(&arena);
	if (rc != 0)
		fault_reply(r, 500, "%s", FAULT_MSG_INTERNAL);
	return rc;
}

/* From the publisher: the verdict on a call. Once confirmed, its reply is watched. */
static void call_sent(void *arg, const char *err)
{
	struct call_pending *p = arg;

	if (err == NULL) {
		replies_watch(p->slot, p->deadline_ms, p->notify, p->notify_arg);
		return;
	}
	p->send_failed = true;
	util_strlcpy(p->send_err, err, sizeof(p->send_err));
	p->notify(p->notify_arg);
}

int call_volume_start(struct shim_request *r, const struct vol_row *row,
		      enum proto_method_id method, const union proto_args *args,
		      struct call_pending *p, void (*notify)(void *arg), void *arg)
{
	const struct proto_method *pm = proto_method_get(method);
	struct call_envelope call;
	struct cast_msg *m;
	char err[TXN_ERR_MAX];
	int rc;

	memset(p, 0, sizeof(*p));
	p->method = method;
	p->notify = notify;
	p->notify_arg = arg;
	p->deadline_ms = req_wait_deadline(r, api_cfg.rpc_response_timeout);
	call.timeout_ms = (int)(p->deadline_ms - util_now_ms());
	if (call.timeout_ms < 1)
		call.timeout_ms = 1;
	p->timeout_s = (call.timeout_ms + 999) / 1000;
	util_strlcpy(p->volume_id, row->id, sizeof(p->volume_id));
	util_hex_id(p->msg_id);
	call.msg_id = p->msg_id;
	p->slot = replies_register(p->msg_id);
	if (p->slot < 0) {
		p->slot = -1;
		fault_unavailable(r, "the reply queue is not ready (message broker unreachable?)");
		return -1;
	}
	m = cast_build(r, pm, row, args, &call, err, sizeof(err));
	if (m == NULL) {
		call_volume_cancel(p);
		fault_unavailable(r, err);
		return -1;
	}
	/* The confirm and the reply are awaited by the same deadline. */
	rc = cast_submit(m, p->deadline_ms, call_sent, p, err, sizeof(err));
	cast_msg_free(m);
	if (rc != 0)
		call_sent(p, err);
	return 0;
}

void call_volume_cancel(struct call_pending *p)
{
	if (p->slot >= 0)
		replies_cancel(p->slot);
	p->slot = -1;
}

int call_volume_finish(struct shim_request *r, struct call_pending *p, struct call_reply *out)
{
	const struct proto_method *pm = proto_method_get(p->method);
	char *body = NULL;
	size_t len = 0;
	int rc;

	memset(out, 0, sizeof(*out));
	if (p->send_failed) {
		call_volume_cancel(p);
		fault_unavailable(r, p->send_err);
		return -1;
	}
	rc = replies_take(p->slot, &body, &len);
	p->slot = -1;
	if (rc != REPLIES_OK) {
		if (rc == REPLIES_TIMEOUT)
			smetrics_call_timeout(pm->id);
		/* Cinder's API lets oslo's MessagingTimeout through as a 500; a gateway timeout
		 * says better what happened: the request may still complete on the manager. */
		log_warning("%s for volume %s: no reply (_msg_id %s): %s", pm->name, p->volume_id,
			    p->msg_id, rc == REPLIES_TIMEOUT ? "timed out" : "reply connection lost");
		fault_reply(r, 504, "Timed out waiting for a reply from the volume service to %s "
			    "(%s, %d s). The request may still complete: check the volume's status "
			    "before retrying.", pm->name,
			    rc == REPLIES_TIMEOUT ? "no reply" : "the reply connection was lost",
			    p->timeout_s);
		return -1;
	}
	rc = read_reply(r, pm, body, len, out);
	free(body);
	if (rc == 0)
		log_info("%s for volume %s: %s", pm->name, p->volume_id,
			 out->failed ? out->failure_class : "ok");
	return rc;
}
