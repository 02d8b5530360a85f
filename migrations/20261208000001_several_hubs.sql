-- Several hubs on one install (issue 15). A hub (an organisation of kind 'hub') owns its acute
-- trusts, and through them their wards, cases, referrals and history; providers have a home
-- hub (whose administrators manage their users) and may serve several hubs (hub_providers).
--
-- Two walls keep one hub's rows from another's users:
-- 1. every query the application writes is scoped to the caller's hub (src/scope.rs);
-- 2. row-level security on every table that holds a case's data: the application role sees
--    only the rows of the hubs named by the setting `homeward.hubs` ('HUB' or 'HUB,HUB2' for
--    a provider serving two hubs; '*' for the server's own work that belongs to no caller,
--    such as the hospital feed and the counters). A connection that names no hub sees no
--    row. Homeward sets it each time a pooled connection is taken (src/tenancy.rs). The
--    tables' owner (migrations, `homeward migrate`) is not subject to it.

ALTER TABLE organisations ADD COLUMN hub_code text REFERENCES organisations(code);
UPDATE organisations SET hub_code = code WHERE kind = 'hub';
UPDATE organisations SET hub_code = (SELECT min(code) FROM organisations WHERE kind = 'hub')
    WHERE hub_code IS NULL;
ALTER TABLE organisations ADD CONSTRAINT organisations_hub_is_itself
    CHECK (kind <> 'hub' OR hub_code IS NULL OR hub_code = code);
CREATE INDEX organisations_hub_idx ON organisations (hub_code, kind, code);

-- Which hubs a provider serves (its home hub always among them).
CREATE TABLE hub_providers (
    hub_code       text NOT NULL REFERENCES organisations(code),
    provider_code  text NOT NULL REFERENCES organisations(code),
    PRIMARY KEY (hub_code, provider_code)
);
CREATE INDEX hub_providers_provider_idx ON hub_providers (provider_code, hub_code);
INSERT INTO hub_providers (hub_code, provider_code)
    SELECT hub_code, code FROM organisations WHERE kind = 'provider' AND hub_code IS NOT NULL;

-- An organisation added without a hub joins the first hub (a single-hub install never names
-- one); one added before any hub exists joins the first hub added. A hub is its own hub.
CREATE FUNCTION place_in_hub() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE organisations SET hub_code = code WHERE kind = 'hub' AND hub_code IS NULL;
    UPDATE organisations SET hub_code = (SELECT min(code) FROM organisations WHERE kind = 'hub')
        WHERE hub_code IS NULL AND EXISTS (SELECT 1 FROM organisations WHERE kind = 'hub');
    INSERT INTO hub_providers (hub_code, provider_code)
        SELECT o.hub_code, o.code FROM organisations o
        WHERE o.kind = 'provider' AND o.hub_code IS NOT NULL
        ON CONFLICT DO NOTHING;
    RETURN NULL;
END $$;
CREATE TRIGGER organisations_place_in_hub AFTER INSERT ON organisations
    FOR EACH STATEMENT EXECUTE FUNCTION place_in_hub();

-- Whether the connection's setting lets it see a hub's rows.
CREATE FUNCTION hub_visible(hub text) RETURNS boolean
    LANGUAGE sql STABLE PARALLEL SAFE
    AS $$ SELECT CASE current_setting('homeward.hubs', true)
                     WHEN '*' THEN true
                     ELSE hub = ANY (string_to_array(current_setting('homeward.hubs', true), ','))
                 END $$;

-- A case's hub is its trust's, set when it is filed; a case never moves between hubs.
ALTER TABLE patients ADD COLUMN hub_code text;
ALTER TABLE patients DISABLE TRIGGER USER;
UPDATE patients p SET hub_code = o.hub_code FROM organisations o WHERE o.code = p.trust_code;
ALTER TABLE patients ENABLE TRIGGER USER;
ALTER TABLE patients ALTER COLUMN hub_code SET NOT NULL;
CREATE INDEX patients_hub_open_idx ON patients (hub_code, discharge_ready_at NULLS LAST, id)
    WHERE status NOT IN ('discharged','cancelled');

