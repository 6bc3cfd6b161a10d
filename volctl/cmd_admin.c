/*
 * cmd_admin.c - database administration: db-sync, type-create, quota-set, attach.
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "common/util.h"
#include "core/migrate.h"
#include "core/quota.h"
#include "core/volume.h"
#include "proto/names.h"
#include "volctl/volctl.h"

#define ADMIN_TXN_ATTEMPTS 3
#define ADMIN_NAME_MAX 255

/* Transaction body codes of the attach command (positive: rolled back, not db errors). */
enum { ATTACH_REFUSED = 100, ATTACH_READONLY = 101, ATTACH_SAME_INSTANCE = 102 };

/* Runs fn in a transaction on volctl's connection; a db failure is reported. */
static int admin_txn(db_txn_fn fn, void *arg)
{
	db_conn *db = volctl_db();

	if (db == NULL)
		return VOLCTL_FAIL;
	int rc = db_transaction(db, fn, arg, ADMIN_TXN_ATTEMPTS);
	return rc <= 0 && rc != DB_OK ? volctl_db_fail(db, rc) : rc;
}

/* ---- db-sync ---- */

static int run_db_sync(struct volctl_args *a)
{
	db_conn *db = volctl_db();
	int applied = 0;

	(void)a;
	if (db == NULL)
		return VOLCTL_FAIL;
	int rc = migrate_apply(db, &applied);
	if (rc != DB_OK)
		return volctl_fail("failed after %d migrations: %s (see the log above)", applied,
				   db_strerror(rc));
	printf("applied %d migrations\n", applied);
	return VOLCTL_OK;
}

/* ---- type-create ---- */

static int check_type_create(struct volctl_args *a)
{
	for (int i = 0; i < a->nlist; i++) {
		const char *eq = strchr(a->list[i], '=');

		if (eq == NULL || eq == a->list[i])
			return volctl_usage_error("extra spec %s is not KEY=VALUE", a->list[i]);
		for (int j = 0; j < i; j++)
			if (strncmp(a->list[j], a->list[i], (size_t)(eq - a->list[i]) + 1) == 0)
				return volctl_usage_error("extra spec %.*s given twice",
							  (int)(eq - a->list[i]), a->list[i]);
	}
	if (strlen(a->pos[0]) > ADMIN_NAME_MAX)
		return volctl_usage_error("the type name is longer than %d characters",
					  ADMIN_NAME_MAX);
	return VOLCTL_OK;
}

struct type_create_txn {
	const struct volctl_args *a;
	char id[37];
};

static int txn_type_create(db_conn *db, void *arg)
{
	struct type_create_txn *t = arg;

	return vol_type_create(db, t->a->pos[0], t->a->list, t->a->nlist, t->id);
}

static int run_type_create(struct volctl_args *a)
{
	struct type_create_txn t = { a, "" };
	db_conn *db = volctl_db();

	if (db == NULL)
		return VOLCTL_FAIL;
	int rc = db_transaction(db, txn_type_create, &t, ADMIN_TXN_ATTEMPTS);
	if (rc == DB_DUPLICATE)
		return volctl_fail("volume type %s already exists", a->pos[0]);
	if (rc != DB_OK)
		return volctl_db_fail(db, rc);
	printf("%s\n", t.id);
	return VOLCTL_OK;
}

/* ---- quota-set ---- */

static int check_quota_set(struct volctl_args *a)
{
	if (util_parse_long(a->pos[2], -1, INT32_MAX, &a->limit) != 0)
		return volctl_usage_error("limit %s is not an integer in [-1, %d]", a->pos[2],
					  INT32_MAX);
	if (strlen(a->pos[0]) > ADMIN_NAME_MAX || strlen(a->pos[1]) > ADMIN_NAME_MAX)
		return volctl_usage_error("project and resource are at most %d characters",
					  ADMIN_NAME_MAX);
	return VOLCTL_OK;
}

static int txn_quota_set(db_conn *db, void *arg)
{
	const struct volctl_args *a = arg;

	return quota_set_limit(db, a->pos[0], a->pos[1], a->limit);
}

static int run_quota_set(struct volctl_args *a)
{
	return admin_txn(txn_quota_set, a);
}

/* ---- attach ---- */

static int check_attach(struct volctl_args *a)
{
	if (!util_is_uuid(a->pos[0]))
		return volctl_usage_error("volume id %s is not a uuid", a->pos[0]);
	if (a->instance == NULL)
		return volctl_usage_error("--instance is required");
	if (!util_is_uuid(a->instance))
		return volctl_usage_error("instance %s is not a uuid", a->instance);
	if (a->mode == NULL)
		a->mode = "rw";
	if (strcmp(a->mode, "rw") != 0 && strcmp(a->mode, "ro") != 0)
		return volctl_usage_error("mode must be rw or ro, not %s", a->mode);
	if ((a->host != NULL && strlen(a->host) > ADMIN_NAME_MAX) ||
	    (a->mountpoint != NULL && strlen(a->mountpoint) > ADMIN_NAME_MAX))
		return volctl_usage_error("host and mountpoint are at most %d characters",
					  ADMIN_NAME_MAX);
	return VOLCTL_OK;
}

