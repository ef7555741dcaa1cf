-- The dedup model a run scored with, and how many records it matched.
--  * dedup_phases.model: the fitted Fellegi-Sunter parameters
--    (dedup::MatchModel::ToJson). Incremental runs score with the model of
--    the latest real run, not rolled back, that recorded one, so automatic
--    merges do not move when the population shifts a little.
--  * dedup_phases.matched: records matched; an incremental run matches only
--    the new and changed ones (their hashes: row_hashes, entity
--    'dedup:<entity>').
ALTER TABLE medmigrate.dedup_phases
    ADD COLUMN model   jsonb NULL,
    ADD COLUMN matched bigint NULL;
