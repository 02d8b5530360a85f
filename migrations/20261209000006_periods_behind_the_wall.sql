-- The reports' "which periods of not meeting the criteria touch this day / were open at this
-- moment", with their range index, behind the hubs' wall.
--
-- Under row-level security PostgreSQL narrows an index only with "leakproof" conditions, and
-- range constructors and operators (tstzrange, &&, @>) are not: behind the wall the sitrep,
-- the national returns and the flow report read every period of the hub, years of them, instead
-- of the GiST index's few (found in a review of every query behind the wall). These functions
-- run the same tests with the index as the tables' owner, but only among the connection's hubs
-- (the wall's own test), and return what the reports read of a period.
--
-- A function run as the owner cannot see which role called it, only the session's login
-- role: a session logged in as a role the wall does not bind (the owner, a superuser: the
-- migrations, tests' owner connections, an operator's psql) sees every hub, as it would on the
-- tables themselves; the application's own role sees its connection's hubs only.
CREATE FUNCTION homeward_unwalled() RETURNS boolean
    LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public
    AS $$ SELECT r.rolsuper OR r.rolbypassrls
                 OR pg_has_role(session_user, c.relowner, 'MEMBER')
          FROM pg_roles r, pg_class c
          WHERE r.rolname = session_user AND c.oid = 'public.patients'::regclass $$;

-- Periods touching [from_at, to_at] (a period is the closed range [started_at, ended_at]).
CREATE FUNCTION homeward_periods_touching(from_at timestamptz, to_at timestamptz)
    RETURNS TABLE (patient_id bigint, started_at timestamptz, ended_at timestamptz)
    LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public
    AS $$
    SELECT n.patient_id, n.started_at, n.ended_at FROM nctr_periods n
    WHERE tstzrange(n.started_at, COALESCE(n.ended_at, 'infinity'::timestamptz), '[]')
          && tstzrange(from_at, to_at, '[]')
      AND ((SELECT homeward_sees_all()) OR (SELECT homeward_unwalled())
           OR n.hub_code = ANY (CAST((SELECT homeward_hubs()) AS text[])))
    $$;

-- For each cut-off, the periods still open then (started at or before it, not ended by it).
CREATE FUNCTION homeward_periods_open_at(cutoffs timestamptz[])
    RETURNS TABLE (cutoff timestamptz, patient_id bigint, hub_code text)
    LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public
    AS $$
    SELECT d.cutoff, n.patient_id, n.hub_code
    FROM unnest(cutoffs) AS d(cutoff)
    JOIN nctr_periods n
      ON tstzrange(n.started_at, COALESCE(n.ended_at, 'infinity'::timestamptz), '[]') @> d.cutoff
     AND (n.ended_at IS NULL OR n.ended_at > d.cutoff)
    WHERE (SELECT homeward_sees_all()) OR (SELECT homeward_unwalled())
       OR n.hub_code = ANY (CAST((SELECT homeward_hubs()) AS text[]))
    $$;

-- The search (20261209000004) by the same rule: a session the wall does not bind finds every
-- hub's cases, as its own queries on the tables would.
CREATE OR REPLACE FUNCTION homeward_search(words text[], nhs text, raw text) RETURNS SETOF bigint
    LANGUAGE plpgsql STABLE SECURITY DEFINER ROWS 20 SET search_path = public
    AS $$
DECLARE
    name_matches text := 'false';
BEGIN
    IF cardinality(words) > 0 THEN
        SELECT string_agg(format('search_fold(p.given_name || '' '' || p.family_name) LIKE ''%%'' || search_fold($1[%s]) || ''%%''', i), ' AND ')
          INTO name_matches
          FROM generate_subscripts(words, 1) i;
    END IF;
    RETURN QUERY EXECUTE
        'SELECT p.id FROM patients p
         WHERE (homeward_sees_all() OR homeward_unwalled() OR p.hub_code = ANY (homeward_hubs()))
           AND ((' || name_matches || ')
                OR p.nhs_number = $2
                OR (p.bed <> '''' AND lower(p.bed) = lower($3))
                OR (p.local_id IS NOT NULL AND upper(p.local_id) = upper($3)))'
        USING words, nhs, raw;
END $$;
