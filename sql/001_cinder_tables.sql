-- 001_cinder_tables.sql: the Cinder tables volmgr shares, exactly as Cinder 21's own
-- migrations create them on PostgreSQL (docs/cinder.md §13): same columns in the same
-- order, types, nullability, defaults, index and constraint names.
--
-- Every statement is guarded (IF NOT EXISTS, NOT EXISTS seeds) so that running this file on a
-- database made by `cinder-manage db sync` changes nothing. Integer ids are what SQLAlchemy's
-- autoincrement makes of them (serial): an integer sequence owned by the column.
-- Cinder's foreign keys are kept where both tables are created here, so that volmgr meets the
-- same constraints on its own database as on Cinder's; the ones to tables volmgr does not
-- create (groups, consistencygroups, cgsnapshots, group_snapshots, quality_of_service_specs)
-- are left out.
-- Cinder sets `deleted` and the timestamps from Python, so those columns have no server
-- default; volmgr's statements always set them explicitly. Timestamps are naive UTC.

CREATE SEQUENCE IF NOT EXISTS volume_admin_metadata_id_seq AS integer;
CREATE SEQUENCE IF NOT EXISTS volume_metadata_id_seq AS integer;
CREATE SEQUENCE IF NOT EXISTS volume_glance_metadata_id_seq AS integer;
CREATE SEQUENCE IF NOT EXISTS volume_type_extra_specs_id_seq AS integer;
CREATE SEQUENCE IF NOT EXISTS quotas_id_seq AS integer;
CREATE SEQUENCE IF NOT EXISTS quota_classes_id_seq AS integer;
CREATE SEQUENCE IF NOT EXISTS quota_usages_id_seq AS integer;
CREATE SEQUENCE IF NOT EXISTS reservations_id_seq AS integer;
CREATE SEQUENCE IF NOT EXISTS services_id_seq AS integer;
CREATE SEQUENCE IF NOT EXISTS workers_id_seq AS integer;

CREATE TABLE IF NOT EXISTS services (
	created_at timestamp without time zone,
	updated_at timestamp without time zone,
	deleted_at timestamp without time zone,
	deleted boolean,
	id integer NOT NULL DEFAULT nextval('services_id_seq'::regclass),
	host character varying(255),
	"binary" character varying(255),
	topic character varying(255),
	report_count integer NOT NULL,
	disabled boolean,
	availability_zone character varying(255),
	disabled_reason character varying(255),
	modified_at timestamp without time zone,
	rpc_current_version character varying(36),
	object_current_version character varying(36),
	replication_status character varying(36),
	frozen boolean,
	active_backend_id character varying(255),
	cluster_name character varying(255),
	uuid character varying(36),
	CONSTRAINT services_pkey PRIMARY KEY (id)
);
ALTER SEQUENCE services_id_seq OWNED BY services.id;
CREATE UNIQUE INDEX IF NOT EXISTS services_uuid_idx ON services (uuid);

CREATE TABLE IF NOT EXISTS volume_types (
	created_at timestamp without time zone,
	updated_at timestamp without time zone,
	deleted_at timestamp without time zone,
	deleted boolean,
	id character varying(36) NOT NULL,
	name character varying(255),
	qos_specs_id character varying(36),
	is_public boolean,
	description character varying(255),
	CONSTRAINT volume_types_pkey PRIMARY KEY (id)
);
CREATE INDEX IF NOT EXISTS ix_volume_types_qos_specs_id ON volume_types (qos_specs_id);

CREATE TABLE IF NOT EXISTS volume_type_extra_specs (
	created_at timestamp without time zone,
	updated_at timestamp without time zone,
	deleted_at timestamp without time zone,
	deleted boolean,
	id integer NOT NULL DEFAULT nextval('volume_type_extra_specs_id_seq'::regclass),
	volume_type_id character varying(36) NOT NULL,
	key character varying(255),
	value character varying(255),
	CONSTRAINT volume_type_extra_specs_pkey PRIMARY KEY (id),
	CONSTRAINT volume_type_extra_specs_ibfk_1 FOREIGN KEY (volume_type_id)
		REFERENCES volume_types (id)
);
ALTER SEQUENCE volume_type_extra_specs_id_seq OWNED BY volume_type_extra_specs.id;
CREATE INDEX IF NOT EXISTS ix_volume_type_extra_specs_volume_type_id
	ON volume_type_extra_specs (volume_type_id);

