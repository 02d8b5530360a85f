-- The hub's worklist indexes lead with the hub, so a hub's page reads its own cases in the
-- page's order and stops after the page, however many other hubs share the install.
--
-- Found with the worklist benchmark after several hubs arrived (issue 10's regression): the
-- hub's list names its hub (`p.hub_code = $1`) and the old indexes did not hold it. PostgreSQL
-- then either re-planned the statement on every call (2-3 ms of planning a page, the plan it
-- would keep being worse) or, with a kept plan, read every open case of every hub and sorted
-- them. With the hub first, the kept plan is an ordered index range that ends after the page.
--
-- Ward users' lists keep their trust- and ward-led indexes; a coordinator's own cases keep
-- `patients_open_coordinator_wait_idx` (a coordinator works in one hub).

DROP INDEX patients_open_wait_idx;
CREATE INDEX patients_open_wait_idx ON patients
    (hub_code, COALESCE(discharge_ready_at, 'infinity'::timestamptz), id DESC)
    WHERE status NOT IN ('discharged','cancelled');

DROP INDEX patients_status_wait_idx;
CREATE INDEX patients_status_wait_idx ON patients
    (hub_code, status, COALESCE(discharge_ready_at, 'infinity'::timestamptz), id DESC);

DROP INDEX patients_open_reason_wait_idx;
CREATE INDEX patients_open_reason_wait_idx ON patients
    (hub_code, delay_reason, COALESCE(discharge_ready_at, 'infinity'::timestamptz), id DESC)
    WHERE status NOT IN ('discharged','cancelled');

DROP INDEX patients_open_no_reason_wait_idx;
CREATE INDEX patients_open_no_reason_wait_idx ON patients
    (hub_code, COALESCE(discharge_ready_at, 'infinity'::timestamptz), id DESC)
    WHERE status NOT IN ('discharged','cancelled') AND delay_reason IS NULL
      AND discharge_ready_at IS NOT NULL;

DROP INDEX patients_open_unassigned_wait_idx;
CREATE INDEX patients_open_unassigned_wait_idx ON patients
    (hub_code, COALESCE(discharge_ready_at, 'infinity'::timestamptz), id DESC)
    WHERE status NOT IN ('discharged','cancelled') AND coordinator_id IS NULL;

DROP INDEX patients_open_status_rank_wait_idx;
CREATE INDEX patients_open_status_rank_wait_idx ON patients
    (hub_code, case_status_rank(status), COALESCE(discharge_ready_at, 'infinity'::timestamptz), id DESC)
    WHERE status NOT IN ('discharged','cancelled');

DROP INDEX patients_open_pathway_wait_idx;
CREATE INDEX patients_open_pathway_wait_idx ON patients
    (hub_code, COALESCE(pathway::integer, -1), COALESCE(discharge_ready_at, 'infinity'::timestamptz), id DESC)
    WHERE status NOT IN ('discharged','cancelled');

DROP INDEX patients_open_coordinator_sort_idx;
CREATE INDEX patients_open_coordinator_sort_idx ON patients
    (hub_code, COALESCE(coordinator_username, ''), COALESCE(discharge_ready_at, 'infinity'::timestamptz), id DESC)
    WHERE status NOT IN ('discharged','cancelled');

-- The wall's lists of a connection's trusts and providers: PL/pgSQL keeps a function's plan
-- for the connection's life, where a SQL function with a FROM is planned again in every
-- statement that calls it (17,500 plannings in one benchmark run, one per counter insert
-- and per worklist count).
CREATE OR REPLACE FUNCTION homeward_trusts() RETURNS text[] LANGUAGE plpgsql STABLE PARALLEL SAFE
    AS $$ BEGIN
        RETURN (SELECT COALESCE(array_agg(o.code), '{}') FROM organisations o
                WHERE o.hub_code = ANY (string_to_array(current_setting('homeward.hubs', true), ',')));
    END $$;

CREATE OR REPLACE FUNCTION homeward_providers() RETURNS text[] LANGUAGE plpgsql STABLE PARALLEL SAFE
    AS $$ BEGIN
        RETURN (SELECT COALESCE(array_agg(DISTINCT hp.provider_code), '{}') FROM hub_providers hp
                WHERE hp.hub_code = ANY (string_to_array(current_setting('homeward.hubs', true), ',')));
    END $$;

-- The first form of the wall's test, unused since `20261208000004_cheaper_hub_wall.sql`.
DROP FUNCTION hub_visible(text);
