-- quota_commit.sql - committing quota reservations as Cinder's reservation_commit does: the
-- quota engine's one commit arithmetic, which every commit runs (core/quota.c embeds this
-- file, quota_commit_set; make bench renders it for pgbench with the manager's statements).
-- $1 reservation uuids, $2 the project of each; unknown or settled ones are ignored.
--
-- locked takes the row locks of the usage rows the live reservations settle, in id order, so
-- that two transactions committing on the same rows queue instead of deadlocking: the
-- condition on its count is a one-time filter, which runs it to the end before the update
-- reads a row. Each live reservation is then soft-deleted (updated_at set with deleted_at,
-- as Cinder's ORM does) and its usage row gets, summed over the reservations that settle it:
-- in_use += delta, never below 0; reserved -= the positive deltas (only those were
-- reserved), never below 0. One reservation per usage row is what a commit holds in practice
-- (one per resource); with several, the sum is applied at once.
WITH locked AS (
    SELECT q.id FROM quota_usages q
    WHERE q.id IN (SELECT r.usage_id FROM reservations r
                   JOIN unnest($1::varchar[], $2::varchar[]) AS x(uuid, project_id)
                     ON r.uuid = x.uuid AND r.project_id = x.project_id
                   WHERE r.deleted = false)
    ORDER BY q.id
    FOR UPDATE
), settled AS (
    UPDATE reservations r
    SET deleted = true, deleted_at = now() AT TIME ZONE 'utc',
        updated_at = now() AT TIME ZONE 'utc'
    FROM unnest($1::varchar[], $2::varchar[]) AS x(uuid, project_id)
    WHERE r.uuid = x.uuid AND r.project_id = x.project_id AND r.deleted = false
    RETURNING r.usage_id, r.delta
)
UPDATE quota_usages q
SET in_use = GREATEST(q.in_use + s.delta, 0),
    reserved = GREATEST(q.reserved - s.positive, 0),
    updated_at = now() AT TIME ZONE 'utc'
FROM (SELECT usage_id, sum(delta) AS delta, sum(GREATEST(delta, 0)) AS positive
      FROM settled GROUP BY usage_id) s
WHERE q.id = s.usage_id AND (SELECT count(*) FROM locked) >= 0