CREATE TABLE IF NOT EXISTS volumes (
	created_at timestamp without time zone,
	updated_at timestamp without time zone,
	deleted_at timestamp without time zone,
	deleted boolean,
	id character varying(36) NOT NULL,
	ec2_id character varying(255),
	user_id character varying(255),
	project_id character varying(255),
	host character varying(255),
	size integer,
	availability_zone character varying(255),
	status character varying(255),
	attach_status character varying(255),
	scheduled_at timestamp without time zone,
	launched_at timestamp without time zone,
	terminated_at timestamp without time zone,
	display_name character varying(255),
	display_description character varying(255),
	provider_location character varying(256),
	provider_auth character varying(256),
	snapshot_id character varying(36),
	volume_type_id character varying(36) NOT NULL,
	source_volid character varying(36),
	bootable boolean,
	provider_geometry character varying(255),
	_name_id character varying(36),
	encryption_key_id character varying(36),
	migration_status character varying(255),
	replication_status character varying(255),
	replication_extended_status character varying(255),
	replication_driver_data character varying(255),
	consistencygroup_id character varying(36),
	provider_id character varying(255),
	multiattach boolean,
	previous_status character varying(255),
	cluster_name character varying(255),
	group_id character varying(36),
	service_uuid character varying(36),
	shared_targets boolean,
	use_quota boolean,
	CONSTRAINT volumes_pkey PRIMARY KEY (id),
	CONSTRAINT volumes_service_uuid_fkey FOREIGN KEY (service_uuid) REFERENCES services (uuid)
);
CREATE INDEX IF NOT EXISTS volumes_service_uuid_idx ON volumes (service_uuid, deleted);
CREATE INDEX IF NOT EXISTS ix_volumes_group_id ON volumes (group_id);
CREATE INDEX IF NOT EXISTS ix_volumes_consistencygroup_id ON volumes (consistencygroup_id);

CREATE TABLE IF NOT EXISTS volume_admin_metadata (
	created_at timestamp without time zone,
	updated_at timestamp without time zone,
	deleted_at timestamp without time zone,
	deleted boolean,
	id integer NOT NULL DEFAULT nextval('volume_admin_metadata_id_seq'::regclass),
	volume_id character varying(36) NOT NULL,
	key character varying(255),
	value character varying(255),
	CONSTRAINT volume_admin_metadata_pkey PRIMARY KEY (id),
	CONSTRAINT volume_admin_metadata_volume_id_fkey FOREIGN KEY (volume_id)
		REFERENCES volumes (id)
);
ALTER SEQUENCE volume_admin_metadata_id_seq OWNED BY volume_admin_metadata.id;
CREATE INDEX IF NOT EXISTS ix_volume_admin_metadata_volume_id
	ON volume_admin_metadata (volume_id);

CREATE TABLE IF NOT EXISTS volume_metadata (
	created_at timestamp without time zone,
	updated_at timestamp without time zone,
	deleted_at timestamp without time zone,
	deleted boolean,
	id integer NOT NULL DEFAULT nextval('volume_metadata_id_seq'::regclass),
	volume_id character varying(36) NOT NULL,
	key character varying(255),
	value character varying(255),
	CONSTRAINT volume_metadata_pkey PRIMARY KEY (id),
	CONSTRAINT volume_metadata_volume_id_fkey FOREIGN KEY (volume_id) REFERENCES volumes (id)
);
ALTER SEQUENCE volume_metadata_id_seq OWNED BY volume_metadata.id;
CREATE INDEX IF NOT EXISTS ix_volume_metadata_volume_id ON volume_metadata (volume_id);

CREATE TABLE IF NOT EXISTS volume_attachment (
	created_at timestamp without time zone,
	updated_at timestamp without time zone,
	deleted_at timestamp without time zone,
	deleted boolean,
	id character varying(36) NOT NULL,
	volume_id character varying(36) NOT NULL,
	attached_host character varying(255),
	instance_uuid character varying(36),
	mountpoint character varying(255),
	attach_time timestamp without time zone,
	detach_time timestamp without time zone,
	attach_mode character varying(36),
	attach_status character varying(255),
	connection_info text,
	connector text,
	CONSTRAINT volume_attachment_pkey PRIMARY KEY (id),
	CONSTRAINT volume_attachment_volume_id_fkey FOREIGN KEY (volume_id)
		REFERENCES volumes (id)
);
CREATE INDEX IF NOT EXISTS ix_volume_attachment_volume_id ON volume_attachment (volume_id);

