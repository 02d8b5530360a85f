-- Pages that cost what they show (issue 10).

-- 1. The access log: one row per request, naming every patient shown, instead of one row per
-- patient. "Who looked at this patient" is one indexed query (GIN on the array). The ids are
-- written by the same statement that read the rows shown, so they name cases that exist.
-- Existing rows become one-patient rows.
ALTER TABLE access_log ADD COLUMN patient_ids bigint[];
ALTER TABLE access_log DISABLE TRIGGER access_log_append_only;
UPDATE access_log SET patient_ids = ARRAY[patient_id];
ALTER TABLE access_log ENABLE TRIGGER access_log_append_only;
ALTER TABLE access_log ALTER COLUMN patient_ids SET NOT NULL,
    ADD CONSTRAINT access_log_names_patients CHECK (cardinality(patient_ids) > 0);
DROP INDEX access_log_patient_idx;
ALTER TABLE access_log DROP COLUMN patient_id;
CREATE INDEX access_log_patients_idx ON access_log USING gin (patient_ids);
-- nothing may empty the log in one go either
CREATE TRIGGER access_log_no_truncate BEFORE TRUNCATE ON access_log
    FOR EACH STATEMENT EXECUTE FUNCTION refuse_change();
CREATE TRIGGER patient_history_no_truncate BEFORE TRUNCATE ON patient_history
    FOR EACH STATEMENT EXECUTE FUNCTION refuse_change();

