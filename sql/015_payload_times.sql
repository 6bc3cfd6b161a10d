-- 015_payload_times.sql: the times of the volume usage payload as Cinder writes them. Cinder's
-- _usage_from_volume gives created_at and launched_at as isoformat() of the row's datetime,
-- which its objects read as aware UTC: "+00:00" at the end, and no fraction when the
-- microseconds are 0; a volume without the time gets utcnow(), naive (no offset). 005 wrote a
-- naive time with a fraction always: its payload function is replaced here with the same
-- document but for those two fields (volmgr_payload_time, 012).

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
		'launched_at', volmgr_payload_time(v.launched_at),
		'created_at', volmgr_payload_time(v.created_at),
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
