/*
 * actions.h - the action table: the volume actions (POST /v3/{p}/volumes/{id}/action), the
 * attachment actions (POST /v3/{p}/attachments/{id}/action) and the attachments API's
 * requests that change state (POST /attachments, PUT and DELETE /attachments/{id}), which
 * are served by the same machinery (attachments.c holds their bodies).
 *
 * An action is one row of the table in actions.c: its name, its microversion range, its
 * argument spec (params.h), its policy, the body that runs in the action's transaction, the
 * RPC method it casts or calls, and the step after the commit. The generic code in actions.c
 * reads the body (a JSON object with exactly one key, the action name), finds the row (400 for
 * an unknown name, 404 outside the row's microversions), parses and validates the arguments
 * once into typed values (400), then runs one transaction that loads and locks the volume (404
 * when it is missing or not visible to the caller), checks the policy (403), runs the body and,
 * for an action that casts, publishes the cast built from the body's typed RPC arguments before
 * the commit. After the commit it runs the row's after step, or answers the row's status.
 *
 * Adding an action is one row, one body (declared below) and its tests.
 */
#ifndef VOLMGR_SHIM_ACTIONS_H
#define VOLMGR_SHIM_ACTIONS_H

#include <stdbool.h>
#include <jansson.h>
#include "common/db.h"
#include "core/snapshot.h"
#include "proto/schema.h"
#include "api-shim/cast.h"
#include "api-shim/params.h"
#include "api-shim/policy.h"
#include "api-shim/request.h"
#include "api-shim/txn.h"
#include "api-shim/view.h"

struct action_def;
struct action_ctx;

/* Where a row is served: the route, the shape of its body and what the request targets. */
enum action_endpoint {
	ACTION_EP_VOLUME,            /* POST volumes/{id}/action, body {name: params} */
	ACTION_EP_ATTACHMENT,        /* POST attachments/{id}/action, body {name: params} */
	ACTION_EP_ATTACHMENT_CREATE, /* POST attachments, body {"attachment": params}; the
				      * volume is the argument volume_uuid */
	ACTION_EP_ATTACHMENT_UPDATE, /* PUT attachments/{id}, body {"attachment": params} */
	ACTION_EP_ATTACHMENT_DELETE, /* DELETE attachments/{id}, no body */
	ACTION_EP_SNAPSHOT,          /* POST snapshots/{id}/action, body {name: params}; the
				      * volume is the snapshot's */
};

/* The step after a successful call: result is the call's result (owned by the step), NULL
 * when not asked for. */
typedef void (*action_next_fn)(struct action_ctx *a, json_t *result);

/* The attachment a detaching action would end, for the 409 guard (attach.c); server is ""
 * when there is nothing to ask the compute service. The answer (use, err) is written by an
 * offload thread while the request is suspended. */
struct action_guard {
	char server[37];
	char attachment_id[37];
	int use;                              /* enum nova_use */
	char err[512];
	void (*then)(struct action_ctx *a);   /* the request's next step when allowed */
};

