-- Tracking 0004: a checkpoint row is also the plan of its chunk, so a resumed
-- run reads exactly the key ranges the interrupted one planned (its snapshot
-- is gone, and a new one may see other minimum and maximum keys), and several
-- workers can claim chunks (FOR UPDATE SKIP LOCKED).
-- Never edit this file once applied: add a new numbered migration instead.

ALTER TABLE medmigrate.checkpoints
    ADD COLUMN lo_key bigint NOT NULL DEFAULT 0,   -- exclusive lower bound of the chunk
    ADD COLUMN hi_key bigint NULL,                 -- inclusive upper bound; NULL: unbounded
    ADD COLUMN done   boolean NOT NULL DEFAULT false;
