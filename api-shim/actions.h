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

/* What an action's body receives. */
struct action_ctx {
	struct txn_ctx t;             /* first: the transaction's argument */
	const char *volume_id;
	const char *name;             /* the action name */
	json_t *params;               /* body[name], schema-checked */
	struct vol_full *vol;         /* the locked volume, loaded in this attempt */
	const struct action_def *def;
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

struct action_def {
	const char *name;
	action_schema_fn schema;
	action_policy_fn policy;
	action_body_fn body;
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

#endif
