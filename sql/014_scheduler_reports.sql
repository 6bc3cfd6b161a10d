-- 014_scheduler_reports.sql: the latest capability report of each volume service, as its
-- manager last sent it to the schedulers (update_service_capabilities, docs/cinder.md §22).
-- Cinder's schedulers keep these reports in memory only; volmgr keeps the latest one here so
-- that the API shim, which hears no fanout, can serve GET /scheduler-stats/get_pools.
CREATE TABLE IF NOT EXISTS volmgr_service_capabilities (
	-- "<host>@<backend>", the services row's host
	host character varying(255) NOT NULL,
	service_name character varying(255) NOT NULL,
	cluster_name character varying(255),
	-- the capabilities as sent: backend name, vendor, driver version, protocol, pools
	capabilities jsonb NOT NULL,
	-- the report's timestamp (naive UTC, as the cast carries it)
	reported_at timestamp without time zone NOT NULL,
	CONSTRAINT volmgr_service_capabilities_pkey PRIMARY KEY (host)
);