CREATE FUNCTION case_hub() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    hub text;
BEGIN
    SELECT o.hub_code INTO hub FROM organisations o WHERE o.code = NEW.trust_code;
    IF hub IS NULL THEN
        RAISE EXCEPTION 'trust % belongs to no hub', NEW.trust_code;
    END IF;
    IF TG_OP = 'UPDATE' AND hub <> OLD.hub_code THEN
        RAISE EXCEPTION 'a case cannot move to another hub''s trust';
    END IF;
    NEW.hub_code := hub;
    RETURN NEW;
END $$;
CREATE TRIGGER patients_hub BEFORE INSERT OR UPDATE OF trust_code, hub_code ON patients
    FOR EACH ROW EXECUTE FUNCTION case_hub();

-- The rows that hang off a case carry its hub, for the wall and for reports that scan them.
CREATE FUNCTION hub_of_case() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    SELECT p.hub_code INTO NEW.hub_code FROM patients p WHERE p.id = NEW.patient_id;
    IF NEW.hub_code IS NULL THEN
        RAISE EXCEPTION 'case % is not visible here', NEW.patient_id;
    END IF;
    RETURN NEW;
END $$;

-- referrals: also, only to a provider that serves the case's hub
CREATE FUNCTION referral_hub() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    SELECT p.hub_code INTO NEW.hub_code FROM patients p WHERE p.id = NEW.patient_id;
    IF NEW.hub_code IS NULL THEN
        RAISE EXCEPTION 'case % is not visible here', NEW.patient_id;
    END IF;
    IF NOT EXISTS (SELECT 1 FROM hub_providers hp
                   WHERE hp.hub_code = NEW.hub_code AND hp.provider_code = NEW.org_code) THEN
        RAISE EXCEPTION 'provider % does not serve hub %', NEW.org_code, NEW.hub_code;
    END IF;
    RETURN NEW;
END $$;

DO $$
DECLARE
    t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['referrals','nctr_periods','delay_reason_history','patient_history',
                             'case_notes','case_tasks','patient_choices']
    LOOP
        EXECUTE format('ALTER TABLE %I ADD COLUMN hub_code text', t);
        EXECUTE format('ALTER TABLE %I DISABLE TRIGGER USER', t);
        EXECUTE format('UPDATE %I x SET hub_code = p.hub_code FROM patients p WHERE p.id = x.patient_id', t);
        EXECUTE format('ALTER TABLE %I ENABLE TRIGGER USER', t);
        EXECUTE format('ALTER TABLE %I ALTER COLUMN hub_code SET NOT NULL', t);
        IF t = 'referrals' THEN
            EXECUTE 'CREATE TRIGGER referrals_hub BEFORE INSERT OR UPDATE OF patient_id, org_code, hub_code'
                    ' ON referrals FOR EACH ROW EXECUTE FUNCTION referral_hub()';
        ELSE
            EXECUTE format('CREATE TRIGGER %I BEFORE INSERT OR UPDATE OF patient_id, hub_code ON %I'
                           ' FOR EACH ROW EXECUTE FUNCTION hub_of_case()', t || '_hub', t);
        END IF;
    END LOOP;
END $$;
CREATE INDEX referrals_hub_idx ON referrals (hub_code, id);
CREATE INDEX nctr_periods_hub_span_idx ON nctr_periods (hub_code, started_at, ended_at);

-- The wall. Not FORCEd: the owner (migrations, bulk loads) is not subject to it.
DO $$
DECLARE
    t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['patients','referrals','nctr_periods','delay_reason_history',
                             'patient_history','case_notes','case_tasks','patient_choices']
    LOOP
        EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', t);
        EXECUTE format('CREATE POLICY hub_wall ON %I USING (hub_visible(hub_code)) WITH CHECK (hub_visible(hub_code))', t);
    END LOOP;