struct attach_txn {
	const struct volctl_args *a;
	struct vol_row vol;
	char attachment_id[37];
};

/*
 * Attaches as Cinder's reserve + attach would: only an available volume, or an in-use
 * multiattach one not yet attached to this instance; a read-only volume only in ro mode.
 */
static int txn_attach(db_conn *db, void *arg)
{
	struct attach_txn *t = arg;
	const char *id = t->a->pos[0];
	char readonly[VOL_STR];
	int rc;

	rc = vol_get(db, id, true, &t->vol);
	if (rc != DB_OK)
		return rc;
	if (strcmp(t->vol.status, VOL_S_AVAILABLE) != 0 &&
	    !(strcmp(t->vol.status, VOL_S_IN_USE) == 0 && t->vol.multiattach))
		return ATTACH_REFUSED;
	for (int i = 0; i < t->vol.nattachments && i < VOL_MAX_ATTACHMENTS; i++)
		if (strcmp(t->vol.attachments[i].instance_uuid, t->a->instance) == 0)
			return ATTACH_SAME_INSTANCE;
	rc = vol_admin_md_get(db, id, ADMIN_MD_READONLY, readonly, sizeof(readonly));
	if (rc != DB_OK && rc != VOL_NOT_FOUND)
		return rc;
	if (rc == DB_OK && strcmp(readonly, "True") == 0 && strcmp(t->a->mode, "rw") == 0)
		return ATTACH_READONLY;
	return vol_attach(db, id, t->a->instance, t->a->host, t->a->mountpoint, t->a->mode,
			  t->attachment_id);
}

static int run_attach(struct volctl_args *a)
{
	static struct attach_txn t;   /* a vol_row is large; volctl is single-threaded */
	const char *id = a->pos[0];

	memset(&t, 0, sizeof(t));
	t.a = a;
	switch (admin_txn(txn_attach, &t)) {
	case DB_OK:
		printf("%s\n", t.attachment_id);
		return VOLCTL_OK;
	case VOL_NOT_FOUND:
		return volctl_fail("volume %s not found", id);
	case ATTACH_REFUSED:
		return volctl_fail("volume %s is %s; it must be available, or in-use with"
				   " multiattach", id, t.vol.status);
	case ATTACH_SAME_INSTANCE:
		return volctl_fail("volume %s is already attached to instance %s", id,
				   a->instance);
	case ATTACH_READONLY:
		return volctl_fail("volume %s is read-only; attach it with --mode ro", id);
	default:
		return VOLCTL_FAIL;   /* reported by admin_txn */
	}
}

static const struct volctl_opt opts_none[] = { VOLCTL_OPT_END };
static const struct volctl_opt opts_type_create[] = {
	VOLCTL_OPT_LIST("--extra-spec"),
	VOLCTL_OPT_END,
};
static const struct volctl_opt opts_attach[] = {
	VOLCTL_OPT_STR("--instance", instance),
	VOLCTL_OPT_STR("--host", host),
	VOLCTL_OPT_STR("--mountpoint", mountpoint),
	VOLCTL_OPT_STR("--mode", mode),
	VOLCTL_OPT_END,
};

const struct volctl_cmd volctl_cmds_admin[] = {
	{ "db-sync", "",
	  "Creates or upgrades volmgr's tables (Cinder's tables it shares, and its own) by\n"
	  "applying the migrations built into volctl that the database has not seen yet.\n"
	  "Safe to run again, and on a database that Cinder's `cinder-manage db sync` made.\n"
	  "Prints \"applied N migrations\".",
	  opts_none, 0, 0, NULL, run_db_sync },
	{ "type-create", "NAME [--extra-spec KEY=VALUE]...",
	  "Creates a public volume type with the given extra specs, e.g.\n"
	  "  --extra-spec provisioning:max_vol_size=100 --extra-spec 'multiattach=<is> True'\n"
	  "Prints the new type's id. Fails if a live type has that name.",
	  opts_type_create, 1, 1, check_type_create, run_type_create },
	{ "quota-set", "PROJECT RESOURCE LIMIT",
	  "Sets the project's limit for a quota resource (volumes, gigabytes, snapshots,\n"
	  "per_volume_gigabytes, gigabytes_<type>, ...); -1 means unlimited.",
	  opts_none, 3, 3, check_quota_set, run_quota_set },
	{ "attach", "VOLUME_ID --instance UUID [--host NAME] [--mountpoint /dev/vdb] [--mode rw|ro]",
	  "Marks the volume attached to the instance, as Cinder's attach does: the volume\n"
	  "must be available, or in-use with multiattach. Prints the attachment id.",
	  opts_attach, 1, 1, check_attach, run_attach },
	{ NULL, NULL, NULL, NULL, 0, 0, NULL, NULL },
};
