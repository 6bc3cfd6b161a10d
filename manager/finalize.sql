-- finalize.sql - the one finalization of an extend (the quota commit, then finalize), which
-- every successful extend_volume and extend_volume_completion runs, alone (arrays of one
-- element) or in a group; and the other statements of the group commit (manager/batch.c).
--
-- A batch of K messages costs these statements, each once per batch whatever K is: set-based
-- over arrays, one statement per step. The manager embeds this file (manager/finalize_sql.c)
-- and splits it at the "-- statement:" lines; make bench renders the same file into a pgbench
-- script (scripts/bench/bench.py), so that the database ceiling it measures is this SQL.
-- Parameters are text arrays, element i belonging to message i of the batch.
--
-- A group's transaction: claim, lock_volumes, (unclaim), (notify_start), the quota commit
-- (core/quota_commit.sql), finalize, COMMIT.
-- Volumes are locked in id order and quota usages in id order, so two managers working on
-- the same rows queue behind each other instead of deadlocking.

-- statement: claim
-- $1 the messages' _unique_id, $2 their methods, $3 the outcome each records if it stays in
-- the group. Returns the ids claimed now; an id missing from the result was processed before
-- (or is being processed by another manager, which this waits for).
INSERT INTO volmgr_processed_messages (unique_id, method, processed_at, outcome)
SELECT u.id, u.method, now() AT TIME ZONE 'utc', u.outcome
FROM unnest($1::varchar[], $2::varchar[], $3::varchar[]) AS u(id, method, outcome)
ON CONFLICT (unique_id) DO NOTHING
RETURNING unique_id

-- statement: lock_volumes
-- $1 volume ids. Locks the live rows, in the order the manager's binary search expects, with
-- the reservations of each volume's pending extend: a completion joins the group only when it
-- settles exactly those (the fence against old messages, manager/batch.c).
SELECT v.id, v.status, v.size, v.host, v.project_id,
       COALESCE(v._name_id, v.id) AS store_id,
       (SELECT count(*) FROM volume_attachment a
        WHERE a.volume_id = v.id AND a.deleted = false) AS nattachments,
       (SELECT p.reservations FROM volmgr_pending_extends p
        WHERE p.volume_id = v.id) AS pending_reservations
FROM volumes v
WHERE v.id = ANY($1::varchar[]) AND v.deleted = false
ORDER BY v.id COLLATE "C"
FOR UPDATE OF v

-- statement: unclaim
-- $1 the _unique_id of messages taken out of the batch: they go one at a time afterwards.
DELETE FROM volmgr_processed_messages WHERE unique_id = ANY($1::varchar[])

-- statement: notify_start
-- $1 volume ids, $2 their statuses, $3 their sizes (as locked: extending, the old size), $4
-- request ids, $5 the notifications' publisher_id: volume.resize.start of each extend_volume
-- of the group, which extend_volume queues before it grows the volume (none when $5 is '',
-- the noop notification driver: manager/records.h).
INSERT INTO volmgr_notifications (event_type, publisher_id, priority, payload, request_id,
                                  created_at)
SELECT 'volume.resize.start', $5::varchar, 'INFO', p.payload, b.request_id,
       now() AT TIME ZONE 'utc'
FROM unnest($1::varchar[], $4::varchar[]) WITH ORDINALITY AS b(volume_id, request_id, n)
JOIN volmgr_usage_payloads($1::varchar[], $2::varchar[], $3::integer[]) p
  ON p.volume_id = b.volume_id
WHERE $5::varchar <> ''
ORDER BY b.n

-- statement: finalize
-- $1 volume ids, $2 new sizes, $3 statuses after (available / in-use), $4 request ids; $5 pool
-- hosts, $6 pools, $7 size deltas (one per message); $8 the notifications' publisher_id ('':
-- none, as in notify_start).
-- Runs after the quota commit of the same reservations (core/quota_commit.sql, the quota
-- engine's own statement).
-- Cinder's completion (docs/cinder.md §2.3): quota commit, size and status, pool
-- capacity, volume.resize.end, and the pending row and extend_* admin metadata removed.
-- Every sub-statement sees the rows as they were before this statement, so the payloads
-- (volmgr_usage_payloads, inlined: one query for the batch) read the pre-change rows and take
-- status and size from the batch. Volume ids are unique within a batch (batch.c).
WITH b AS (
    SELECT * FROM unnest($1::varchar[], $2::integer[], $3::varchar[], $4::varchar[])
        WITH ORDINALITY AS b(volume_id, new_size, status, request_id, n)
), vols AS (
    UPDATE volumes v
    SET status = b.status, size = b.new_size, updated_at = now() AT TIME ZONE 'utc'
    FROM b WHERE v.id = b.volume_id AND v.deleted = false
    RETURNING v.id
), pools AS (
    INSERT INTO volmgr_pool_stats (host, pool, allocated_capacity_gb)
    SELECT host, pool, sum(delta)
    FROM unnest($5::varchar[], $6::varchar[], $7::bigint[]) AS p(host, pool, delta)
    GROUP BY host, pool
    ON CONFLICT (host, pool) DO UPDATE
    SET allocated_capacity_gb = volmgr_pool_stats.allocated_capacity_gb
                                + EXCLUDED.allocated_capacity_gb
    RETURNING 1
), notes AS (
    INSERT INTO volmgr_notifications (event_type, publisher_id, priority, payload,
                                      request_id, created_at)
    SELECT 'volume.resize.end', $8::varchar, 'INFO', p.payload, b.request_id,
           now() AT TIME ZONE 'utc'
    FROM b JOIN volmgr_usage_payloads($1::varchar[], $3::varchar[], $2::integer[]) p
      ON p.volume_id = b.volume_id
    WHERE $8::varchar <> ''
    ORDER BY b.n
    RETURNING 1
), pending AS (
    DELETE FROM volmgr_pending_extends p USING b WHERE p.volume_id = b.volume_id
    RETURNING 1
), keys AS (
    UPDATE volume_admin_metadata m
    SET deleted = true, deleted_at = now() AT TIME ZONE 'utc'
    FROM b
    WHERE m.volume_id = b.volume_id AND m.deleted = false
      AND m.key IN ('extend_new_size', 'extend_reservations')
    RETURNING 1
)
SELECT (SELECT count(*) FROM vols) AS volumes, (SELECT count(*) FROM notes) AS notifications
