-- Target schema 0003: tables derived from the migrated ones after a load. They
-- have no legacy rows; they are recomputed, and their rows go with their
-- parent (ON DELETE CASCADE).
-- Never edit this file once applied: add a new numbered migration instead.

-- How long each order spent in each state, from instruction_states ordered by
-- changed_at. An order that entered a state twice has one row with both stays
-- added up.
CREATE TABLE public.state_analytics (
    order_id         uuid NOT NULL REFERENCES public.orders (id) ON DELETE CASCADE,
    state            public.instruction_state NOT NULL,
    entries          integer NOT NULL CHECK (entries > 0),  -- times the order entered it
    first_entered_at timestamptz NOT NULL,
    last_left_at     timestamptz NULL,      -- NULL while the order is still in this state
    time_in_state    interval NOT NULL,     -- total; up to computed_at for the current state
    is_current       boolean NOT NULL,
    computed_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (order_id, state)
);
CREATE INDEX state_analytics_state_idx ON public.state_analytics (state);

-- Embeddings of searchable text. The vector is a real[] (no pgvector: creating
-- an extension needs rights a Supabase project owner may lack); one row per
-- record and model. content_hash (SHA-256 hex of the embedded text) says when
-- a row is stale. The text itself is not stored here.
CREATE TABLE public.project_embeddings (
    project_id   uuid NOT NULL REFERENCES public.projects (id) ON DELETE CASCADE,
    model        text NOT NULL,
    dimensions   integer NOT NULL CHECK (dimensions > 0),
    embedding    real[] NOT NULL CHECK (cardinality(embedding) = dimensions),
    content_hash text NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (project_id, model)
);

CREATE TABLE public.treatment_plan_embeddings (
    treatment_plan_id uuid NOT NULL REFERENCES public.treatment_plans (id) ON DELETE CASCADE,
    model             text NOT NULL,
    dimensions        integer NOT NULL CHECK (dimensions > 0),
    embedding         real[] NOT NULL CHECK (cardinality(embedding) = dimensions),
    content_hash      text NOT NULL,
    created_at        timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (treatment_plan_id, model)
);