-- 2. Case counts kept with the change. Every insert, update or delete of a case adds -1 for
-- its old key and +1 for its new key (only when the key changes) in the same transaction, so
-- a count read in any snapshot is exact. Appending rows rather than updating one counter row
-- means concurrent changes never wait for each other; `compact_case_counts()` (run every few
-- seconds by a server process) folds the rows into one per key.
--
-- The key holds the hour (UTC) the case became ready, so "waiting 24 hours or more" is a sum
-- over the hours wholly before the line plus a count of the cases in the one hour the line
-- falls in. Hours older than a cut-off (two days before the folding process's clock) fold
-- into '-infinity'; `case_counts_folded.before` says where that line is, and a count whose
-- line falls before it counts the rows instead.
CREATE TABLE case_counts (
    trust_code    text NOT NULL,
    ward_code     text NOT NULL,
    status        text NOT NULL,
    pathway       smallint NOT NULL,      -- -1: no pathway chosen
    delay_reason  text NOT NULL,          -- '': none recorded
    ready_hour    timestamptz,            -- NULL: not ready; '-infinity': before the fold line
    n             bigint NOT NULL
);
CREATE INDEX case_counts_trust_idx ON case_counts (trust_code, ward_code);

CREATE TABLE case_counts_folded (
    one     boolean PRIMARY KEY DEFAULT true CHECK (one),
    before  timestamptz NOT NULL
);
INSERT INTO case_counts_folded VALUES (true, '-infinity');

CREATE FUNCTION ready_hour(ready timestamptz) RETURNS timestamptz
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    AS $$ SELECT date_trunc('hour', ready AT TIME ZONE 'UTC') AT TIME ZONE 'UTC' $$;

CREATE FUNCTION count_case_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE'
       AND NEW.trust_code = OLD.trust_code AND NEW.ward_code = OLD.ward_code
       AND NEW.status = OLD.status
       AND NEW.pathway IS NOT DISTINCT FROM OLD.pathway
       AND NEW.delay_reason IS NOT DISTINCT FROM OLD.delay_reason
       AND ready_hour(NEW.discharge_ready_at) IS NOT DISTINCT FROM ready_hour(OLD.discharge_ready_at) THEN
        RETURN NULL;
    END IF;
    IF TG_OP IN ('UPDATE', 'DELETE') THEN
        INSERT INTO case_counts VALUES (OLD.trust_code, OLD.ward_code, OLD.status,
            COALESCE(OLD.pathway, -1), COALESCE(OLD.delay_reason, ''),
            ready_hour(OLD.discharge_ready_at), -1);
    END IF;
    IF TG_OP IN ('UPDATE', 'INSERT') THEN
        INSERT INTO case_counts VALUES (NEW.trust_code, NEW.ward_code, NEW.status,
            COALESCE(NEW.pathway, -1), COALESCE(NEW.delay_reason, ''),
            ready_hour(NEW.discharge_ready_at), 1);
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER patients_count AFTER INSERT OR UPDATE OR DELETE ON patients
    FOR EACH ROW EXECUTE FUNCTION count_case_change();

-- Folds the counters: moves the fold line up to `cutoff` (never back), and turns the rows of
-- each key that has more than one row, sums to zero, or has an hour before the line into one
-- row (dropping keys that reach zero). Keys already folded are not touched, so an idle
-- database writes nothing but the line. One statement: rows other transactions add meanwhile
-- are not in its snapshot and stay as they are. Returns how many rows it folded.
CREATE FUNCTION compact_case_counts(cutoff timestamptz) RETURNS bigint LANGUAGE sql AS $$
    WITH line AS (
        UPDATE case_counts_folded SET before = GREATEST(before, ready_hour(cutoff))
        RETURNING before
    ), keyed AS (
        SELECT c.ctid AS tid, c.trust_code, c.ward_code, c.status, c.pathway, c.delay_reason,
               c.ready_hour,
               CASE WHEN c.ready_hour < (SELECT before FROM line) THEN '-infinity'::timestamptz
                    ELSE c.ready_hour END AS bucket,
               c.n
        FROM case_counts c
    ), loose AS (
        SELECT trust_code, ward_code, status, pathway, delay_reason, bucket
        FROM keyed
        GROUP BY trust_code, ward_code, status, pathway, delay_reason, bucket
        HAVING count(*) > 1 OR sum(n) = 0 OR bool_or(ready_hour IS DISTINCT FROM bucket)
    ), gone AS (
        DELETE FROM case_counts c
        USING keyed k JOIN loose l
            ON (k.trust_code, k.ward_code, k.status, k.pathway, k.delay_reason)
             = (l.trust_code, l.ward_code, l.status, l.pathway, l.delay_reason)
            AND k.bucket IS NOT DISTINCT FROM l.bucket
        WHERE c.ctid = k.tid
        RETURNING k.trust_code, k.ward_code, k.status, k.pathway, k.delay_reason, k.bucket, c.n
    ), folded AS (
        INSERT INTO case_counts
        SELECT trust_code, ward_code, status, pathway, delay_reason, bucket, sum(n)
        FROM gone GROUP BY trust_code, ward_code, status, pathway, delay_reason, bucket
        HAVING sum(n) <> 0
    )
    SELECT count(*) FROM gone;
$$;

-- The counts of the cases already here.
INSERT INTO case_counts
SELECT trust_code, ward_code, status, COALESCE(pathway, -1), COALESCE(delay_reason, ''),
       ready_hour(discharge_ready_at), count(*)
FROM patients
GROUP BY 1, 2, 3, 4, 5, 6;

-- 3. Keyset pages. The worklist's order: longest wait first, never-ready cases last, newest
-- first among equals; one index per way the hub and wards narrow it (all open cases, a
-- trust, a ward, a status), each in that order, so a page reads only its own rows.
DROP INDEX patients_open_worklist_idx;
DROP INDEX patients_trust_open_idx;
CREATE INDEX patients_open_wait_idx ON patients
    ((COALESCE(discharge_ready_at, 'infinity'::timestamptz)), id DESC)
    WHERE status NOT IN ('discharged','cancelled');
CREATE INDEX patients_open_trust_wait_idx ON patients
    (trust_code, (COALESCE(discharge_ready_at, 'infinity'::timestamptz)), id DESC)
    WHERE status NOT IN ('discharged','cancelled');
CREATE INDEX patients_open_ward_wait_idx ON patients
    (ward_code, (COALESCE(discharge_ready_at, 'infinity'::timestamptz)), id DESC)
    WHERE status NOT IN ('discharged','cancelled');
CREATE INDEX patients_status_wait_idx ON patients
    (status, (COALESCE(discharge_ready_at, 'infinity'::timestamptz)), id DESC);
-- by delay reason, and the board's "no reason recorded": both can be rare among thousands
-- of open cases
CREATE INDEX patients_open_reason_wait_idx ON patients
    (delay_reason, (COALESCE(discharge_ready_at, 'infinity'::timestamptz)), id DESC)
    WHERE status NOT IN ('discharged','cancelled');
CREATE INDEX patients_open_no_reason_wait_idx ON patients
    ((COALESCE(discharge_ready_at, 'infinity'::timestamptz)), id DESC)
    WHERE status NOT IN ('discharged','cancelled') AND delay_reason IS NULL
      AND discharge_ready_at IS NOT NULL;
DROP INDEX patients_status_idx;
-- The 24-hour standard: open cases that became ready recently (the rest are over 24 hours).
CREATE INDEX patients_open_ready_idx ON patients (discharge_ready_at)
    WHERE status NOT IN ('discharged','cancelled') AND discharge_ready_at IS NOT NULL;
-- Partners' lists: most recently changed first (CONTRACT.md "Lists").
CREATE INDEX patients_updated_idx ON patients (updated_at DESC, id DESC);

-- 4. Reference data is cached in each server process; a change to it is announced so every
-- process reloads its copy.
CREATE FUNCTION notify_reference_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('homeward_events', json_build_object(
        'type', 'reference.changed', 'at', now(), 'table', TG_TABLE_NAME)::text);
    RETURN NULL;
END $$;
CREATE TRIGGER organisations_reference AFTER INSERT OR UPDATE OR DELETE ON organisations
    FOR EACH STATEMENT EXECUTE FUNCTION notify_reference_change();
CREATE TRIGGER wards_reference AFTER INSERT OR UPDATE OR DELETE ON wards
    FOR EACH STATEMENT EXECUTE FUNCTION notify_reference_change();
CREATE TRIGGER delay_reasons_reference AFTER INSERT OR UPDATE OR DELETE ON delay_reasons
    FOR EACH STATEMENT EXECUTE FUNCTION notify_reference_change();
CREATE TRIGGER code_sets_reference AFTER INSERT OR UPDATE OR DELETE ON code_sets
    FOR EACH STATEMENT EXECUTE FUNCTION notify_reference_change();