/* What an action's body and after step receive. */
struct action_ctx {
	struct txn_ctx t;             /* first: the transaction's argument */
	enum action_endpoint ep;      /* the endpoint the request came to */
	const char *volume_id;
	const char *attachment_id;    /* the URL's attachment id (attachment endpoints) */
	const struct vol_attachment *att; /* that attachment in vol, loaded in this attempt */
	char volume_buf[37];          /* room for the volume id of an attachment */
	char attachment_buf[37];      /* room for the id of the attachment create makes */
	const struct action_def *def;
	json_t *params;               /* body[name] as sent */
	struct param_value arg[PARAMS_MAX]; /* the parsed arguments, in the order of def's spec */
	struct vol_full *vol;         /* the locked volume and its attachments (not its
				       * metadata), loaded in this attempt; for the snapshot
				       * endpoint the snapshot's volume, not locked */
	const char *snapshot_id;      /* the URL's snapshot id (snapshot endpoint) */
	struct snap_row snap;         /* the locked snapshot the action targets (snapshot
				       * endpoint, revert), loaded in this attempt */
	struct proto_snapshot_fields snap_fields; /* its primitive, which rpc points at */
	union proto_args rpc;         /* the RPC method's arguments: filled by the body for a
				       * cast, by the after step for a call */
	struct pv_arena arena;        /* room for RPC argument values (a connector) */
	char reservations[PROTO_MAX_RESERVATIONS][37]; /* room for the reservation uuids that
						       * rpc points at */
	struct action_guard guard;    /* set by the bodies of the detaching actions */
	struct vol_row *other;        /* a second volume the action names (the new volume of
				       * os-migrate_volume_completion), loaded by its body; freed
				       * with the request */
	char dest_host[VOL_TEXT];     /* room for a destination backend that rpc points at */
	char type_id[37];             /* room for a volume type id that rpc points at */
	bool skip_cast;               /* set by a body that commits without the row's cast:
				       * os-retype when Cinder's scheduler would have failed it
				       * after the API accepted it */
	json_t *body;                 /* the request body, which params and arg point into */
	/* The image an image action names (image.c): its record, looked up before the
	 * transaction or created after it, or how that failed. */
	json_t *image;
	int image_status;             /* enum glance_status */
	char image_err[512];
	struct cast_send send;        /* a cast published after the commit */
	/* The call on its way (action_call), across the wait. */
	struct call_pending call;
	const struct action_failure_map *call_map;
	action_next_fn call_next;
	action_next_fn then;          /* a later step of a chain of calls */
};

/*
 * The policy of an action for its loaded volume, where the rule depends on the volume and the
 * microversion (os-extend's does). Returns the policy to check.
 */
typedef const struct policy *(*action_policy_fn)(const struct action_ctx *a);

/* The action inside the transaction, after lookup and policy: DB_OK to commit (after the
 * row's cast, if any), TXN_FAULT with a fault set, or a negative db status. */
typedef int (*action_body_fn)(db_conn *db, struct action_ctx *a);

/*
 * The part of an action that runs after its transaction committed, outside any transaction:
 * the RPC calls, which wait for the manager, and the compute API check. It sets the reply.
 */
typedef void (*action_after_fn)(struct action_ctx *a);

/*
 * The part of an action that runs before its transaction, on a server thread: blocking work
 * it hands to an offload pool (the image service's answer), after which it calls
 * action_begin(a), or replies.
 */
typedef void (*action_before_fn)(struct action_ctx *a);

struct action_def {
	enum action_endpoint ep;
	const char *name;             /* the body's key ("attachment" for create and update,
				       * NULL for delete) */
	struct apiver min_ver;        /* the first microversion that has the action */
	struct apiver max_ver;        /* the last one; {0, 0}: no upper bound */
	struct param_spec params;
	struct policy policy;
	action_policy_fn choose_policy; /* NULL: policy */
	action_body_fn body;          /* NULL: lookup and policy are the whole transaction */
	bool has_rpc;
	enum proto_method_id method;  /* when has_rpc: a cast is published by the transaction,
				       * a call is made by the after step (action_call) */
	action_before_fn before;      /* NULL: the transaction runs at once */
	action_after_fn after;        /* NULL: answer status with an empty body */
	unsigned status;              /* the answer without an after step */
};

/*
 * The part of the endpoint that needs neither the database nor the broker: parses r's body,
 * finds the action (a->def, a->params) and parses its arguments (a->arg). Returns the body
 * (the caller json_decref()s it; a->params and the arguments point into it), or NULL with a
 * fault set on r. tests/fuzz/fuzz_shim_action.c drives it directly.
 */
__attribute__((warn_unused_result))
json_t *actions_parse(struct shim_request *r, struct action_ctx *a);

/* The parsed argument key of a's spec, or an all-absent value for a key the spec lacks: code
 * shared by several actions (the 409 guard) reads an argument that only some of them take
 * (os-detach's attachment_id, which os-terminate_connection has not). */
