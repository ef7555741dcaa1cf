-- Tracking schema 0001: runs and their progress. The CLI, the API and the
-- dashboard all read these tables (one source of truth for state).
-- Every table that belongs to a run references runs(id) ON DELETE CASCADE, so
-- `medmigrate cleanup` deletes a run with everything it recorded.
-- Never edit this file once applied: add a new numbered migration instead.

CREATE SCHEMA IF NOT EXISTS medmigrate;

CREATE TABLE medmigrate.runs (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    type          text NOT NULL CHECK (type IN ('full', 'incremental')),
    state         text NOT NULL DEFAULT 'pending' CHECK (state IN (
                      'pending', 'running', 'succeeded', 'failed', 'cancelled',
                      'interrupted', 'rolled_back')),
    dry_run       boolean NOT NULL DEFAULT false,
    entities      text[] NOT NULL DEFAULT '{}',   -- empty: all entities of the spec
    options       jsonb NOT NULL DEFAULT '{}',    -- batch size, concurrency, ... (no secrets)
    spec_name     text NULL,
    spec_checksum text NULL,                      -- SHA-256 hex of the mapping spec
    snapshot_id   text NULL,                      -- pg_export_snapshot() of the legacy reads
    created_at    timestamptz NOT NULL DEFAULT now(),
    started_at    timestamptz NULL,
    finished_at   timestamptz NULL,
    error         text NULL,                      -- one line; never patient data
    host          text NULL,
    pid           integer NULL,
    resumed_from  bigint NULL REFERENCES medmigrate.runs (id) ON DELETE SET NULL,
    created_by    text NULL                       -- user or 'cli'/'api'/'job:<id>'
);
CREATE INDEX runs_state_idx ON medmigrate.runs (state);
CREATE INDEX runs_created_at_idx ON medmigrate.runs (created_at);
CREATE INDEX runs_resumed_from_idx ON medmigrate.runs (resumed_from);

-- Per-entity counts of a run. When an entity is done:
-- read = loaded + rejected + merged; loaded = inserted + updated + unchanged.
CREATE TABLE medmigrate.run_entities (
    run_id      bigint NOT NULL REFERENCES medmigrate.runs (id) ON DELETE CASCADE,
    entity      text NOT NULL,
    state       text NOT NULL DEFAULT 'pending' CHECK (state IN (
                    'pending', 'running', 'succeeded', 'failed', 'skipped')),
    read        bigint NOT NULL DEFAULT 0,
    loaded      bigint NOT NULL DEFAULT 0,
    rejected    bigint NOT NULL DEFAULT 0,
    merged      bigint NOT NULL DEFAULT 0,
    warnings    bigint NOT NULL DEFAULT 0,
    inserted    bigint NOT NULL DEFAULT 0,
    updated     bigint NOT NULL DEFAULT 0,
    unchanged   bigint NOT NULL DEFAULT 0,
    deleted     bigint NOT NULL DEFAULT 0,          -- soft-deleted by an incremental run
    started_at  timestamptz NULL,
    finished_at timestamptz NULL,
    PRIMARY KEY (run_id, entity)
);

-- What is happening now: exactly one row (the boolean key can only be true,
-- the row is inserted here, and a trigger refuses to delete it). Small and
-- updated in place, so it suits Supabase Realtime; updates also NOTIFY
-- 'medmigrate_status' (0003).
CREATE TABLE medmigrate.live_status (
    singleton       boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    -- SET NULL, not CASCADE: deleting the run must not delete the one row.
    run_id          bigint NULL REFERENCES medmigrate.runs (id) ON DELETE SET NULL,
    state           text NOT NULL DEFAULT 'idle',   -- 'idle' or the run's state
    phase           text NULL,                      -- e.g. 'load.orders'
    entity          text NULL,
    rows_done       bigint NOT NULL DEFAULT 0,
    rows_total      bigint NULL,                    -- NULL when not known
    rows_per_second double precision NULL,
    updated_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX live_status_run_id_idx ON medmigrate.live_status (run_id);
INSERT INTO medmigrate.live_status (singleton) VALUES (true);

CREATE FUNCTION medmigrate.live_status_keep_row() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'medmigrate.live_status must keep its one row; update it instead'
        USING ERRCODE = 'restrict_violation';
END;
$$;
CREATE TRIGGER live_status_keep_row
    BEFORE DELETE ON medmigrate.live_status
    FOR EACH ROW EXECUTE FUNCTION medmigrate.live_status_keep_row();
CREATE TRIGGER live_status_keep_row_truncate
    BEFORE TRUNCATE ON medmigrate.live_status
    FOR EACH STATEMENT EXECUTE FUNCTION medmigrate.live_status_keep_row();

-- Named phases of a run ('extract.orders', 'load.orders', 'validate.counts'),
-- read alike by the CLI summary, the report and the dashboard.
CREATE TABLE medmigrate.phases (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    run_id      bigint NOT NULL REFERENCES medmigrate.runs (id) ON DELETE CASCADE,
    name        text NOT NULL,
    started_at  timestamptz NOT NULL DEFAULT now(),
    finished_at timestamptz NULL,
    rows_in     bigint NOT NULL DEFAULT 0,
    rows_out    bigint NOT NULL DEFAULT 0,
    rejects     bigint NOT NULL DEFAULT 0
);
CREATE INDEX phases_run_id_idx ON medmigrate.phases (run_id, name);

-- A committed batch: written in the same target transaction as the batch's
-- rows, so a resumed run continues after last_key. A chunk is one key range of
-- an entity (several workers may share a run, one chunk each).
CREATE TABLE medmigrate.checkpoints (
    run_id       bigint NOT NULL REFERENCES medmigrate.runs (id) ON DELETE CASCADE,
    entity       text NOT NULL,
    chunk        integer NOT NULL DEFAULT 0,
    last_key     text NOT NULL,                 -- highest legacy key committed in the chunk
    rows         bigint NOT NULL DEFAULT 0,     -- rows committed in the chunk so far
    committed_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (run_id, entity, chunk)
);
