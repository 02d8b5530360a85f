-- The coordinator's worklist (issue 12): "My cases" and "Unassigned", sorting by any column,
-- patient search, and news (an acceptance or decline) marked until the reader opens the case.
-- Each of these is a list read a page at a time from an index, with counts from the counters.

-- 1. Who coordinates a case is part of the counters' key, so "My cases" and "Unassigned"
-- are counted like every other filter (-1: nobody).
ALTER TABLE case_counts ADD COLUMN coordinator_id bigint NOT NULL DEFAULT -1;

CREATE OR REPLACE FUNCTION count_case_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE'
       AND NEW.trust_code = OLD.trust_code AND NEW.ward_code = OLD.ward_code
       AND NEW.status = OLD.status
       AND NEW.pathway IS NOT DISTINCT FROM OLD.pathway
       AND NEW.delay_reason IS NOT DISTINCT FROM OLD.delay_reason
       AND NEW.coordinator_id IS NOT DISTINCT FROM OLD.coordinator_id
       AND ready_hour(NEW.discharge_ready_at) IS NOT DISTINCT FROM ready_hour(OLD.discharge_ready_at) THEN
        RETURN NULL;
    END IF;
    IF TG_OP IN ('UPDATE', 'DELETE') THEN
        INSERT INTO case_counts (trust_code, ward_code, status, pathway, delay_reason,
                                 ready_hour, n, coordinator_id)
        VALUES (OLD.trust_code, OLD.ward_code, OLD.status,
            COALESCE(OLD.pathway, -1), COALESCE(OLD.delay_reason, ''),
            ready_hour(OLD.discharge_ready_at), -1, COALESCE(OLD.coordinator_id, -1));
    END IF;
    IF TG_OP IN ('UPDATE', 'INSERT') THEN
        INSERT INTO case_counts (trust_code, ward_code, status, pathway, delay_reason,
                                 ready_hour, n, coordinator_id)
        VALUES (NEW.trust_code, NEW.ward_code, NEW.status,
            COALESCE(NEW.pathway, -1), COALESCE(NEW.delay_reason, ''),
            ready_hour(NEW.discharge_ready_at), 1, COALESCE(NEW.coordinator_id, -1));
    END IF;
    RETURN NULL;
END $$;

CREATE OR REPLACE FUNCTION compact_case_counts(cutoff timestamptz) RETURNS bigint LANGUAGE sql AS $$
    WITH line AS (
        UPDATE case_counts_folded SET before = GREATEST(before, ready_hour(cutoff))
        RETURNING before
    ), keyed AS (
        SELECT c.ctid AS tid, c.trust_code, c.ward_code, c.status, c.pathway, c.delay_reason,
               c.coordinator_id, c.ready_hour,
               CASE WHEN c.ready_hour < (SELECT before FROM line) THEN '-infinity'::timestamptz
                    ELSE c.ready_hour END AS bucket,
               c.n
        FROM case_counts c
    ), loose AS (
        SELECT trust_code, ward_code, status, pathway, delay_reason, coordinator_id, bucket
        FROM keyed
        GROUP BY trust_code, ward_code, status, pathway, delay_reason, coordinator_id, bucket
        HAVING count(*) > 1 OR sum(n) = 0 OR bool_or(ready_hour IS DISTINCT FROM bucket)
    ), gone AS (
        DELETE FROM case_counts c
        USING keyed k JOIN loose l
            ON (k.trust_code, k.ward_code, k.status, k.pathway, k.delay_reason, k.coordinator_id)
             = (l.trust_code, l.ward_code, l.status, l.pathway, l.delay_reason, l.coordinator_id)
            AND k.bucket IS NOT DISTINCT FROM l.bucket
        WHERE c.ctid = k.tid
        RETURNING k.trust_code, k.ward_code, k.status, k.pathway, k.delay_reason,
                  k.coordinator_id, k.bucket, c.n
    ), folded AS (
        INSERT INTO case_counts (trust_code, ward_code, status, pathway, delay_reason,
                                 coordinator_id, ready_hour, n)
        SELECT trust_code, ward_code, status, pathway, delay_reason, coordinator_id, bucket, sum(n)
        FROM gone
        GROUP BY trust_code, ward_code, status, pathway, delay_reason, coordinator_id, bucket
        HAVING sum(n) <> 0
    )
    SELECT count(*) FROM gone;
$$;

-- The counts again, now by coordinator too (the hours before the fold line stay folded).
LOCK TABLE patients IN SHARE MODE;
DELETE FROM case_counts;
INSERT INTO case_counts (trust_code, ward_code, status, pathway, delay_reason, ready_hour,
                         n, coordinator_id)