CREATE TABLE IF NOT EXISTS snapshots (
	created_at timestamp without time zone,
	updated_at timestamp without time zone,
	deleted_at timestamp without time zone,
	deleted boolean,
	id character varying(36) NOT NULL,
	volume_id character varying(36) NOT NULL,
	user_id character varying(255),
	project_id character varying(255),
	status character varying(255),
	progress character varying(255),
	volume_size integer,
	scheduled_at timestamp without time zone,
	display_name character varying(255),
	display_description character varying(255),
	provider_location character varying(255),
	encryption_key_id character varying(36),
	volume_type_id character varying(36) NOT NULL,
	cgsnapshot_id character varying(36),
	provider_id character varying(255),
	provider_auth character varying(255),
	group_snapshot_id character varying(36),
	use_quota boolean,
	CONSTRAINT snapshots_pkey PRIMARY KEY (id),
	CONSTRAINT snapshots_volume_id_fkey FOREIGN KEY (volume_id) REFERENCES volumes (id)
);
CREATE INDEX IF NOT EXISTS ix_snapshots_cgsnapshot_id ON snapshots (cgsnapshot_id);
CREATE INDEX IF NOT EXISTS ix_snapshots_group_snapshot_id ON snapshots (group_snapshot_id);
CREATE INDEX IF NOT EXISTS ix_snapshots_volume_id ON snapshots (volume_id);

CREATE TABLE IF NOT EXISTS volume_glance_metadata (
	created_at timestamp without time zone,
	updated_at timestamp without time zone,
	deleted_at timestamp without time zone,
	deleted boolean,
	id integer NOT NULL DEFAULT nextval('volume_glance_metadata_id_seq'::regclass),
	volume_id character varying(36),
	snapshot_id character varying(36),
	key character varying(255),
	value text,
	CONSTRAINT volume_glance_metadata_pkey PRIMARY KEY (id),
	CONSTRAINT volume_glance_metadata_volume_id_fkey FOREIGN KEY (volume_id)
		REFERENCES volumes (id),
	CONSTRAINT volume_glance_metadata_snapshot_id_fkey FOREIGN KEY (snapshot_id)
		REFERENCES snapshots (id)
);
ALTER SEQUENCE volume_glance_metadata_id_seq OWNED BY volume_glance_metadata.id;
CREATE INDEX IF NOT EXISTS ix_volume_glance_metadata_snapshot_id
	ON volume_glance_metadata (snapshot_id);
CREATE INDEX IF NOT EXISTS ix_volume_glance_metadata_volume_id
	ON volume_glance_metadata (volume_id);

CREATE TABLE IF NOT EXISTS quotas (
	id integer NOT NULL DEFAULT nextval('quotas_id_seq'::regclass),
	created_at timestamp without time zone,
	updated_at timestamp without time zone,
	deleted_at timestamp without time zone,
	deleted boolean,
	project_id character varying(255),
	resource character varying(255) NOT NULL,
	hard_limit integer,
	allocated integer,
	CONSTRAINT quotas_pkey PRIMARY KEY (id)
);
ALTER SEQUENCE quotas_id_seq OWNED BY quotas.id;

CREATE TABLE IF NOT EXISTS quota_classes (
	created_at timestamp without time zone,
	updated_at timestamp without time zone,
	deleted_at timestamp without time zone,
	deleted boolean,
	id integer NOT NULL DEFAULT nextval('quota_classes_id_seq'::regclass),
	class_name character varying(255),
	resource character varying(255),
	hard_limit integer,
	CONSTRAINT quota_classes_pkey PRIMARY KEY (id)
);
ALTER SEQUENCE quota_classes_id_seq OWNED BY quota_classes.id;
CREATE INDEX IF NOT EXISTS ix_quota_classes_class_name ON quota_classes (class_name);

CREATE TABLE IF NOT EXISTS quota_usages (
	created_at timestamp without time zone,
	updated_at timestamp without time zone,
	deleted_at timestamp without time zone,
	deleted boolean,
	id integer NOT NULL DEFAULT nextval('quota_usages_id_seq'::regclass),
	project_id character varying(255),
	resource character varying(300),
	in_use integer NOT NULL,
	reserved integer NOT NULL,
	until_refresh integer,
	race_preventer boolean,
	CONSTRAINT quota_usages_pkey PRIMARY KEY (id),
	CONSTRAINT quota_usages_project_id_resource_race_preventer_key
		UNIQUE (project_id, resource, race_preventer)
);
ALTER SEQUENCE quota_usages_id_seq OWNED BY quota_usages.id;
CREATE INDEX IF NOT EXISTS ix_quota_usages_project_id ON quota_usages (project_id);
CREATE INDEX IF NOT EXISTS quota_usage_project_resource_idx
	ON quota_usages (project_id, resource);

