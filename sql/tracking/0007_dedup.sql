-- Tracking 0007: patient deduplication (docs/design/dedup.md).
--  * merges: a reviewer's decision between runs has no run; a merge that a
--    later full run no longer finds (auto) or a reviewer takes back is
--    reverted, not deleted, and says by whom and, for a run, which one (so a
--    rollback of that run can restore it).
--  * dedup_pairs: the review queue. One row per pair of records whose match
--    probability fell between the thresholds (or that the chain guard kept
--    apart), with the matcher's explanation (fields, levels, weights: never
--    values) and the decision once taken.
--  * dedup_phases: what the dedup phase of a run found; its row is written in
--    the same transaction as the run's merges, so a resumed run reuses them.
--  * active_merges: the merges in force, each resolved to its final survivor.
-- Never edit this file once applied: add a new numbered migration instead.

ALTER TABLE medmigrate.merges
    ALTER COLUMN run_id DROP NOT NULL,
    ADD COLUMN pair_id bigint NULL,
    ADD COLUMN reverted_by text NULL,
    ADD COLUMN reverted_run_id bigint NULL,
    ADD COLUMN revert_reason text NULL;
CREATE INDEX merges_reverted_run_idx ON medmigrate.merges (reverted_run_id)
    WHERE reverted_run_id IS NOT NULL;

CREATE TABLE medmigrate.dedup_pairs (
    id                 bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    entity             text NOT NULL,
    legacy_id_a        text NOT NULL,
    legacy_id_b        text NOT NULL,
    survivor_legacy_id text NOT NULL,   -- the one kept if the pair is merged
    probability        double precision NOT NULL CHECK (probability BETWEEN 0 AND 1),
    explanation        jsonb NOT NULL,  -- field, level and weight per field; no values
    status             text NOT NULL DEFAULT 'pending'
                       CHECK (status IN ('pending', 'merged', 'distinct')),
    decided_by         text NULL,
    decided_at         timestamptz NULL,
    reason             text NULL,
    first_run_id       bigint NULL REFERENCES medmigrate.runs (id) ON DELETE SET NULL,
    last_seen_at       timestamptz NOT NULL DEFAULT now(),
    UNIQUE (entity, legacy_id_a, legacy_id_b),
    CHECK (legacy_id_a <> legacy_id_b),
    CHECK (survivor_legacy_id IN (legacy_id_a, legacy_id_b))
);
CREATE INDEX dedup_pairs_status_idx ON medmigrate.dedup_pairs (entity, status, probability DESC);
CREATE INDEX dedup_pairs_first_run_idx ON medmigrate.dedup_pairs (first_run_id);

CREATE TABLE medmigrate.dedup_phases (
    run_id          bigint NOT NULL REFERENCES medmigrate.runs (id) ON DELETE CASCADE,
    entity          text NOT NULL,
    records         bigint NOT NULL,
    candidate_pairs bigint NOT NULL,
    auto_merges     bigint NOT NULL,   -- records merged automatically by this run
    review_pairs    bigint NOT NULL,
    seconds         double precision NOT NULL,
    finished_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (run_id, entity)
);

-- In force: not reverted, and not recorded by a dry run or a rolled-back run.
-- A survivor that was itself merged later leads on to its own survivor.
CREATE VIEW medmigrate.active_merges AS
WITH RECURSIVE live AS (
    SELECT m.entity, m.legacy_id, m.survivor_legacy_id
    FROM medmigrate.merges m
    LEFT JOIN medmigrate.runs r ON r.id = m.run_id
    WHERE m.reverted_at IS NULL
      AND (m.run_id IS NULL OR (NOT r.dry_run AND r.rolled_back_at IS NULL))
), chain (entity, legacy_id, survivor_legacy_id, depth) AS (
    SELECT entity, legacy_id, survivor_legacy_id, 1 FROM live
    UNION ALL
    SELECT c.entity, c.legacy_id, l.survivor_legacy_id, c.depth + 1
    FROM chain c
    JOIN live l ON l.entity = c.entity AND l.legacy_id = c.survivor_legacy_id
    WHERE c.depth < 32 AND l.survivor_legacy_id <> c.legacy_id
)
SELECT DISTINCT ON (entity, legacy_id) entity, legacy_id, survivor_legacy_id
FROM chain
ORDER BY entity, legacy_id, depth DESC;
