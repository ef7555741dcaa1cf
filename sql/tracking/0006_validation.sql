-- Tracking 0006: validation of runs (`medmigrate validate RUN`, and the check
-- that ends every migration). One validations row per time a run is
-- validated, one validation_checks row per check (and entity) of it. Like
-- rejects, rows carry legacy ids, entity and column names, counts and reason
-- codes, never patient data (names, e-mails, birth dates, free text).
-- Never edit this file once applied: add a new numbered migration instead.

CREATE TABLE medmigrate.validations (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    run_id      bigint NOT NULL REFERENCES medmigrate.runs (id) ON DELETE CASCADE,
    kinds       text[] NOT NULL,                  -- e.g. {completeness,integrity}
    sample_size integer NOT NULL DEFAULT 0,       -- rows compared per entity, at most
    started_at  timestamptz NOT NULL DEFAULT now(),
    finished_at timestamptz NULL,
    passed      boolean NULL,                     -- NULL while it runs, or when it could not finish
    error       text NULL                         -- one line, when it could not finish
);
CREATE INDEX validations_run_id_idx ON medmigrate.validations (run_id, id);

CREATE TABLE medmigrate.validation_checks (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    validation_id bigint NOT NULL REFERENCES medmigrate.validations (id) ON DELETE CASCADE,
    run_id        bigint NOT NULL REFERENCES medmigrate.runs (id) ON DELETE CASCADE,
    kind          text NOT NULL,                  -- completeness | integrity
    check_name    text NOT NULL,                  -- e.g. 'key_sets', 'foreign_keys', 'money'
    entity        text NOT NULL DEFAULT '',       -- '' when the check is not per entity
    severity      text NOT NULL DEFAULT 'error' CHECK (severity IN ('error', 'warning')),
    passed        boolean NOT NULL,               -- a warning never fails the validation
    checked       bigint NOT NULL DEFAULT 0,      -- rows (or groups) examined
    failures      bigint NOT NULL DEFAULT 0,
    examples      text[] NOT NULL DEFAULT '{}',   -- up to a few legacy ids of failures
    details       jsonb NULL,                     -- counts and column names, no row values
    seconds       double precision NOT NULL DEFAULT 0
);
CREATE INDEX validation_checks_validation_idx ON medmigrate.validation_checks (validation_id);
CREATE INDEX validation_checks_run_id_idx ON medmigrate.validation_checks (run_id);
