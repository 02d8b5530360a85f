-- The hubs' row-level wall behind a transaction pooler (issue 15).
--
-- A transaction pooler (PgBouncer, pool_mode = transaction) hands each transaction of a
-- client connection to whichever server connection is free, so a session setting such as
-- `homeward.hubs`, set on one server connection, is not there for the client's next
-- statement, and is there for some other client's. The one session setting a pooler carries
-- from its client to every server connection it uses is `application_name` (PostgreSQL
-- reports it to the client, and PgBouncer sets it again on each server connection before the
-- client's transaction runs). So Homeward names the connection's hubs in it:
-- 'homeward:HUB' or 'homeward:HUB,HUB2' ('homeward:*' for the server's own work), set each
-- time a pooled connection is taken, together with `homeward.hubs` (src/tenancy.rs).
--
-- The wall reads the application name when it has that form, and `homeward.hubs` otherwise:
-- a connection made directly (not through a pooler) whose hubs are too long for an
-- application name (63 bytes) is named plain 'homeward' and keeps its hubs in
-- `homeward.hubs`. Behind a pooler Homeward never does that: such a connection is named
-- 'homeward:' and sees no hub. Any other name (psql, another program) reads `homeward.hubs`
-- as before, and with neither set a connection sees no row.

CREATE FUNCTION homeward_hub_setting() RETURNS text LANGUAGE sql STABLE PARALLEL SAFE
    AS $$ SELECT CASE WHEN starts_with(current_setting('application_name'), 'homeward:')
                      THEN substr(current_setting('application_name'), 10)
                      ELSE current_setting('homeward.hubs', true)
                 END $$;

CREATE OR REPLACE FUNCTION homeward_sees_all() RETURNS boolean LANGUAGE sql STABLE PARALLEL SAFE
    AS $$ SELECT homeward_hub_setting() = '*' $$;

CREATE OR REPLACE FUNCTION homeward_hubs() RETURNS text[] LANGUAGE sql STABLE PARALLEL SAFE
    AS $$ SELECT string_to_array(homeward_hub_setting(), ',') $$;

CREATE OR REPLACE FUNCTION homeward_providers() RETURNS text[] LANGUAGE plpgsql STABLE PARALLEL SAFE
    AS $$ BEGIN
        RETURN (SELECT COALESCE(array_agg(DISTINCT hp.provider_code), '{}') FROM hub_providers hp
                WHERE hp.hub_code = ANY (string_to_array(homeward_hub_setting(), ',')));
    END $$;
