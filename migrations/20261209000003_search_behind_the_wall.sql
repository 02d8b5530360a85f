-- Patient search behind the hubs' wall, with its indexes.
--
-- Under row-level security PostgreSQL narrows an index scan only with conditions that cannot
-- reveal a hidden row's values through an error ("leakproof"); LIKE, lower() and upper() are
-- not, so behind the wall the worklist's search (a name by trigrams, a bed, a hospital number)
-- read every case of the hub: 292 ms against 33 ms for one search among 107,000 of a hub's
-- cases in the worklist benchmark's database.
--
-- This function finds the cases first, with the indexes, as the tables' owner (whom the wall
-- does not bind), but only among the hubs the connection may see, the same test as the wall's
-- own; the list's query then reads those cases behind the wall as before (its own scope and
-- filters still apply, and the words are checked again there). It returns case ids only.
--
-- `words`: each must be in the folded name (at most 8, as the list passes them); `nhs`: a whole NHS number, or NULL; `raw`: the text as typed,
-- for a bed or a hospital number.
--
-- A function run as the owner cannot see which role called it, only the session's login
-- role: a session logged in as a role the wall does not bind (the owner, a superuser: the
-- migrations, tests' owner connections, an operator's psql) sees every hub, as it would on the
-- tables themselves; the application's own role sees its connection's hubs only.
-- `homeward_sees_every_hub()` says which, for this function and the reports' look-ups.
CREATE FUNCTION homeward_sees_every_hub() RETURNS boolean
    LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public
    AS $$ SELECT homeward_sees_all() OR r.rolsuper OR r.rolbypassrls
                 OR pg_has_role(session_user, c.relowner, 'MEMBER')
          FROM pg_roles r, pg_class c
          WHERE r.rolname = session_user AND c.oid = 'public.patients'::regclass $$;

CREATE FUNCTION homeward_search(words text[], nhs text, raw text) RETURNS SETOF bigint
    LANGUAGE plpgsql STABLE SECURITY DEFINER ROWS 20 SET search_path = public
    AS $$
DECLARE
    name_matches text := 'false';
BEGIN
    -- every word in the folded name, each a condition the trigram index answers (it
    -- intersects them); planned for these values each time (EXECUTE)
    IF cardinality(words) > 0 THEN
        SELECT string_agg(format('search_fold(p.given_name || '' '' || p.family_name) LIKE ''%%'' || search_fold($1[%s]) || ''%%''', i), ' AND ')
          INTO name_matches
          FROM generate_subscripts(words, 1) i;
    END IF;
    RETURN QUERY EXECUTE
        'SELECT p.id FROM patients p
         WHERE (homeward_sees_every_hub() OR p.hub_code = ANY (homeward_hubs()))
           AND ((' || name_matches || ')
                OR p.nhs_number = $2
                OR (p.bed <> '''' AND lower(p.bed) = lower($3))
                OR (p.local_id IS NOT NULL AND upper(p.local_id) = upper($3)))'
        USING words, nhs, raw;
END $$;
