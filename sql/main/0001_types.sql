-- Target schema 0001: the value sets that replace the legacy free text.
-- Every set has 'unknown' (except jaw_type): a legacy value that matches
-- nothing is kept as 'unknown' with its raw text or code beside it (e.g.
-- orders.legacy_status, instruction_states.state_code), never guessed.
-- Never edit this file once applied: add a new numbered migration instead.

-- dispatch_patient.sex: 'M', 'F', 'U', lower case, '' or NULL.
CREATE TYPE public.sex AS ENUM ('male', 'female', 'unknown');

-- dispatch_order.status after trimming, case folding and spelling variants
-- ('In Progress', 'in-progress', 'canceled').
CREATE TYPE public.order_status AS ENUM (
    'new', 'in_progress', 'shipped', 'delivered', 'cancelled', 'unknown');

-- dispatch_jaw.jaw_type in any case. A value that is neither is rejected.
CREATE TYPE public.jaw_type AS ENUM ('upper', 'lower');

-- dispatch_state.state_code: 0 created ... 9 cancelled; any other code
-- (-1, 99) is 'unknown'.
CREATE TYPE public.instruction_state AS ENUM (
    'created', 'received', 'in_design', 'design_approved', 'manufacturing',
    'quality_check', 'shipped', 'delivered', 'on_hold', 'cancelled', 'unknown');
