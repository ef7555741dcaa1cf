-- The migrations' own bookkeeping, created by `medmigrate init` before any
-- numbered file (of either scope), so `init --main` alone has it too. Safe to
-- run again. Not a numbered migration: it must exist before one can be recorded.

CREATE SCHEMA IF NOT EXISTS medmigrate;

-- One row per applied sql/<scope>/NNNN_<name>.sql file.
CREATE TABLE IF NOT EXISTS medmigrate.schema_migrations (
    scope       text NOT NULL CHECK (scope IN ('main', 'tracking')),
    version     integer NOT NULL CHECK (version > 0),
    name        text NOT NULL,              -- file name, e.g. '0002_core_tables.sql'
    checksum    text NOT NULL,              -- SHA-256 hex of the file's bytes
    applied_at  timestamptz NOT NULL DEFAULT now(),
    applied_by  text NOT NULL DEFAULT current_user,  -- database role
    client_host text NULL,                  -- host that ran medmigrate
    duration_ms integer NOT NULL DEFAULT 0,
    PRIMARY KEY (scope, version)
);
