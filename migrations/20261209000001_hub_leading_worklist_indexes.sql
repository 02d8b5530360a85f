-- The worklist's indexes, built so a hub's page reads its own cases in the page's order and
-- stops after the page, however many other hubs share the install, and so the conditions on
-- them work behind the hubs' row-level wall.
--
-- 1. The hub's lists name their hub (`p.hub_code = $1`) and the old indexes did not hold it.
--    PostgreSQL then either re-planned the statement on every call (2-3 ms of planning a
--    page, the plan it would keep being worse) or, with a kept plan, read every open case of
--    every hub and sorted them (found with the worklist benchmark after several hubs). Each
--    hub order now has an index led by the hub; ward users' lists keep their trust- and
--    ward-led indexes; a coordinator's own cases keep the coordinator-led one (a coordinator
--    works in one hub).
--
-- 2. Under row-level security PostgreSQL narrows an index scan only with conditions that
--    cannot reveal a hidden row's values through an error ("leakproof"). COALESCE, a STRICT
--    SQL function and a cast to smallint are not, so conditions on the old sort keys
--    (`COALESCE(discharge_ready_at, 'infinity')`, the pathway's and coordinator's COALESCE,
--    the STRICT smallint status rank) and the keyset cursor built on them were applied row by
--    row after the wall: a later page read through every case before it (page 2 by wait
--    14-18 ms, by coordinator 11 ms, against 0.13-0.6 ms). The keys are now functions of CASE
--    and IS NULL, which PostgreSQL inlines and can see are safe, and every list index is built
--    on them.

CREATE FUNCTION case_wait(ready timestamptz) RETURNS timestamptz
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    AS $$ SELECT CASE WHEN ready IS NULL THEN 'infinity'::timestamptz ELSE ready END $$;

CREATE FUNCTION case_pathway_key(pathway smallint) RETURNS integer
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    AS $$ SELECT CASE WHEN pathway IS NULL THEN -1 ELSE pathway::integer END $$;

CREATE FUNCTION case_coordinator_key(username text) RETURNS text
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    AS $$ SELECT CASE WHEN username IS NULL THEN '' ELSE username END $$;

DROP INDEX patients_open_status_rank_wait_idx;
DROP FUNCTION case_status_rank(text);
CREATE FUNCTION case_status_rank(status text) RETURNS integer
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    AS $$ SELECT CASE status
        WHEN 'planning' THEN 0 WHEN 'awaiting_triage' THEN 1 WHEN 'awaiting_care' THEN 2
        WHEN 'care_arranged' THEN 3 WHEN 'ready_to_go' THEN 4 WHEN 'discharged' THEN 5
        ELSE 6 END $$;

DROP INDEX patients_open_wait_idx;
DROP INDEX patients_status_wait_idx;
DROP INDEX patients_open_reason_wait_idx;
DROP INDEX patients_open_no_reason_wait_idx;
DROP INDEX patients_open_unassigned_wait_idx;
DROP INDEX patients_open_pathway_wait_idx;
DROP INDEX patients_open_coordinator_sort_idx;
DROP INDEX patients_open_coordinator_wait_idx;
DROP INDEX patients_open_trust_wait_idx;
DROP INDEX patients_open_ward_wait_idx;

-- the hub's orders
CREATE INDEX patients_open_wait_idx ON patients (hub_code, case_wait(discharge_ready_at), id DESC)
    WHERE status NOT IN ('discharged','cancelled');
CREATE INDEX patients_status_wait_idx ON patients
    (hub_code, status, case_wait(discharge_ready_at), id DESC);
CREATE INDEX patients_open_reason_wait_idx ON patients
    (hub_code, delay_reason, case_wait(discharge_ready_at), id DESC)
    WHERE status NOT IN ('discharged','cancelled');
CREATE INDEX patients_open_no_reason_wait_idx ON patients (hub_code, case_wait(discharge_ready_at), id DESC)
    WHERE status NOT IN ('discharged','cancelled') AND delay_reason IS NULL
      AND discharge_ready_at IS NOT NULL;
CREATE INDEX patients_open_unassigned_wait_idx ON patients (hub_code, case_wait(discharge_ready_at), id DESC)
    WHERE status NOT IN ('discharged','cancelled') AND coordinator_id IS NULL;
CREATE INDEX patients_open_status_rank_wait_idx ON patients
    (hub_code, case_status_rank(status), case_wait(discharge_ready_at), id DESC)
    WHERE status NOT IN ('discharged','cancelled');
CREATE INDEX patients_open_pathway_wait_idx ON patients
    (hub_code, case_pathway_key(pathway), case_wait(discharge_ready_at), id DESC)
    WHERE status NOT IN ('discharged','cancelled');
CREATE INDEX patients_open_coordinator_sort_idx ON patients
    (hub_code, case_coordinator_key(coordinator_username), case_wait(discharge_ready_at), id DESC)
    WHERE status NOT IN ('discharged','cancelled');
CREATE INDEX patients_open_hub_ward_wait_idx ON patients
    (hub_code, ward_code, case_wait(discharge_ready_at), id DESC)
    WHERE status NOT IN ('discharged','cancelled');

-- a coordinator's own cases, and ward users' lists
CREATE INDEX patients_open_coordinator_wait_idx ON patients
    (coordinator_id, case_wait(discharge_ready_at), id DESC)
    WHERE status NOT IN ('discharged','cancelled');
CREATE INDEX patients_open_trust_wait_idx ON patients
    (trust_code, case_wait(discharge_ready_at), id DESC)
    WHERE status NOT IN ('discharged','cancelled');
CREATE INDEX patients_open_ward_wait_idx ON patients
    (ward_code, case_wait(discharge_ready_at), id DESC)
    WHERE status NOT IN ('discharged','cancelled');

-- The wall's list of a connection's providers: PL/pgSQL keeps a function's plan for the
-- connection's life, where a SQL function with a FROM is planned again in every statement
-- that calls it (17,500 plannings in one benchmark run of the counters' equivalent, whose
-- wall compares hubs since 20261209000002).
CREATE OR REPLACE FUNCTION homeward_providers() RETURNS text[] LANGUAGE plpgsql STABLE PARALLEL SAFE
    AS $$ BEGIN
        RETURN (SELECT COALESCE(array_agg(DISTINCT hp.provider_code), '{}') FROM hub_providers hp
                WHERE hp.hub_code = ANY (string_to_array(current_setting('homeward.hubs', true), ',')));
    END $$;

-- The first form of the wall's test, unused since `20261208000004_cheaper_hub_wall.sql`.
DROP FUNCTION hub_visible(text);
