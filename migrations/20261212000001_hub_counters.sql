-- A hub's counters by status and hour of readiness only: what the hub's worklist counts when
-- no filter other than the status is chosen (every coordinator's first page).
--
-- `case_counts` keeps one row for each trust, ward, status, pathway, delay reason, coordinator
-- and hour of readiness, so a hub's unfiltered total sums every combination: about 1,100 rows
-- for 3,000 open cases and 3,300 for 100,000 (0.8-1 ms of the page's 2.5 ms statement on the
-- worklist benchmark, growing with the open list). `case_counts_hub` holds the same counts
-- by hub, status and hour: at most a status's worth of rows for each of the hours kept apart
-- (48) plus one for the hours folded together, however many cases are open.
--
-- Kept as `case_counts` is: the trigger appends a row for every change of a case's hub,
-- status or hour of readiness (so counts read in any transaction are exact and no two changes
-- wait on one counter row), and the server's folding (`compact_case_counts`) folds both tables
-- with the same line between the hours kept apart and those folded together.

-- No case changes while the new counters are filled from the old and the trigger is replaced
-- (a server of the previous version may be running): a change committed in between would be
-- in `case_counts` and never in `case_counts_hub`.
LOCK TABLE patients IN SHARE MODE;

CREATE TABLE case_counts_hub (
    hub_code    text NOT NULL,
    status      text NOT NULL,
    ready_hour  timestamptz,            -- NULL: not ready; '-infinity': before the fold line
    n           bigint NOT NULL
);
CREATE INDEX case_counts_hub_status_idx ON case_counts_hub (hub_code, status);

-- The same counts as `case_counts`, summed by hub, status and hour.
INSERT INTO case_counts_hub (hub_code, status, ready_hour, n)
SELECT hub_code, status, ready_hour, sum(n)
FROM case_counts
GROUP BY hub_code, status, ready_hour
HAVING sum(n) <> 0;

ALTER TABLE case_counts_hub ENABLE ROW LEVEL SECURITY;
CREATE POLICY hub_wall ON case_counts_hub
    USING ((SELECT homeward_sees_all()) OR hub_code = ANY (CAST((SELECT homeward_hubs()) AS text[])))
    WITH CHECK ((SELECT homeward_sees_all()) OR hub_code = ANY (CAST((SELECT homeward_hubs()) AS text[])));

CREATE OR REPLACE FUNCTION count_case_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE'
       AND NEW.trust_code = OLD.trust_code AND NEW.ward_code = OLD.ward_code
       AND NEW.hub_code = OLD.hub_code
       AND NEW.status = OLD.status
       AND NEW.pathway IS NOT DISTINCT FROM OLD.pathway
       AND NEW.delay_reason IS NOT DISTINCT FROM OLD.delay_reason
       AND NEW.coordinator_id IS NOT DISTINCT FROM OLD.coordinator_id
       AND ready_hour(NEW.discharge_ready_at) IS NOT DISTINCT FROM ready_hour(OLD.discharge_ready_at) THEN
        RETURN NULL;
    END IF;
    IF TG_OP IN ('UPDATE', 'DELETE') THEN
        INSERT INTO case_counts (hub_code, trust_code, ward_code, status, pathway, delay_reason,
                                 ready_hour, n, coordinator_id)
        VALUES (OLD.hub_code, OLD.trust_code, OLD.ward_code, OLD.status,
            COALESCE(OLD.pathway, -1), COALESCE(OLD.delay_reason, ''),
            ready_hour(OLD.discharge_ready_at), -1, COALESCE(OLD.coordinator_id, -1));
    END IF;
    IF TG_OP IN ('UPDATE', 'INSERT') THEN
        INSERT INTO case_counts (hub_code, trust_code, ward_code, status, pathway, delay_reason,
                                 ready_hour, n, coordinator_id)
        VALUES (NEW.hub_code, NEW.trust_code, NEW.ward_code, NEW.status,
            COALESCE(NEW.pathway, -1), COALESCE(NEW.delay_reason, ''),
            ready_hour(NEW.discharge_ready_at), 1, COALESCE(NEW.coordinator_id, -1));
    END IF;
    -- the hub's counters change only with the hub, the status or the hour
    IF TG_OP = 'UPDATE'
       AND NEW.hub_code = OLD.hub_code
       AND NEW.status = OLD.status
       AND ready_hour(NEW.discharge_ready_at) IS NOT DISTINCT FROM ready_hour(OLD.discharge_ready_at) THEN
        RETURN NULL;
    END IF;
    IF TG_OP IN ('UPDATE', 'DELETE') THEN
        INSERT INTO case_counts_hub (hub_code, status, ready_hour, n)
        VALUES (OLD.hub_code, OLD.status, ready_hour(OLD.discharge_ready_at), -1);
    END IF;
    IF TG_OP IN ('UPDATE', 'INSERT') THEN
        INSERT INTO case_counts_hub (hub_code, status, ready_hour, n)
        VALUES (NEW.hub_code, NEW.status, ready_hour(NEW.discharge_ready_at), 1);
    END IF;
    RETURN NULL;
END $$;

-- Folds both tables: the delta rows of each key together, and the hours before the line into
-- one ('-infinity'). Returns the rows folded away.
CREATE OR REPLACE FUNCTION compact_case_counts(cutoff timestamptz) RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
    line timestamptz;
    folded bigint;
    folded_hub bigint;
BEGIN
    UPDATE case_counts_folded SET before = GREATEST(before, ready_hour(cutoff))
    RETURNING before INTO line;
    WITH keyed AS (
        SELECT c.ctid AS tid, c.hub_code, c.trust_code, c.ward_code, c.status, c.pathway,
               c.delay_reason, c.coordinator_id, c.ready_hour,
               CASE WHEN c.ready_hour < line THEN '-infinity'::timestamptz
                    ELSE c.ready_hour END AS bucket,
               c.n
        FROM case_counts c
    ), loose AS (
        SELECT hub_code, trust_code, ward_code, status, pathway, delay_reason, coordinator_id, bucket
        FROM keyed
        GROUP BY hub_code, trust_code, ward_code, status, pathway, delay_reason, coordinator_id, bucket
        HAVING count(*) > 1 OR sum(n) = 0 OR bool_or(ready_hour IS DISTINCT FROM bucket)
    ), gone AS (
        DELETE FROM case_counts c
        USING keyed k JOIN loose l
            ON (k.hub_code, k.trust_code, k.ward_code, k.status, k.pathway, k.delay_reason, k.coordinator_id)
             = (l.hub_code, l.trust_code, l.ward_code, l.status, l.pathway, l.delay_reason, l.coordinator_id)
            AND k.bucket IS NOT DISTINCT FROM l.bucket
        WHERE c.ctid = k.tid
        RETURNING k.hub_code, k.trust_code, k.ward_code, k.status, k.pathway, k.delay_reason,
                  k.coordinator_id, k.bucket, c.n
    ), kept AS (
        INSERT INTO case_counts (hub_code, trust_code, ward_code, status, pathway, delay_reason,
                                 coordinator_id, ready_hour, n)
        SELECT hub_code, trust_code, ward_code, status, pathway, delay_reason, coordinator_id, bucket, sum(n)
        FROM gone
        GROUP BY hub_code, trust_code, ward_code, status, pathway, delay_reason, coordinator_id, bucket
        HAVING sum(n) <> 0
    )
    SELECT count(*) INTO folded FROM gone;

    WITH keyed AS (
        SELECT c.ctid AS tid, c.hub_code, c.status, c.ready_hour,
               CASE WHEN c.ready_hour < line THEN '-infinity'::timestamptz
                    ELSE c.ready_hour END AS bucket,
               c.n
        FROM case_counts_hub c
    ), loose AS (
        SELECT hub_code, status, bucket
        FROM keyed
        GROUP BY hub_code, status, bucket
        HAVING count(*) > 1 OR sum(n) = 0 OR bool_or(ready_hour IS DISTINCT FROM bucket)
    ), gone AS (
        DELETE FROM case_counts_hub c
        USING keyed k JOIN loose l
            ON (k.hub_code, k.status) = (l.hub_code, l.status)
            AND k.bucket IS NOT DISTINCT FROM l.bucket
        WHERE c.ctid = k.tid
        RETURNING k.hub_code, k.status, k.bucket, c.n
    ), kept AS (
        INSERT INTO case_counts_hub (hub_code, status, ready_hour, n)
        SELECT hub_code, status, bucket, sum(n)
        FROM gone
        GROUP BY hub_code, status, bucket
        HAVING sum(n) <> 0
    )
    SELECT count(*) INTO folded_hub FROM gone;
    RETURN folded + folded_hub;
END $$;