const struct param_value *action_arg(const struct action_ctx *a, const char *key);

/* How a call's failure reaches the client: classes answered 400 with "<prefix> -
 * <class>: <message>" (prefix NULL: the message alone), the others 500 with text500
 * (NULL: Cinder's generic text). VolumeNotFound is always a 404. */
struct action_failure_map {
	const char *prefix;
	const char *const *bad_request;
	const char *text500;
	bool text500_message;         /* text500 is a format whose %s is the failure's message */
};

/*
 * For an after step: sends method with a->rpc as an RPC call for the volume and suspends the
 * request until its reply (or its timeout). A failure reply is mapped with map and answered;
 * on success next(a, result) runs, on a server thread, and replies or goes on.
 */
void action_call(struct action_ctx *a, enum proto_method_id method,
		 const struct action_failure_map *map, action_next_fn next);

/* Runs the action's transaction, then its after step (for a before step that is done). */
void action_begin(struct action_ctx *a);

/* An action_next_fn that answers 202 with no body. */
void action_accepted(struct action_ctx *a, json_t *result);

/* An InvalidVolume as Cinder's API answers it: 400 "Invalid volume: <reason>". */
#define ACTION_INVALID_VOLUME(a, ...) \
	(fault_reply((a)->t.r, 400, "Invalid volume: " __VA_ARGS__), TXN_FAULT)

/* Returns DB_OK, or the body's result for a status met inside a body (VOL_CONFLICT, a
 * compare-and-set that found another status, counts as done). */
int action_status(struct action_ctx *a, int rc);

/* Prints the volume and attachment actions (name, microversions, policy) for docs/api.md's
 * check. */
void actions_print_table(void);

/* The 409 guard of bug 2004555 (attach.c), after a body that set a->guard (guard_body for
 * the detaching actions, attachment_delete_body): then(a) once the compute service allows
 * the request, at once when there is nothing to ask. */
void guard_check(struct action_ctx *a, void (*then)(struct action_ctx *a));

/* extend.c */
const struct policy *extend_policy(const struct action_ctx *a);
int extend_body(db_conn *db, struct action_ctx *a);
int completion_body(db_conn *db, struct action_ctx *a);

/* reset.c */
int reset_check(struct shim_request *r, const char *name, const json_t *params);
int reset_body(db_conn *db, struct action_ctx *a);
extern const char *const reset_volume_statuses[];
extern const char *const reset_attach_statuses[];
extern const char *const reset_migration_statuses[];

/* attach.c: the legacy attach and detach actions. */
int reserve_body(db_conn *db, struct action_ctx *a);
int unreserve_body(db_conn *db, struct action_ctx *a);
int begin_detaching_body(db_conn *db, struct action_ctx *a);
int roll_detaching_body(db_conn *db, struct action_ctx *a);
int readonly_body(db_conn *db, struct action_ctx *a);
int initialize_body(db_conn *db, struct action_ctx *a);
void initialize_after(struct action_ctx *a);
int attach_check(struct shim_request *r, const char *name, const json_t *params);
int attach_body(db_conn *db, struct action_ctx *a);
void attach_after(struct action_ctx *a);
int guard_body(db_conn *db, struct action_ctx *a);
void terminate_after(struct action_ctx *a);
void detach_after(struct action_ctx *a);
void force_detach_after(struct action_ctx *a);

/* attachments.c: the attachments API (docs/cinder.md §14.1). */
int attachment_create_body(db_conn *db, struct action_ctx *a);
void attachment_create_after(struct action_ctx *a);
int attachment_update_body(db_conn *db, struct action_ctx *a);
void attachment_update_after(struct action_ctx *a);
int attachment_delete_body(db_conn *db, struct action_ctx *a);
void attachment_delete_after(struct action_ctx *a);
int attachment_complete_body(db_conn *db, struct action_ctx *a);
int attachment_connector_check(struct shim_request *r, const char *name, const json_t *obj);

