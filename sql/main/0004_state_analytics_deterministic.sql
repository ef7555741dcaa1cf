-- Target schema 0004: state_analytics depends only on the migrated data.
-- Until now the current state's time_in_state ran up to computed_at (the
-- time of the run that last touched the order), so two runs over the same
-- legacy data gave different tables. Now time_in_state is the total of the
-- closed stays only, current_since says when the open stay began, and the
-- view state_analytics_live adds the time up to now() for whoever wants it.
-- Never edit this file once applied: add a new numbered migration instead.

ALTER TABLE public.state_analytics
    ADD COLUMN current_since timestamptz NULL;

-- Rows computed the old way: take the open stay's part back out of
-- time_in_state (it was greatest(computed_at - since, 0)) and keep its start.
-- The open stay is the order's latest live state change; a start at
-- +-infinity has no length and stays NULL.
UPDATE public.state_analytics sa
   SET current_since = o.since,
       time_in_state = greatest(sa.time_in_state - greatest(sa.computed_at - o.since, interval '0'),
                                interval '0')
  FROM (SELECT DISTINCT ON (s.order_id) s.order_id, s.state, s.changed_at AS since
          FROM public.instruction_states s
         WHERE s.deleted_at IS NULL
         ORDER BY s.order_id, s.changed_at DESC, s.legacy_id DESC) o
 WHERE sa.is_current
   AND o.order_id = sa.order_id
   AND o.state = sa.state
   AND isfinite(o.since);

ALTER TABLE public.state_analytics
    DROP COLUMN computed_at,
    ADD CONSTRAINT state_analytics_current_since_check CHECK (current_since IS NULL OR is_current);

COMMENT ON COLUMN public.state_analytics.time_in_state IS
    'total time of the closed stays in this state (the open one is in state_analytics_live); '
    'stays that begin or end at +-infinity are left out';
COMMENT ON COLUMN public.state_analytics.current_since IS
    'start of the open stay while the order is in this state; NULL otherwise, or when that start '
    'is +-infinity';

-- time_in_state up to now() for the current state: read this, not the
-- table, when the time so far matters. as_of is the instant it was computed.
CREATE VIEW public.state_analytics_live AS
SELECT sa.order_id,
       sa.state,
       sa.entries,
       sa.first_entered_at,
       sa.last_left_at,
       sa.is_current,
       sa.current_since,
       sa.time_in_state
           + CASE WHEN sa.current_since IS NULL THEN interval '0'
                  ELSE greatest(now() - sa.current_since, interval '0') END AS time_in_state,
       now() AS as_of
  FROM public.state_analytics sa;
