-- The worklist's sort keys, written so PostgreSQL can narrow an index with them behind the
-- hubs' wall (found in review after 20261209000003). PostgreSQL treats COALESCE as possibly
-- leaking a hidden row's values ("not leakproof"), so under row-level security a condition
-- on `COALESCE(discharge_ready_at, 'infinity')` (the wait), on the pathway's or the
-- coordinator's COALESCE, and the keyset cursor built on them, was applied row by row after the
-- wall instead of bounding the index range: a later page of the worklist read through every
-- case before it (page 2 of a hub's list by wait took 14-18 ms, 1.3-1.6 ms once the plan was
-- kept; by coordinator 11 ms, against 0.13-0.2 ms without the wall). These functions say
-- the same with CASE and IS NULL, which PostgreSQL inlines and can see are safe; the indexes
-- are rebuilt on them and the list's queries use them.

CREATE FUNCTION case_wait(ready timestamptz) RETURNS timestamptz
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    AS $$ SELECT CASE WHEN ready IS NULL THEN 'infinity'::timestamptz ELSE ready END $$;

CREATE FUNCTION case_pathway_key(pathway smallint) RETURNS integer
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    AS $$ SELECT CASE WHEN pathway IS NULL THEN -1 ELSE pathway::integer END $$;

CREATE FUNCTION case_coordinator_key(username text) RETURNS text
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    AS $$ SELECT CASE WHEN username IS NULL THEN '' ELSE username END $$;


DROP INDEX patients_open_coordinator_sort_idx;
CREATE INDEX patients_open_coordinator_sort_idx ON patients (hub_code, case_coordinator_key(coordinator_username), case_wait(discharge_ready_at), id DESC) WHERE status NOT IN ('discharged','cancelled');

DROP INDEX patients_open_coordinator_wait_idx;
CREATE INDEX patients_open_coordinator_wait_idx ON patients (coordinator_id, case_wait(discharge_ready_at), id DESC) WHERE status NOT IN ('discharged','cancelled');

DROP INDEX patients_open_hub_ward_wait_idx;
CREATE INDEX patients_open_hub_ward_wait_idx ON patients (hub_code, ward_code, case_wait(discharge_ready_at), id DESC) WHERE status NOT IN ('discharged','cancelled');

DROP INDEX patients_open_no_reason_wait_idx;
CREATE INDEX patients_open_no_reason_wait_idx ON patients (hub_code, case_wait(discharge_ready_at), id DESC) WHERE (status NOT IN ('discharged','cancelled') AND (delay_reason IS NULL) AND (discharge_ready_at IS NOT NULL));

DROP INDEX patients_open_pathway_wait_idx;
CREATE INDEX patients_open_pathway_wait_idx ON patients (hub_code, case_pathway_key(pathway), case_wait(discharge_ready_at), id DESC) WHERE status NOT IN ('discharged','cancelled');

DROP INDEX patients_open_reason_wait_idx;
CREATE INDEX patients_open_reason_wait_idx ON patients (hub_code, delay_reason, case_wait(discharge_ready_at), id DESC) WHERE status NOT IN ('discharged','cancelled');

DROP INDEX patients_open_status_rank_wait_idx;
CREATE INDEX patients_open_status_rank_wait_idx ON patients (hub_code, case_status_rank(status), case_wait(discharge_ready_at), id DESC) WHERE status NOT IN ('discharged','cancelled');

DROP INDEX patients_open_trust_wait_idx;
CREATE INDEX patients_open_trust_wait_idx ON patients (trust_code, case_wait(discharge_ready_at), id DESC) WHERE status NOT IN ('discharged','cancelled');

DROP INDEX patients_open_unassigned_wait_idx;
CREATE INDEX patients_open_unassigned_wait_idx ON patients (hub_code, case_wait(discharge_ready_at), id DESC) WHERE (status NOT IN ('discharged','cancelled') AND (coordinator_id IS NULL));

DROP INDEX patients_open_wait_idx;
CREATE INDEX patients_open_wait_idx ON patients (hub_code, case_wait(discharge_ready_at), id DESC) WHERE status NOT IN ('discharged','cancelled');

DROP INDEX patients_open_ward_wait_idx;
CREATE INDEX patients_open_ward_wait_idx ON patients (ward_code, case_wait(discharge_ready_at), id DESC) WHERE status NOT IN ('discharged','cancelled');

DROP INDEX patients_status_wait_idx;
CREATE INDEX patients_status_wait_idx ON patients (hub_code, status, case_wait(discharge_ready_at), id DESC);
