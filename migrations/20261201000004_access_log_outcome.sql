-- The access log records refused attempts too (issue 12): a request for a patient the caller
-- may not see is written with outcome 'refused', so "who tried to look at this patient" is
-- answerable as well as "who looked".
ALTER TABLE access_log ADD COLUMN outcome text NOT NULL DEFAULT 'shown'
    CHECK (outcome IN ('shown', 'refused'));
CREATE INDEX access_log_org_idx ON access_log (org_code, at);
CREATE INDEX access_log_at_idx ON access_log (at);
