-- The sitrep asks "which not-meeting-criteria periods overlap this day?" for any past day:
-- a GiST index on the period as a range answers it without scanning years of history.
CREATE INDEX nctr_periods_range_idx ON nctr_periods
    USING gist (tstzrange(started_at, COALESCE(ended_at, 'infinity'::timestamptz), '[)'));
