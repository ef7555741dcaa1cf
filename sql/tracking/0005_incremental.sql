-- Tracking 0005: what incremental runs, rollback and cleanup need.
--  * run_entities.watermark: the greatest source updated_at the run's snapshot
--    held; the next incremental run reads rows changed since (minus an overlap).
--  * row_hashes: for sources without updated_at, a 64-bit hash of each source
--    row as last loaded, one row per (key, run that saw it change).
--  * run_tables / row_images: the before-images that `medmigrate rollback`
--    restores. A table that was empty when a full run started records none
--    (rolling back deletes its rows); any other write of a run to a captured
--    table is recorded by the trigger medmigrate.capture_row, which the engine
--    puts on every table a run writes and which records only while the
--    session setting medmigrate.capture_run names a run.
-- Never edit this file once applied: add a new numbered migration instead.

ALTER TABLE medmigrate.run_entities
    ADD COLUMN watermark text NULL;   -- timestamptz text; NULL: no updated_at

ALTER TABLE medmigrate.runs
    ADD COLUMN rolled_back_at timestamptz NULL;

CREATE TABLE medmigrate.row_hashes (
    entity    text NOT NULL,
    legacy_id bigint NOT NULL,
    run_id    bigint NOT NULL REFERENCES medmigrate.runs (id) ON DELETE CASCADE,
    hash      bigint NOT NULL,
    PRIMARY KEY (entity, legacy_id, run_id)
);
CREATE INDEX row_hashes_run_id_idx ON medmigrate.row_hashes (run_id);

CREATE TABLE medmigrate.run_tables (
    run_id    bigint NOT NULL REFERENCES medmigrate.runs (id) ON DELETE CASCADE,
    tbl       text NOT NULL,        -- schema-qualified target table
    was_empty boolean NOT NULL,     -- at the start of the run
    PRIMARY KEY (run_id, tbl)
);

CREATE TABLE medmigrate.row_images (
    seq    bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    run_id bigint NOT NULL REFERENCES medmigrate.runs (id) ON DELETE CASCADE,
    tbl    text NOT NULL,           -- schema-qualified target table
    op     text NOT NULL CHECK (op IN ('insert', 'update', 'delete')),
    key    jsonb NOT NULL,          -- the row's primary key columns
    image  jsonb NULL               -- the row before the change; NULL for an insert
);
CREATE INDEX row_images_run_idx ON medmigrate.row_images (run_id, tbl);

-- Row trigger: records the change of one row for the run named by the
-- session setting medmigrate.capture_run. Arguments: the primary key columns.
CREATE FUNCTION medmigrate.capture_row() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    run  bigint := nullif(current_setting('medmigrate.capture_run', true), '')::bigint;
    r    jsonb;
    k    jsonb := '{}';
    col  text;
BEGIN
    IF run IS NULL THEN
        RETURN NULL;
    END IF;
    r := CASE WHEN TG_OP = 'INSERT' THEN to_jsonb(NEW) ELSE to_jsonb(OLD) END;
    FOREACH col IN ARRAY TG_ARGV LOOP
        k := k || jsonb_build_object(col, r -> col);
    END LOOP;
    INSERT INTO medmigrate.row_images (run_id, tbl, op, key, image)
    VALUES (run, TG_TABLE_SCHEMA || '.' || TG_TABLE_NAME, lower(TG_OP), k,
            CASE WHEN TG_OP = 'INSERT' THEN NULL ELSE r END);
    RETURN NULL;
END;
$$;