/* migrate.c: os-migrate_volume and os-migrate_volume_completion (docs/cinder.md §16.3). */
int migrate_body(db_conn *db, struct action_ctx *a);
int migrate_completion_body(db_conn *db, struct action_ctx *a);
void migrate_completion_after(struct action_ctx *a);
/* retype.c: os-retype (docs/cinder.md §16.4). */
extern const char *const retype_migration_policies[];
int retype_body(db_conn *db, struct action_ctx *a);

/* How a delete starts: Cinder's delete(force, cascade) or its unmanage. */
struct volumes_delete_opts {
	bool force;          /* os-force_delete, DELETE ?force=true: any status */
	bool cascade;        /* DELETE ?cascade=true: the snapshots go with the volume */
	bool unmanage_only;  /* os-unmanage: the backing store is kept */
};

/*
 * volumes.c: the start of a delete, shared by DELETE /volumes/{id}, os-force_delete and
 * os-unmanage, inside the caller's transaction on row (loaded and locked, policy checked): a
 * volume without host is removed at once with its quota (*cast false); otherwise Cinder's
 * conditions: not attached, not migrating, without force a deletable status, without cascade
 * no snapshots, with cascade (and without force) none in a status other than available or
 * error and, for a non-admin, none of another project. The volume then goes "deleting", or
 * "unmanaging" when unmanage_only, or "error_managing_deleting" for a volume whose manage
 * failed; with cascade its snapshots go "deleting" too. args gets the delete_volume cast's
 * arguments (*cast true). Returns DB_OK, TXN_FAULT with Cinder's 400 set, or a db status.
 */
__attribute__((warn_unused_result))
int volumes_delete_begin(db_conn *db, struct txn_ctx *t, const struct vol_row *row,
			 const struct volumes_delete_opts *o, union proto_args *args, bool *cast);

/*
 * Queues the usage event event_type ("volume.delete.start", ...) about volume_id in the
 * caller's transaction, as Cinder's API sends the few it sends itself (docs/cinder.md §21):
 * publisher "volume.<[DEFAULT] host>", the request's id. status and size are the values to
 * report; with status NULL the volume row is locked and its own are reported (nothing is
 * queued when it is gone). Returns DB_OK or a negative db status.
 */
__attribute__((warn_unused_result))
int volumes_notify(db_conn *db, const struct shim_request *r, const char *event_type,
		   const char *volume_id, const char *status, int size);

/* manage.c: os-unmanage (docs/cinder.md §20.1). */
int unmanage_body(db_conn *db, struct action_ctx *a);

/* image.c: the image actions (docs/cinder.md §18). */
int image_md_set_body(db_conn *db, struct action_ctx *a);
int image_md_show_body(db_conn *db, struct action_ctx *a);
int image_md_unset_body(db_conn *db, struct action_ctx *a);
void image_md_reply(struct action_ctx *a);
int upload_body(db_conn *db, struct action_ctx *a);
void upload_after(struct action_ctx *a);
const struct policy *reimage_policy_for(const struct action_ctx *a);
void reimage_before(struct action_ctx *a);
int reimage_body(db_conn *db, struct action_ctx *a);

/* snapshots.c: the snapshot actions (docs/cinder.md §17.5) and the volume actions that
 * stand on snapshots. */
extern const char *const snapshot_statuses[];
int snapshot_reset_body(db_conn *db, struct action_ctx *a);
int snapshot_force_delete_body(db_conn *db, struct action_ctx *a);
int snapshot_update_status_check(struct shim_request *r, const char *name, const json_t *obj);
int snapshot_update_status_body(db_conn *db, struct action_ctx *a);
int revert_body(db_conn *db, struct action_ctx *a);
/* volumes.c: os-force_delete of a volume. */
int volumes_force_delete_body(db_conn *db, struct action_ctx *a);

/* update.c: actions that change a volume's own attributes. */
int bootable_body(db_conn *db, struct action_ctx *a);

#endif
