-- Lists partners can trust (issue 14, CONTRACT.md "Lists"): every list pages by keyset, newest
-- change first (ties by id), with `updated_since`; each order has an index that holds it.
-- Idempotent creates: a table of the keys partners sent, with the first answer.

-- Referrals and offers learn when they last changed. The commands set `updated_at` to the
-- clock's now with every change (the one clock: the process's, which tests set); these
-- triggers only fill it in when a writer did not (a new row takes its creation time; a
-- change takes the latest time the row itself records, so an UPDATE written by hand still
-- moves the row).
ALTER TABLE referrals ADD COLUMN updated_at timestamptz;
UPDATE referrals SET updated_at = GREATEST(created_at, decided_at, withdrawn_at, place_released_at, place_used_at);
ALTER TABLE referrals ALTER COLUMN updated_at SET NOT NULL;

ALTER TABLE capacity_offers ADD COLUMN updated_at timestamptz;
UPDATE capacity_offers o SET updated_at = GREATEST(o.created_at, o.last_confirmed_at, o.withdrawn_at,
    (SELECT max(c.at) FROM capacity_offer_changes c WHERE c.offer_id = o.id));
ALTER TABLE capacity_offers ALTER COLUMN updated_at SET NOT NULL;

CREATE FUNCTION referrals_touch() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        NEW.updated_at := COALESCE(NEW.updated_at,
            GREATEST(NEW.created_at, NEW.decided_at, NEW.withdrawn_at, NEW.place_released_at, NEW.place_used_at));
    ELSIF NEW.updated_at IS NOT DISTINCT FROM OLD.updated_at THEN
        NEW.updated_at := GREATEST(OLD.updated_at, NEW.decided_at, NEW.withdrawn_at,
            NEW.place_released_at, NEW.place_used_at);
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER referrals_touch BEFORE INSERT OR UPDATE ON referrals
    FOR EACH ROW EXECUTE FUNCTION referrals_touch();

CREATE FUNCTION capacity_offers_touch() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        NEW.updated_at := COALESCE(NEW.updated_at,
            GREATEST(NEW.created_at, NEW.last_confirmed_at, NEW.withdrawn_at));
    ELSIF NEW.updated_at IS NOT DISTINCT FROM OLD.updated_at THEN
        NEW.updated_at := GREATEST(OLD.updated_at, NEW.last_confirmed_at, NEW.withdrawn_at);
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER capacity_offers_touch BEFORE INSERT OR UPDATE ON capacity_offers
    FOR EACH ROW EXECUTE FUNCTION capacity_offers_touch();

-- the keyset orders: newest change first, ties by id; per organisation for providers
CREATE INDEX referrals_updated_idx ON referrals (updated_at DESC, id DESC);
CREATE INDEX referrals_org_updated_idx ON referrals (org_code, updated_at DESC, id DESC);
CREATE INDEX capacity_offers_updated_idx ON capacity_offers (updated_at DESC, id DESC);
CREATE INDEX capacity_offers_org_updated_idx ON capacity_offers (org_code, updated_at DESC, id DESC);
CREATE INDEX directory_services_updated_idx ON directory_services (updated_at DESC, id DESC);
-- a ward user's cases, newest change first (the hub's is patients_updated_idx)
CREATE INDEX patients_trust_updated_idx ON patients (trust_code, updated_at DESC, id DESC);
-- tasks are listed soonest due first, ties by id: everyone's, and one assignee's
CREATE INDEX case_tasks_due_idx ON case_tasks (due_at, id);
CREATE INDEX case_tasks_assignee_due_idx ON case_tasks (assignee_id, due_at, id);

-- Idempotency-Key (CONTRACT.md "Lists"): one row per user and key. The first request claims
-- the key (the primary key makes a second, concurrent claim fail), runs, and stores its
-- answer; a retry with the same request gets the stored answer, a different request 422.
-- Keys live 24 hours (by the application's clock).
CREATE TABLE idempotency_keys (
    user_id       bigint NOT NULL REFERENCES users(id),
    key           text NOT NULL CHECK (char_length(key) BETWEEN 1 AND 255),
    -- SHA-256 (hex) of the method, the path and the body (JSON compared by value)
    request_hash  text NOT NULL,
    created_at    timestamptz NOT NULL,
    -- null while the first request is being answered
    status        smallint,
    content_type  text,
    body          bytea,
    completed_at  timestamptz,
    PRIMARY KEY (user_id, key)
);
CREATE INDEX idempotency_keys_created_idx ON idempotency_keys (created_at);
