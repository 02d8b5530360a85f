-- Live events: every committed change to a case, a referral or an offer is announced on the
-- `homeward_events` channel, from triggers so no code path can forget. NOTIFY is delivered
-- on commit (and identical payloads in one transaction are sent once), so listeners in every
-- server process hear exactly the changes that happened. Payloads carry ids and the
-- organisations that may see the change, never patient details.

CREATE FUNCTION notify_patient_change() RETURNS trigger LANGUAGE plpgsql AS $$
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
        'providers', COALESCE((SELECT json_agg(DISTINCT r.org_code) FROM referrals r WHERE r.patient_id = NEW.id), '[]'::json)
    )::text);
    RETURN NULL;
END $$;
CREATE TRIGGER patients_notify AFTER INSERT OR UPDATE ON patients
    FOR EACH ROW EXECUTE FUNCTION notify_patient_change();

CREATE FUNCTION notify_referral_change() RETURNS trigger LANGUAGE plpgsql AS $$
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
        'trust_code', (SELECT p.trust_code FROM patients p WHERE p.id = NEW.patient_id)
    )::text);
    RETURN NULL;
END $$;
CREATE TRIGGER referrals_notify AFTER INSERT OR UPDATE ON referrals
    FOR EACH ROW EXECUTE FUNCTION notify_referral_change();

CREATE FUNCTION notify_offer_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('homeward_events', json_build_object(
        'type', CASE WHEN TG_OP = 'INSERT' THEN 'offer.created' ELSE 'offer.updated' END,
        'at', now(),
        'offer_id', NEW.id,
        'org_code', NEW.org_code
    )::text);
    RETURN NULL;
END $$;
CREATE TRIGGER capacity_offers_notify AFTER INSERT OR UPDATE ON capacity_offers
    FOR EACH ROW EXECUTE FUNCTION notify_offer_change();
