-- The reports' "which periods of not meeting the criteria touch this day / were open at this
-- moment", with their range index, behind the hubs' wall.
--
-- Under row-level security PostgreSQL narrows an index only with "leakproof" conditions, and
-- range constructors and operators (tstzrange, &&, @>) are not: behind the wall the sitrep,
-- the national returns and the flow report read every period of the hub, years of them, instead
-- of the GiST index's few (found in a review of every query behind the wall). These functions
-- run the same tests with the index as the tables' owner, but only among the connection's hubs
-- (the wall's own test), and return what the reports read of a period.
-- (`homeward_sees_every_hub()`, 20261209000003, says when a session sees every hub.)

-- Periods touching [from_at, to_at] (a period is the closed range [started_at, ended_at]).
CREATE FUNCTION homeward_periods_touching(from_at timestamptz, to_at timestamptz)
    RETURNS TABLE (patient_id bigint, started_at timestamptz, ended_at timestamptz)
    LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public
    AS $$
    SELECT n.patient_id, n.started_at, n.ended_at FROM nctr_periods n
    WHERE tstzrange(n.started_at, COALESCE(n.ended_at, 'infinity'::timestamptz), '[]')
          && tstzrange(from_at, to_at, '[]')
      AND ((SELECT homeward_sees_every_hub()) OR n.hub_code = ANY (CAST((SELECT homeward_hubs()) AS text[])))
    $$;

-- For each cut-off, the periods still open then (started at or before it, not ended by it).
CREATE FUNCTION homeward_periods_open_at(cutoffs timestamptz[])
    RETURNS TABLE (cutoff timestamptz, patient_id bigint, hub_code text)
    LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public
    AS $$
    SELECT d.cutoff, n.patient_id, n.hub_code
    FROM unnest(cutoffs) AS d(cutoff)
    JOIN nctr_periods n
      ON tstzrange(n.started_at, COALESCE(n.ended_at, 'infinity'::timestamptz), '[]') @> d.cutoff
     AND (n.ended_at IS NULL OR n.ended_at > d.cutoff)
    WHERE (SELECT homeward_sees_every_hub()) OR n.hub_code = ANY (CAST((SELECT homeward_hubs()) AS text[]))
    $$;