CREATE TABLE IF NOT EXISTS reservations (
	created_at timestamp without time zone,
	updated_at timestamp without time zone,
	deleted_at timestamp without time zone,
	deleted boolean,
	id integer NOT NULL DEFAULT nextval('reservations_id_seq'::regclass),
	uuid character varying(36) NOT NULL,
	usage_id integer,
	project_id character varying(255),
	resource character varying(255),
	delta integer NOT NULL,
	expire timestamp without time zone,
	allocated_id integer,
	CONSTRAINT reservations_pkey PRIMARY KEY (id),
	CONSTRAINT reservations_usage_id_fkey FOREIGN KEY (usage_id) REFERENCES quota_usages (id),
	CONSTRAINT reservations_allocated_id_fkey FOREIGN KEY (allocated_id) REFERENCES quotas (id)
);
ALTER SEQUENCE reservations_id_seq OWNED BY reservations.id;
CREATE INDEX IF NOT EXISTS ix_reservations_allocated_id ON reservations (allocated_id);
CREATE INDEX IF NOT EXISTS ix_reservations_project_id ON reservations (project_id);
CREATE INDEX IF NOT EXISTS ix_reservations_usage_id ON reservations (usage_id);
CREATE INDEX IF NOT EXISTS reservations_deleted_expire_idx ON reservations (deleted, expire);
CREATE INDEX IF NOT EXISTS reservations_deleted_uuid_idx ON reservations (deleted, uuid);

CREATE TABLE IF NOT EXISTS messages (
	id character varying(36) NOT NULL,
	project_id character varying(255) NOT NULL,
	request_id character varying(255),
	resource_type character varying(36),
	resource_uuid character varying(255),
	event_id character varying(255) NOT NULL,
	message_level character varying(255) NOT NULL,
	created_at timestamp without time zone,
	updated_at timestamp without time zone,
	deleted_at timestamp without time zone,
	deleted boolean,
	expires_at timestamp without time zone,
	detail_id character varying(10),
	action_id character varying(10),
	CONSTRAINT messages_pkey PRIMARY KEY (id)
);
CREATE INDEX IF NOT EXISTS ix_messages_expires_at ON messages (expires_at);

CREATE TABLE IF NOT EXISTS workers (
	created_at timestamp without time zone,
	updated_at timestamp without time zone,
	deleted_at timestamp without time zone,
	deleted boolean,
	id integer NOT NULL DEFAULT nextval('workers_id_seq'::regclass),
	resource_type character varying(40) NOT NULL,
	resource_id character varying(36) NOT NULL,
	status character varying(255) NOT NULL,
	service_id integer,
	race_preventer integer NOT NULL DEFAULT 0,
	CONSTRAINT workers_pkey PRIMARY KEY (id),
	CONSTRAINT workers_resource_type_resource_id_key UNIQUE (resource_type, resource_id),
	CONSTRAINT workers_service_id_fkey FOREIGN KEY (service_id) REFERENCES services (id)
);
ALTER SEQUENCE workers_id_seq OWNED BY workers.id;
CREATE INDEX IF NOT EXISTS ix_workers_service_id ON workers (service_id);

-- The rows Cinder's initial migration (921e1a36b076) seeds: the default volume type, the
-- "default" quota class with Cinder's option defaults (docs/cinder.md §7.3), and the
-- workers row by which Cinder's cleanup code detects sub-second timestamps.
INSERT INTO volume_types (created_at, updated_at, deleted, id, name, is_public, description)
SELECT now() AT TIME ZONE 'utc', now() AT TIME ZONE 'utc', false, gen_random_uuid()::text,
       '__DEFAULT__', true, 'Default Volume Type'
WHERE NOT EXISTS (SELECT 1 FROM volume_types WHERE name = '__DEFAULT__' AND NOT deleted);

INSERT INTO quota_classes (created_at, deleted, class_name, resource, hard_limit)
SELECT now() AT TIME ZONE 'utc', false, 'default', d.resource, d.hard_limit
FROM (VALUES (1, 'volumes', 10), (2, 'snapshots', 10), (3, 'gigabytes', 1000),
	     (4, 'consistencygroups', 10), (5, 'per_volume_gigabytes', -1), (6, 'groups', 10))
	AS d (ord, resource, hard_limit)
WHERE NOT EXISTS (SELECT 1 FROM quota_classes q
		  WHERE q.class_name = 'default' AND q.resource = d.resource AND NOT q.deleted)
ORDER BY d.ord;

INSERT INTO workers (created_at, updated_at, deleted, resource_type, resource_id, status)
SELECT date_trunc('second', now() AT TIME ZONE 'utc') + interval '123 microseconds',
       date_trunc('second', now() AT TIME ZONE 'utc') + interval '123 microseconds',
       false, 'SENTINEL', 'SUB-SECOND', 'OK'
WHERE NOT EXISTS (SELECT 1 FROM workers
		  WHERE resource_type = 'SENTINEL' AND resource_id = 'SUB-SECOND');
