-- 011_volume_type_access.sql: who may use a private volume type and which type a project
-- defaults to (docs/cinder.md §19.4), Cinder's tables volume_type_projects and
-- default_volume_types as its migrations leave them, so that a database shared with a Cinder
-- holds one table of each. volume_type_projects keeps Cinder's integer "deleted" (0 live, the
-- row's id once deleted), which its unique constraint needs.
CREATE SEQUENCE IF NOT EXISTS volume_type_projects_id_seq AS integer;
CREATE TABLE IF NOT EXISTS volume_type_projects (
	id integer NOT NULL DEFAULT nextval('volume_type_projects_id_seq'::regclass),
	created_at timestamp without time zone,
	updated_at timestamp without time zone,
	deleted_at timestamp without time zone,
	volume_type_id character varying(36),
	project_id character varying(255),
	deleted integer,
	CONSTRAINT volume_type_projects_pkey PRIMARY KEY (id),
	CONSTRAINT volume_type_projects_volume_type_id_project_id_deleted_key
		UNIQUE (volume_type_id, project_id, deleted),
	CONSTRAINT volume_type_projects_volume_type_id_fkey FOREIGN KEY (volume_type_id)
		REFERENCES volume_types (id)
);
ALTER SEQUENCE volume_type_projects_id_seq OWNED BY volume_type_projects.id;

CREATE TABLE IF NOT EXISTS default_volume_types (
	created_at timestamp without time zone,
	updated_at timestamp without time zone,
	deleted_at timestamp without time zone,
	deleted boolean,
	volume_type_id character varying(36),
	project_id character varying(255) NOT NULL,
	CONSTRAINT default_volume_types_pkey PRIMARY KEY (project_id),
	CONSTRAINT default_volume_types_volume_type_id_fkey FOREIGN KEY (volume_type_id)
		REFERENCES volume_types (id)
);
CREATE INDEX IF NOT EXISTS ix_default_volume_types_volume_type_id
	ON default_volume_types (volume_type_id);
