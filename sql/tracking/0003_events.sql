-- Tracking schema 0003: the event log, and the NOTIFY channels that carry live
-- updates (relayed to browsers as Server-Sent Events):
--   medmigrate_events  the new events row as JSON
--   medmigrate_status  the live_status row as JSON after each update
-- NOTIFY payloads are limited to 8000 bytes: an event whose JSON is longer is
-- sent without its data (with "truncated": true); read the row for the rest.
-- Never edit this file once applied: add a new numbered migration instead.

CREATE TABLE medmigrate.events (
    id      bigserial PRIMARY KEY,
    run_id  bigint NULL REFERENCES medmigrate.runs (id) ON DELETE CASCADE,  -- NULL: not a run's
    at      timestamptz NOT NULL DEFAULT clock_timestamp(),
    level   text NOT NULL CHECK (level IN ('trace', 'debug', 'info', 'warn', 'error')),
    phase   text NULL,
    entity  text NULL,
    message text NOT NULL,                  -- never patient data
    data    jsonb NULL
);
CREATE INDEX events_run_id_idx ON medmigrate.events (run_id, id);
CREATE INDEX events_at_idx ON medmigrate.events (at);

CREATE FUNCTION medmigrate.notify_event() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    payload text := row_to_json(NEW)::text;
BEGIN
    IF octet_length(payload) > 7900 THEN
        payload := (to_jsonb(NEW) - 'data' || '{"truncated": true}'::jsonb)::text;
        IF octet_length(payload) > 7900 THEN
            payload := jsonb_build_object('id', NEW.id, 'run_id', NEW.run_id,
                                          'truncated', true)::text;
        END IF;
    END IF;
    PERFORM pg_notify('medmigrate_events', payload);
    RETURN NULL;
END;
$$;
CREATE TRIGGER events_notify
    AFTER INSERT ON medmigrate.events
    FOR EACH ROW EXECUTE FUNCTION medmigrate.notify_event();

CREATE FUNCTION medmigrate.notify_status() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('medmigrate_status', row_to_json(NEW)::text);
    RETURN NULL;
END;
$$;
CREATE TRIGGER live_status_notify
    AFTER UPDATE ON medmigrate.live_status
    FOR EACH ROW EXECUTE FUNCTION medmigrate.notify_status();
