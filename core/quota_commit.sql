-- quota_commit.sql - committing quota reservations as Cinder's reservation_commit does: the
-- quota engine's one commit arithmetic, which every commit runs (core/quota.c embeds this
-- file; quota_lock.sql runs first). make bench renders it for pgbench.
-- $1 reservation uuids, $2 the project of each; unknown or settled ones are ignored.
-- Each live reservation is soft-deleted (updated_at set with deleted_at, as Cinder's ORM does)
-- and its usage row gets, summed over the reservations that settle it: in_use += delta, never
-- below 0; reserved -= the positive deltas (only those were reserved), never below 0. One
-- reservation per usage row is what a commit holds in practice (one per resource); with
-- several, the sum is applied at once.
WITH settled AS (
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
WHERE q.id = s.usage_id
