-- 003_rpc_calls.sql: what RPC calls (initialize_connection, attach_volume, ...) need besides
-- the casts of 002.

-- The encoded reply of a call (oslo's {result, failure, ending, _msg_id} as msgpack), stored
-- in the transaction that handled it, so that a redelivered call (same _unique_id) gets the
-- same reply again instead of running twice. NULL for casts.
ALTER TABLE volmgr_processed_messages ADD COLUMN IF NOT EXISTS reply bytea;

-- Connections initialized and not yet terminated, one per volume and connector host: the
-- legacy attach flow initializes the connection before os-attach creates the attachment row,
-- so the manager keeps the connector and the connection info here until attach_volume copies
-- them into volume_attachment.connector / connection_info, as Cinder's attachment API stores
-- them. host is the connector's "host" ("" when it has none).
CREATE TABLE IF NOT EXISTS volmgr_connections (
	volume_id character varying(36) NOT NULL,
	host character varying(255) NOT NULL,
	connector text NOT NULL,
	connection_info text NOT NULL,
	created_at timestamp without time zone NOT NULL,
	CONSTRAINT volmgr_connections_pkey PRIMARY KEY (volume_id, host)
);
