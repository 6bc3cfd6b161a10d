-- 012_notification_relay.sql: what the manager's notification relay (manager/relay.c) needs
-- of the outbox volmgr_notifications (002), and the payload of Cinder's snapshot events.

-- A message_id given once, when the event is queued: a row published again after a crash
-- between the broker's confirm and its delete carries the same message_id and _unique_id,
-- so that a consumer can recognise the duplicate, as oslo's listeners do by _unique_id.
ALTER TABLE volmgr_notifications ADD COLUMN IF NOT EXISTS message_id uuid NOT NULL
	DEFAULT gen_random_uuid();

-- Wakes the relays that LISTEN on volmgr_notifications. PostgreSQL delivers a NOTIFY at the
-- commit of the transaction that inserted the rows (never for one that rolled back) and
-- folds identical ones of a transaction into one, so one per statement is enough; the relay
-- then reads the outbox itself and does not care which rows the notification was for. The
-- body is one line, so that a dump of the database split at the ends of its statements (the
-- interop test's comparison) keeps the function in one piece.
CREATE OR REPLACE FUNCTION volmgr_notifications_wake() RETURNS trigger
LANGUAGE plpgsql AS $fn$ BEGIN PERFORM pg_notify('volmgr_notifications', ''); RETURN NULL; END $fn$;

DROP TRIGGER IF EXISTS volmgr_notifications_wake ON volmgr_notifications;
CREATE TRIGGER volmgr_notifications_wake AFTER INSERT ON volmgr_notifications
	FOR EACH STATEMENT EXECUTE FUNCTION volmgr_notifications_wake();

-- Python's isoformat(sep) of a naive datetime: no fraction when the microseconds are 0.
CREATE OR REPLACE FUNCTION volmgr_isoformat(p_t timestamp without time zone, p_sep text)
RETURNS text LANGUAGE sql STABLE AS $fn$
	SELECT to_char(p_t, 'YYYY-MM-DD') || p_sep || to_char(p_t, 'HH24:MI:SS') ||
	       CASE to_char(p_t, 'US') WHEN '000000' THEN '' ELSE '.' || to_char(p_t, 'US') END
$fn$;

-- A payload's time as Cinder's _usage_from_volume and _usage_from_snapshot write it:
-- isoformat() of the row's time, which Cinder's objects read as aware UTC (so "+00:00" at the
-- end), or of utcnow(), naive (no offset), when the row has none. The relay's envelope
-- timestamp is volmgr_isoformat(created_at, ' '), oslo's str(utcnow()).
CREATE OR REPLACE FUNCTION volmgr_payload_time(p_t timestamp without time zone)
RETURNS text LANGUAGE sql STABLE AS $fn$
	SELECT COALESCE(volmgr_isoformat(p_t, 'T') || '+00:00',
			volmgr_isoformat(now() AT TIME ZONE 'utc', 'T'))
$fn$;

-- The payload of a snapshot usage notification (Cinder's _usage_from_snapshot), with the
-- status after the change (p_status, or the row's own when NULL). The volume is read even
-- when deleted, as Cinder reads it. deleted and metadata pass through Cinder's
-- null_safe_str: '' for false and for no metadata, else Python's text of the value ("True",
-- "{'key': 'value'}").
CREATE OR REPLACE FUNCTION volmgr_snapshot_usage_payload(p_snapshot_id character varying,
							  p_status character varying)
RETURNS text LANGUAGE sql STABLE AS $fn$
	SELECT json_build_object(
		'tenant_id', s.project_id,
		'user_id', s.user_id,
		'availability_zone', v.availability_zone,
		'volume_id', s.volume_id,
		'volume_size', s.volume_size,
		'snapshot_id', s.id,
		'display_name', s.display_name,
		'created_at', volmgr_payload_time(s.created_at),
		'status', COALESCE(p_status, s.status),
		'deleted', CASE WHEN s.deleted THEN 'True' ELSE '' END,
		'metadata', COALESCE((
			SELECT '{' || string_agg(format('''%s'': ''%s''', m.key, m.value), ', '
						 ORDER BY m.id) || '}'
			FROM (SELECT id, key, value FROM snapshot_metadata
			      WHERE snapshot_id = s.id AND deleted = false ORDER BY id LIMIT 64) m),
			''))::text
	FROM snapshots s LEFT JOIN volumes v ON v.id = s.volume_id
	WHERE s.id = p_snapshot_id
$fn$;
