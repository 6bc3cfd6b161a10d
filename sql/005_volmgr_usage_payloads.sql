-- 005_volmgr_usage_payloads.sql: the usage payloads of a set of volumes in one query.
-- The group commit (manager/finalize.sql) used to call volmgr_usage_payload once per message,
-- and a SQL function with a FROM clause is not inlined: each call ran as a query of its own,
-- about a third of the group's database time. volmgr_usage_payloads is a single SELECT, which
-- the planner inlines into the calling statement; volmgr_usage_payload (004, the one-message
-- path of manager/records.c) becomes a call of it, so that both paths still write the same
-- document. Element i of the three arrays belongs to volume i; status and size are the values
-- after the change; a volume id with no row yields no payload.
CREATE OR REPLACE FUNCTION volmgr_usage_payloads(p_volume_ids character varying[],
						  p_statuses character varying[],
						  p_sizes integer[])
RETURNS TABLE (volume_id character varying, payload text) LANGUAGE sql STABLE AS $fn$
	SELECT v.id, json_build_object(
		'tenant_id', COALESCE(v.project_id, ''),
		'host', NULLIF(v.host, ''),
		'user_id', COALESCE(v.user_id, ''),
		'availability_zone', NULLIF(v.availability_zone, ''),
		'volume_id', v.id,
		'volume_type', NULLIF(v.volume_type_id, ''),
		'display_name', NULLIF(v.display_name, ''),
		'launched_at', to_char(COALESCE(v.launched_at, now() AT TIME ZONE 'utc'),
				       'YYYY-MM-DD"T"HH24:MI:SS.US'),
		'created_at', to_char(COALESCE(v.created_at, now() AT TIME ZONE 'utc'),
				      'YYYY-MM-DD"T"HH24:MI:SS.US'),
		'status', x.status,
		'snapshot_id', NULL,
		'size', x.size,
		'replication_status', NULL,
		'replication_extended_status', NULL,
		'replication_driver_data', NULL,
		'metadata', COALESCE((
			SELECT json_agg(json_build_object('key', m.key, 'value', m.value)
					ORDER BY m.id)
			FROM (SELECT id, key, value FROM volume_metadata
			      WHERE volume_id = v.id AND deleted = false ORDER BY id LIMIT 64) m),
			'[]'::json),
		'volume_attachment', COALESCE((
			SELECT json_agg(json_build_object(
				'id', a.id, 'volume_id', v.id,
				'instance_uuid', NULLIF(a.instance_uuid, ''),
				'attached_host', NULLIF(a.attached_host, ''),
				'mountpoint', NULLIF(a.mountpoint, ''),
				'attach_status', NULLIF(a.attach_status, ''),
				'attach_mode', NULLIF(a.attach_mode, ''),
				'attach_time', to_char(a.attach_time, 'YYYY-MM-DD"T"HH24:MI:SS.US'))
				ORDER BY a.created_at, a.id)
			FROM (SELECT * FROM volume_attachment
			      WHERE volume_id = v.id AND deleted = false
			      ORDER BY created_at, id LIMIT 16) a),
			'[]'::json))::text
	FROM unnest(p_volume_ids, p_statuses, p_sizes) AS x(volume_id, status, size)
	JOIN volumes v ON v.id = x.volume_id
$fn$;

CREATE OR REPLACE FUNCTION volmgr_usage_payload(p_volume_id character varying,
						 p_status character varying,
						 p_size integer)
RETURNS text LANGUAGE sql STABLE AS $fn$
	SELECT payload FROM volmgr_usage_payloads(ARRAY[p_volume_id], ARRAY[p_status],
						   ARRAY[p_size])
$fn$;
