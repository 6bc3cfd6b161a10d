-- quota_lock.sql - the first of the two statements of a quota commit (core/quota.c,
-- quota_commit_set; quota_commit.sql is the second). core/quota.c embeds this file; make bench
-- renders it for pgbench with the manager's other statements.
-- $1 reservation uuids, $2 the project of each. Locks the usage rows the live ones settle, in
-- id order, so that two transactions committing on the same rows queue instead of
-- deadlocking.
SELECT q.id FROM quota_usages q
WHERE q.id IN (SELECT r.usage_id FROM reservations r
               JOIN unnest($1::varchar[], $2::varchar[]) AS x(uuid, project_id)
                 ON r.uuid = x.uuid AND r.project_id = x.project_id
               WHERE r.deleted = false)
ORDER BY q.id
FOR UPDATE
