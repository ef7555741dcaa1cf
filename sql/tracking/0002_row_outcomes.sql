-- Tracking schema 0002: what happened to individual legacy rows. Rows here
-- carry legacy ids, entity and column names and reasons, never patient data
-- (names, e-mails, birth dates, free text).
-- Never edit this file once applied: add a new numbered migration instead.

-- A legacy row that could not be loaded, and why.
CREATE TABLE medmigrate.rejects (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    run_id      bigint NOT NULL REFERENCES medmigrate.runs (id) ON DELETE CASCADE,
    entity      text NOT NULL,
    legacy_id   text NOT NULL,
    column_name text NULL,                  -- NULL when the row as a whole is at fault
    reason      text NOT NULL,              -- a short code, e.g. 'orphan_reference'
    detail      text NULL,                  -- explanation without row values
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX rejects_run_id_idx ON medmigrate.rejects (run_id, entity);

-- A legacy row that was loaded with a change worth knowing (a dangling
-- reference set to NULL, an unknown status kept raw, ...). Same shape as rejects.
CREATE TABLE medmigrate.warnings (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    run_id      bigint NOT NULL REFERENCES medmigrate.runs (id) ON DELETE CASCADE,
    entity      text NOT NULL,
    legacy_id   text NOT NULL,
    column_name text NULL,
    reason      text NOT NULL,
    detail      text NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX warnings_run_id_idx ON medmigrate.warnings (run_id, entity);

-- Duplicate rows merged into a survivor (patient deduplication). A merge that
-- is not reverted redirects references to legacy_id towards the survivor.
CREATE TABLE medmigrate.merges (
    id                 bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    run_id             bigint NOT NULL REFERENCES medmigrate.runs (id) ON DELETE CASCADE,
    entity             text NOT NULL,
    legacy_id          text NOT NULL,           -- the duplicate
    survivor_legacy_id text NOT NULL,
    probability        double precision NULL CHECK (probability BETWEEN 0 AND 1),
    decided_by         text NOT NULL,           -- 'auto' or the reviewing user
    decided_at         timestamptz NOT NULL DEFAULT now(),
    reason             text NULL,
    reverted_at        timestamptz NULL,
    CHECK (legacy_id <> survivor_legacy_id)
);
CREATE INDEX merges_run_id_idx ON medmigrate.merges (run_id);
CREATE INDEX merges_legacy_id_idx ON medmigrate.merges (entity, legacy_id);
