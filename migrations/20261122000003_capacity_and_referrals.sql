-- The capacity market: providers' offers of places, the hub's referrals of patients to
-- them, and the decision on each. Places are counted by the database: `places_left` can
-- never go below zero or above `places`, whatever the code does.

CREATE TABLE decline_reasons (
    code        text PRIMARY KEY,
    label       text NOT NULL,
    sort_order  int NOT NULL
);
INSERT INTO decline_reasons (code, label, sort_order) VALUES
 ('no_capacity', 'No capacity', 1),
 ('needs_too_high', 'Needs too high for the service', 2),
 ('outside_area', 'Outside the area covered', 3),
 ('funding', 'Funding not agreed', 4),
 ('staffing', 'Staffing', 5),
 ('infection', 'Infection control', 6),
 ('other', 'Other', 7);

CREATE TABLE capacity_offers (
    id                 bigserial PRIMARY KEY,
    org_code           text NOT NULL REFERENCES organisations(code),
    service_type       text NOT NULL REFERENCES capacity_types(code),
    pathway            smallint NOT NULL CHECK (pathway BETWEEN 1 AND 3),
    places             int NOT NULL CHECK (places BETWEEN 1 AND 1000),
    places_left        int NOT NULL,
    available_from     timestamptz NOT NULL,
    available_until    timestamptz NOT NULL,
    -- the area as the provider described it, and the postcode districts (outward codes)
    -- read from it for matching; no districts means anywhere
    area               text NOT NULL DEFAULT '' CHECK (char_length(area) <= 500),
    districts          text[] NOT NULL DEFAULT '{}',
    gender             text NOT NULL DEFAULT 'any' CHECK (gender IN ('any','female','male')),
    specialisms        text[] NOT NULL DEFAULT '{}',
    funding            text[] NOT NULL DEFAULT '{}',
    earliest_start     timestamptz,
    notes              text NOT NULL DEFAULT '' CHECK (char_length(notes) <= 2000),
    withdrawn_at       timestamptz,
    last_confirmed_at  timestamptz NOT NULL,
    created_by         bigint REFERENCES users(id),
    created_at         timestamptz NOT NULL,
    CONSTRAINT places_left_in_range CHECK (places_left >= 0 AND places_left <= places),
    CHECK (available_until > available_from)
);
CREATE INDEX capacity_offers_org_idx ON capacity_offers (org_code, created_at DESC);
-- "find care": live offers by pathway
CREATE INDEX capacity_offers_live_idx ON capacity_offers (pathway, available_until)
    WHERE withdrawn_at IS NULL AND places_left > 0;

CREATE TABLE referrals (
    id                bigserial PRIMARY KEY,
    patient_id        bigint NOT NULL REFERENCES patients(id),
    offer_id          bigint NOT NULL REFERENCES capacity_offers(id),
    org_code          text NOT NULL REFERENCES organisations(code),
    status            text NOT NULL CHECK (status IN ('pending','accepted','declined','withdrawn')),
    decline_reason    text REFERENCES decline_reasons(code),
    decline_detail    text,
    decided_at        timestamptz,
    decided_by        bigint REFERENCES users(id),
    -- an accepted place given back (patient deteriorated, case cancelled) or used (discharged)
    place_released_at timestamptz,
    place_used_at     timestamptz,
    withdrawn_at      timestamptz,
    created_by        bigint REFERENCES users(id),
    created_at        timestamptz NOT NULL,
    CHECK (status <> 'declined' OR decline_reason IS NOT NULL)
);
-- at most one accepted referral per patient, and one live referral per patient and offer
CREATE UNIQUE INDEX referrals_one_accepted_idx ON referrals (patient_id) WHERE status = 'accepted';
CREATE UNIQUE INDEX referrals_one_live_per_offer_idx ON referrals (patient_id, offer_id)
    WHERE status IN ('pending','accepted');
CREATE INDEX referrals_org_idx ON referrals (org_code, status, created_at DESC);
CREATE INDEX referrals_patient_idx ON referrals (patient_id, created_at);
CREATE INDEX referrals_offer_idx ON referrals (offer_id);

-- Who looked at which patient's identifiable details: append-only, for the IG lead.
CREATE TABLE access_log (
    id          bigserial PRIMARY KEY,
    at          timestamptz NOT NULL,
    user_id     bigint REFERENCES users(id),
    username    text NOT NULL,
    role        text NOT NULL,
    org_code    text NOT NULL,
    patient_id  bigint NOT NULL REFERENCES patients(id),
    -- what was seen, e.g. 'case page', 'API patient', 'worklist'
    what        text NOT NULL
);
CREATE INDEX access_log_patient_idx ON access_log (patient_id, at);
CREATE INDEX access_log_user_idx ON access_log (user_id, at);
CREATE TRIGGER access_log_append_only BEFORE UPDATE OR DELETE ON access_log
    FOR EACH ROW EXECUTE FUNCTION refuse_change();
