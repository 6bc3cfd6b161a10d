/*
 * actions.h - the volume action table (POST /v3/{p}/volumes/{id}/action).
 *
 * actions.c reads the body (a JSON object with exactly one key, the action name), finds the
 * action, runs its schema check, then one transaction that loads and locks the volume (404
 * when it is missing or not visible to the caller), checks the action's policy (403) and runs
 * the action's body. Adding an action means one row in the table and one handler.
 */
#ifndef VOLMGR_SHIM_ACTIONS_H
#define VOLMGR_SHIM_ACTIONS_H

#include <jansson.h>
#include "common/db.h"
#include "api-shim/request.h"
#include "api-shim/txn.h"
#include "api-shim/view.h"

struct action_def;

/* The attachment a detaching action would end, for the 409 guard (attach.c); server is ""
 * when there is nothing to ask the compute service. */
struct action_guard {
	char server[37];
	char attachment_id[37];
};

/* What an action's body receives. */
struct action_ctx {
	struct txn_ctx t;             /* first: the transaction's argument */
	const char *volume_id;
	const char *name;             /* the action name */
	json_t *params;               /* body[name], schema-checked */
	struct vol_full *vol;         /* the locked volume and its attachments (not its
				       * metadata), loaded in this attempt */
	const struct action_def *def;
	struct action_guard guard;    /* set by the bodies of the detaching actions */
};

/* Schema check of params (the value under the action name). 0, or -1 with a 400 set. */
typedef int (*action_schema_fn)(struct shim_request *r, const char *name, const json_t *params);

/*
 * The policy of an action for a loaded volume (it may depend on the volume and the
 * microversion, as os-extend's does). Returns a policy name.
 */
typedef const char *(*action_policy_fn)(const struct action_ctx *a);

/* The action inside the transaction, after lookup and policy: DB_OK to commit, TXN_FAULT with
 * a fault set, or a negative db status. */
typedef int (*action_body_fn)(db_conn *db, struct action_ctx *a);

/*
 * The part of an action that runs after its transaction committed, outside any transaction:
 * the RPC calls, which wait for the manager, and the compute API check. It sets the reply.
 * NULL means a bare 202.
 */
typedef void (*action_after_fn)(struct action_ctx *a);

struct action_def {
	const char *name;
	action_schema_fn schema;
	action_policy_fn policy;
	action_body_fn body;
	action_after_fn after;
};

/*
 * The part of the endpoint that needs neither the database nor the broker: parses r's body,
 * finds the action (a->def, a->name, a->params) and runs its schema check. Returns the body
 * (the caller json_decref()s it; a->name and a->params point into it), or NULL with a 400
 * fault set on r. tests/fuzz/fuzz_shim_action.c drives it directly.
 */
__attribute__((warn_unused_result))
json_t *actions_parse(struct shim_request *r, struct action_ctx *a);

/* extend.c */
int extend_schema(struct shim_request *r, const char *name, const json_t *params);
const char *extend_policy(const struct action_ctx *a);
int extend_body(db_conn *db, struct action_ctx *a);
int completion_schema(struct shim_request *r, const char *name, const json_t *params);
const char *completion_policy(const struct action_ctx *a);
int completion_body(db_conn *db, struct action_ctx *a);

/* reset.c */
int reset_schema(struct shim_request *r, const char *name, const json_t *params);
const char *reset_policy(const struct action_ctx *a);
int reset_body(db_conn *db, struct action_ctx *a);

/* attach.c: the legacy attach and detach actions. */
int noparams_schema(struct shim_request *r, const char *name, const json_t *params);
const char *attach_policy(const struct action_ctx *a);
int reserve_body(db_conn *db, struct action_ctx *a);
int unreserve_body(db_conn *db, struct action_ctx *a);
int begin_detaching_body(db_conn *db, struct action_ctx *a);
int roll_detaching_body(db_conn *db, struct action_ctx *a);
int readonly_schema(struct shim_request *r, const char *name, const json_t *params);
int readonly_body(db_conn *db, struct action_ctx *a);
int initialize_schema(struct shim_request *r, const char *name, const json_t *params);
int initialize_body(db_conn *db, struct action_ctx *a);
void initialize_after(struct action_ctx *a);
int attach_schema(struct shim_request *r, const char *name, const json_t *params);
int attach_body(db_conn *db, struct action_ctx *a);
void attach_after(struct action_ctx *a);
int terminate_schema(struct shim_request *r, const char *name, const json_t *params);
int detach_schema(struct shim_request *r, const char *name, const json_t *params);
int force_detach_schema(struct shim_request *r, const char *name, const json_t *params);
int guard_body(db_conn *db, struct action_ctx *a);
void terminate_after(struct action_ctx *a);
void detach_after(struct action_ctx *a);
void force_detach_after(struct action_ctx *a);

#endif
