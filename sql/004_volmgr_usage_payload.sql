-- 004_volmgr_usage_payload.sql: the payload of a volume usage notification (Cinder's
-- _usage_from_volume), built where the rows are, so that the single-message path
-- (manager/records.c) and the set-based group commit (manager/finalize.sql) write the same
-- document. status and size are the values after the change; text columns holding '' are
-- reported as null, as the C structs that carried them before did.
CREATE OR REPLACE FUNCTION volmgr_usage_payload(p_volume_id character varying,
						 p_status character varying,
						 p_size integer)
RETURNS text LANGUAGE sql STABLE AS $fn$
	SELECT json_build_object(
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
		'status', p_status,
		'snapshot_id', NULL,
		'size', p_size,
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
	FROM volumes v WHERE v.id = p_volume_id
$fn$;