SELECT trust_code, ward_code, status, COALESCE(pathway, -1), COALESCE(delay_reason, ''),
       CASE WHEN ready_hour(discharge_ready_at) < (SELECT before FROM case_counts_folded)
            THEN '-infinity'::timestamptz ELSE ready_hour(discharge_ready_at) END,
       count(*), COALESCE(coordinator_id, -1)
FROM patients
GROUP BY 1, 2, 3, 4, 5, 6, 8;

-- 2. Sorting the worklist by a column: each order is (column, longest wait, newest) and has
-- an index over the open cases. The coordinator's sort key is their username, copied onto
-- the case (usernames never change) so the order can be indexed; unassigned sorts first.
ALTER TABLE patients ADD COLUMN coordinator_username text;
UPDATE patients p SET coordinator_username = u.username FROM users u WHERE u.id = p.coordinator_id;

CREATE FUNCTION copy_coordinator_username() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.coordinator_id IS NULL THEN
        NEW.coordinator_username := NULL;
    ELSIF TG_OP = 'INSERT' OR NEW.coordinator_id IS DISTINCT FROM OLD.coordinator_id
          OR NEW.coordinator_username IS NULL THEN
        NEW.coordinator_username := (SELECT username FROM users WHERE id = NEW.coordinator_id);
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER patients_coordinator_username BEFORE INSERT OR UPDATE ON patients
    FOR EACH ROW EXECUTE FUNCTION copy_coordinator_username();

-- where a status comes in the journey (the status sort)
CREATE FUNCTION case_status_rank(status text) RETURNS smallint
    LANGUAGE sql IMMUTABLE PARALLEL SAFE STRICT
    AS $$ SELECT CASE status
        WHEN 'planning' THEN 0 WHEN 'awaiting_triage' THEN 1 WHEN 'awaiting_care' THEN 2
        WHEN 'care_arranged' THEN 3 WHEN 'ready_to_go' THEN 4 WHEN 'discharged' THEN 5
        ELSE 6 END::smallint $$;

CREATE INDEX patients_open_status_rank_wait_idx ON patients
    (case_status_rank(status), (COALESCE(discharge_ready_at, 'infinity'::timestamptz)), id DESC)
    WHERE status NOT IN ('discharged','cancelled');
CREATE INDEX patients_open_pathway_wait_idx ON patients
    ((COALESCE(pathway, -1)), (COALESCE(discharge_ready_at, 'infinity'::timestamptz)), id DESC)
    WHERE status NOT IN ('discharged','cancelled');
CREATE INDEX patients_open_coordinator_sort_idx ON patients
    ((COALESCE(coordinator_username, '')), (COALESCE(discharge_ready_at, 'infinity'::timestamptz)), id DESC)
    WHERE status NOT IN ('discharged','cancelled');
-- "My cases" and "Unassigned", longest wait first
CREATE INDEX patients_open_coordinator_wait_idx ON patients
    (coordinator_id, (COALESCE(discharge_ready_at, 'infinity'::timestamptz)), id DESC)
    WHERE status NOT IN ('discharged','cancelled');
CREATE INDEX patients_open_unassigned_wait_idx ON patients
    ((COALESCE(discharge_ready_at, 'infinity'::timestamptz)), id DESC)
    WHERE status NOT IN ('discharged','cancelled') AND coordinator_id IS NULL;

-- 3. Finding a patient: by name with the one folding rule (trigram index, so a part of a
-- name is found too), by hospital number, by bed; NHS numbers have their index already.
CREATE INDEX patients_name_search_idx ON patients
    USING gin (search_fold(given_name || ' ' || family_name) gin_trgm_ops);
CREATE INDEX patients_bed_idx ON patients (lower(bed)) WHERE bed <> '';
CREATE INDEX patients_local_id_search_idx ON patients (upper(local_id)) WHERE local_id IS NOT NULL;

-- 4. News a reader has not seen: a referral decided after the reader last opened the case.
CREATE TABLE case_reads (
    user_id     bigint NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    patient_id  bigint NOT NULL REFERENCES patients(id) ON DELETE CASCADE,
    seen_at     timestamptz NOT NULL,
    PRIMARY KEY (user_id, patient_id)
);
CREATE INDEX referrals_patient_decided_idx ON referrals (patient_id, decided_at)
    WHERE decided_at IS NOT NULL;

-- 5. The people a task (or a case, for the hub) can go to: hub users and a trust's ward users.
CREATE INDEX users_role_name_idx ON users (role, org_code, display_name) WHERE disabled_at IS NULL;