END $$;

-- Offers belong to providers: a hub's users see the offers of the providers serving it.
ALTER TABLE capacity_offers ENABLE ROW LEVEL SECURITY;
CREATE POLICY hub_wall ON capacity_offers
    USING (EXISTS (SELECT 1 FROM hub_providers hp
                   WHERE hp.provider_code = capacity_offers.org_code AND hub_visible(hp.hub_code)))
    WITH CHECK (EXISTS (SELECT 1 FROM hub_providers hp
                        WHERE hp.provider_code = capacity_offers.org_code AND hub_visible(hp.hub_code)));

-- The case counters are kept per trust: a trust's hub.
ALTER TABLE case_counts ENABLE ROW LEVEL SECURITY;
CREATE POLICY hub_wall ON case_counts
    USING (EXISTS (SELECT 1 FROM organisations o
                   WHERE o.code = case_counts.trust_code AND hub_visible(o.hub_code)))
    WITH CHECK (EXISTS (SELECT 1 FROM organisations o
                        WHERE o.code = case_counts.trust_code AND hub_visible(o.hub_code)));

-- Live events name the hub, so each process filters them without a query.
CREATE OR REPLACE FUNCTION notify_patient_change() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    kind text;
BEGIN
    IF TG_OP = 'INSERT' THEN
        kind := 'patient.created';
    ELSIF NEW.status = 'discharged' AND OLD.status <> 'discharged' THEN
        kind := 'patient.discharged';
    ELSE
        kind := 'patient.updated';
    END IF;
    PERFORM pg_notify('homeward_events', json_build_object(
        'type', kind,
        'at', now(),
        'patient_id', NEW.id,
        'trust_code', NEW.trust_code,
        'hub_code', NEW.hub_code,
        'providers', COALESCE((SELECT json_agg(DISTINCT r.org_code) FROM referrals r WHERE r.patient_id = NEW.id), '[]'::json)
    )::text);
    RETURN NULL;
END $$;

CREATE OR REPLACE FUNCTION notify_referral_change() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    kind text;
BEGIN
    IF TG_OP = 'INSERT' THEN
        kind := 'referral.created';
    ELSIF NEW.status IN ('accepted', 'declined') AND OLD.status = 'pending' THEN
        kind := 'referral.decided';
    ELSE
        kind := 'referral.updated';
    END IF;
    PERFORM pg_notify('homeward_events', json_build_object(
        'type', kind,
        'at', now(),
        'referral_id', NEW.id,
        'patient_id', NEW.patient_id,
        'offer_id', NEW.offer_id,
        'org_code', NEW.org_code,
        'status', NEW.status,
        'hub_code', NEW.hub_code,
        'trust_code', (SELECT p.trust_code FROM patients p WHERE p.id = NEW.patient_id)
    )::text);
    RETURN NULL;
END $$;

CREATE OR REPLACE FUNCTION notify_offer_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('homeward_events', json_build_object(
        'type', CASE WHEN TG_OP = 'INSERT' THEN 'offer.created' ELSE 'offer.updated' END,
        'at', now(),
        'offer_id', NEW.id,
        'org_code', NEW.org_code,
        'hubs', COALESCE((SELECT json_agg(hp.hub_code ORDER BY hp.hub_code) FROM hub_providers hp
                          WHERE hp.provider_code = NEW.org_code), '[]'::json)
    )::text);
    RETURN NULL;
END $$;

CREATE OR REPLACE FUNCTION notify_casework_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('homeward_events', json_build_object(
        'type', CASE WHEN TG_TABLE_NAME = 'case_notes' THEN 'note.created'
                     WHEN TG_OP = 'INSERT' THEN 'task.created' ELSE 'task.updated' END,
        'at', now(),
        'patient_id', NEW.patient_id,
        'hub_code', NEW.hub_code,
        'trust_code', (SELECT p.trust_code FROM patients p WHERE p.id = NEW.patient_id)
    )::text);
    RETURN NULL;
END $$;
