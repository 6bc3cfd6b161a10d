-- 002_volmgr_tables.sql: volmgr's own tables, beside Cinder's. Timestamps follow Cinder's
-- style: naive UTC (timestamp without time zone, filled with now() AT TIME ZONE 'utc').

-- The inbox: one row per RPC message handled, keyed by oslo's _unique_id, so that a
-- redelivered message is recognised and acknowledged without running it twice.
CREATE TABLE IF NOT EXISTS volmgr_processed_messages (
	unique_id character varying(32) NOT NULL,
	method character varying(255) NOT NULL,
	processed_at timestamp without time zone NOT NULL DEFAULT (now() AT TIME ZONE 'utc'),
	outcome character varying(32) NOT NULL,
	CONSTRAINT volmgr_processed_messages_pkey PRIMARY KEY (unique_id)
);
CREATE INDEX IF NOT EXISTS volmgr_processed_messages_processed_at_idx
	ON volmgr_processed_messages (processed_at);

-- Extends of attached volumes that wait for the compute service's feedback: reservations is
-- the JSON array of quota reservation uuids, deadline when the periodic sweep gives up.
CREATE TABLE IF NOT EXISTS volmgr_pending_extends (
	volume_id character varying(36) NOT NULL,
	project_id character varying(255) NOT NULL,
	new_size integer NOT NULL,
	reservations text NOT NULL,
	instance_uuid character varying(36),
	started_at timestamp without time zone NOT NULL,
	deadline timestamp without time zone NOT NULL,
	CONSTRAINT volmgr_pending_extends_pkey PRIMARY KEY (volume_id)
);
CREATE INDEX IF NOT EXISTS volmgr_pending_extends_deadline_idx
	ON volmgr_pending_extends (deadline);

-- The outbox of oslo notifications (volume.resize.end, ...): payload is the JSON payload,
-- written in the transaction that made the change and published after it commits.
CREATE TABLE IF NOT EXISTS volmgr_notifications (
	id bigserial NOT NULL,
	event_type character varying(255) NOT NULL,
	publisher_id character varying(255) NOT NULL,
	priority character varying(16) NOT NULL,
	payload text NOT NULL,
	request_id character varying(255),
	created_at timestamp without time zone NOT NULL,
	CONSTRAINT volmgr_notifications_pkey PRIMARY KEY (id)
);

-- Per-pool allocated capacity, which Cinder keeps in the volume service's memory and
-- reports to the scheduler; volmgr keeps it here so that both daemons see one figure.
CREATE TABLE IF NOT EXISTS volmgr_pool_stats (
	host character varying(255) NOT NULL,
	pool character varying(255) NOT NULL,
	allocated_capacity_gb bigint NOT NULL DEFAULT 0,
	CONSTRAINT volmgr_pool_stats_pkey PRIMARY KEY (host, pool)
);
