-- The hub's worklist sorted by ward, led by the hub like its other orders (found in review of
-- 20261209000001: with 40 other hubs' 120,000 open cases beside the hub's, a page sorted by
-- ward read through the ward-led index filtering on the hub, 476 ms; with this index, 0.12 ms).
-- `patients_open_ward_wait_idx` stays for ward users, whose lists are led by their ward.
CREATE INDEX patients_open_hub_ward_wait_idx ON patients
    (hub_code, ward_code, COALESCE(discharge_ready_at, 'infinity'::timestamptz), id DESC)
    WHERE status NOT IN ('discharged','cancelled');

-- The status order's rank, as an expression PostgreSQL may use inside the hubs' wall. A
-- condition can narrow an index scan under row-level security only when nothing in it could
-- reveal a row's values through an error (it is "leakproof"); the old rank was a STRICT
-- function ending in a cast to smallint, neither of which PostgreSQL can see through, so the
-- status-sorted page and every later page of it read the hub's cases from the start of the
-- index (4,776 rows in planning skipped in the benchmark). This one is inlined into a CASE of
-- text comparisons and integers, which is.
DROP INDEX patients_open_status_rank_wait_idx;
DROP FUNCTION case_status_rank(text);
CREATE FUNCTION case_status_rank(status text) RETURNS integer
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    AS $$ SELECT CASE status
        WHEN 'planning' THEN 0 WHEN 'awaiting_triage' THEN 1 WHEN 'awaiting_care' THEN 2
        WHEN 'care_arranged' THEN 3 WHEN 'ready_to_go' THEN 4 WHEN 'discharged' THEN 5
        ELSE 6 END $$;
CREATE INDEX patients_open_status_rank_wait_idx ON patients
    (hub_code, case_status_rank(status), COALESCE(discharge_ready_at, 'infinity'::timestamptz), id DESC)
    WHERE status NOT IN ('discharged','cancelled');
