-- Helpers for the benchmark's COPY pipe (bench/migrate_bench.sh), created in the
-- bench legacy database only (schema "bench"), never in a real legacy database.
-- Each one is the SQL form of a rule medmigrate applies in C++ (src/transform/).
-- :'ns' is the uuid_namespace of specs/mdw.toml, passed by the script.

SET client_min_messages = warning;
CREATE SCHEMA IF NOT EXISTS bench;
CREATE EXTENSION IF NOT EXISTS "uuid-ossp" SCHEMA bench;

-- Target id: UUIDv5(namespace, '<entity>:<legacy id>'). A SQL function, so the
-- planner inlines it.
-- (Built with format(): psql does not expand :'ns' inside a dollar-quoted body.)
SELECT format($f$
CREATE OR REPLACE FUNCTION bench.id(entity text, legacy_id text) RETURNS uuid
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$ SELECT bench.uuid_generate_v5(%L::uuid, entity || ':' || legacy_id) $$
$f$, :'ns') \gexec

-- The "trim" rule: ASCII white space at both ends (space, \t, \n, \r, \v, \f).
CREATE OR REPLACE FUNCTION bench.trim(v text) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$ SELECT btrim(v, E' \t\n\r\f\x0b') $$;

-- The "email" rule on an already trimmed, lowered, non-empty value: one '@', a
-- non-empty local part, a dotted domain (its last dot neither first nor
-- last), no '..' in the domain, no white space or control characters. Anything
-- else is NULL (medmigrate also records a warning).
CREATE OR REPLACE FUNCTION bench.email(v text) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$
  SELECT CASE WHEN v ~ '^[^@\s[:cntrl:]]+@[^@\s[:cntrl:]]+\.[^@.\s[:cntrl:]]+$'
                   AND strpos(split_part(v, '@', 2), '..') = 0
              THEN v END
$$;

-- The "json" column kind: the value as jsonb when it parses, else NULL.
CREATE OR REPLACE FUNCTION bench.try_jsonb(v text) RETURNS jsonb
LANGUAGE plpgsql IMMUTABLE PARALLEL UNSAFE  -- an EXCEPTION block needs a subtransaction
AS $$
BEGIN
  RETURN v::jsonb;
EXCEPTION WHEN others THEN
  RETURN NULL;
END
$$;

-- Rows that load, for the references whose parent must be loaded ("reject")
-- and those set NULL when it is not ("null"): a patient loads when its user
-- exists, an order when its patient loads, a doctor when its user exists.
CREATE OR REPLACE VIEW bench.ok_patient AS
  SELECT p.id FROM public.dispatch_patient p
   WHERE EXISTS (SELECT 1 FROM public.auth_user u WHERE u.id = p.user_id);
CREATE OR REPLACE VIEW bench.ok_doctor AS
  SELECT d.id FROM public.dispatch_doctor d
   WHERE EXISTS (SELECT 1 FROM public.auth_user u WHERE u.id = d.user_id);
CREATE OR REPLACE VIEW bench.ok_order AS
  SELECT o.id FROM public.dispatch_order o
   WHERE EXISTS (SELECT 1 FROM bench.ok_patient p WHERE p.id = o.patient_id);
