-- A look at another hub's case is refused (404) and written to the access log as refused,
-- like any refusal: the log names the case, which the caller's own connection cannot see
-- behind the hubs' row-level wall. This says only whether a case exists, to the access log's
-- writer; it is owned by the tables' owner, whom the wall does not bind.
CREATE FUNCTION case_exists(case_id bigint) RETURNS boolean
    LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public
    AS $$ SELECT EXISTS (SELECT 1 FROM patients WHERE id = case_id) $$;
