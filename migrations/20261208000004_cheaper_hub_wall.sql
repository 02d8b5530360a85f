-- The hubs' row-level wall, evaluated once a query rather than once a row: the policies read
-- the connection's setting through these functions inside sub-selects, which PostgreSQL
-- computes once per query (an InitPlan), so each row costs one comparison against a small
-- array. Measured before: the worklist's counters (a few thousand counter rows) took 4-5 ms
-- each with the per-row form, against under 1 ms without a wall.

-- Whether the connection sees every hub (the server's own work).
CREATE FUNCTION homeward_sees_all() RETURNS boolean LANGUAGE sql STABLE PARALLEL SAFE
    AS $$ SELECT current_setting('homeward.hubs', true) = '*' $$;

-- The hubs the connection names (NULL when none).
CREATE FUNCTION homeward_hubs() RETURNS text[] LANGUAGE sql STABLE PARALLEL SAFE
    AS $$ SELECT string_to_array(current_setting('homeward.hubs', true), ',') $$;

-- The acute trusts of those hubs.
CREATE FUNCTION homeward_trusts() RETURNS text[] LANGUAGE sql STABLE PARALLEL SAFE
    AS $$ SELECT COALESCE(array_agg(o.code), '{}') FROM organisations o
          WHERE o.hub_code = ANY (string_to_array(current_setting('homeward.hubs', true), ',')) $$;

-- The providers serving those hubs.
CREATE FUNCTION homeward_providers() RETURNS text[] LANGUAGE sql STABLE PARALLEL SAFE
    AS $$ SELECT COALESCE(array_agg(DISTINCT hp.provider_code), '{}') FROM hub_providers hp
          WHERE hp.hub_code = ANY (string_to_array(current_setting('homeward.hubs', true), ',')) $$;

DO $$
DECLARE
    t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['patients','referrals','nctr_periods','delay_reason_history',
                             'patient_history','case_notes','case_tasks','patient_choices']
    LOOP
        EXECUTE format('DROP POLICY hub_wall ON %I', t);
        EXECUTE format('CREATE POLICY hub_wall ON %I
            USING ((SELECT homeward_sees_all()) OR hub_code = ANY (CAST((SELECT homeward_hubs()) AS text[])))
            WITH CHECK ((SELECT homeward_sees_all()) OR hub_code = ANY (CAST((SELECT homeward_hubs()) AS text[])))', t);
    END LOOP;
END $$;

DROP POLICY hub_wall ON capacity_offers;
CREATE POLICY hub_wall ON capacity_offers
    USING ((SELECT homeward_sees_all()) OR org_code = ANY (CAST((SELECT homeward_providers()) AS text[])))
    WITH CHECK ((SELECT homeward_sees_all()) OR org_code = ANY (CAST((SELECT homeward_providers()) AS text[])));

DROP POLICY hub_wall ON case_counts;
CREATE POLICY hub_wall ON case_counts
    USING ((SELECT homeward_sees_all()) OR trust_code = ANY (CAST((SELECT homeward_trusts()) AS text[])))
    WITH CHECK ((SELECT homeward_sees_all()) OR trust_code = ANY (CAST((SELECT homeward_trusts()) AS text[])));
