-- Homeward foundation: organisations, places, people, reference data and discharge cases.
-- Reference code sets (delay reasons, capacity types, criteria-to-reside codes) are data,
-- versioned by `code_set`, so a national revision is a new migration, not a recompile.

CREATE TABLE organisations (
    code        text PRIMARY KEY CHECK (code ~ '^[A-Z0-9]{3,8}$'),
    name        text NOT NULL,
    sector      text NOT NULL CHECK (sector IN ('nhs_acute','nhs_community','local_authority','independent','voluntary','hospice')),
    -- what the organisation is to Homeward: a hospital trust, the hub, or a provider of care
    kind        text NOT NULL CHECK (kind IN ('acute_trust','hub','provider')),
    created_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE sites (
    code      text PRIMARY KEY,
    org_code  text NOT NULL REFERENCES organisations(code),
    name      text NOT NULL
);
CREATE INDEX sites_org_idx ON sites (org_code);

CREATE TABLE wards (
    code       text PRIMARY KEY CHECK (code ~ '^[A-Z0-9-]{2,20}$'),
    site_code  text NOT NULL REFERENCES sites(code),
    org_code   text NOT NULL REFERENCES organisations(code),
    name       text NOT NULL,
    specialty  text
);
CREATE INDEX wards_org_idx ON wards (org_code, code);

CREATE TABLE users (
    id             bigserial PRIMARY KEY,
    username       text NOT NULL UNIQUE CHECK (username ~ '^[a-z0-9._-]{3,64}$'),
    display_name   text NOT NULL,
    role           text NOT NULL CHECK (role IN ('ward','hub','provider','admin')),
    org_code       text NOT NULL REFERENCES organisations(code),
    password_hash  text NOT NULL,
    disabled_at    timestamptz,
    created_at     timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX users_org_idx ON users (org_code, username);

-- Bearer tokens for the API. Only a SHA-256 of the token is stored.
CREATE TABLE api_tokens (
    token_hash  bytea PRIMARY KEY,
    user_id     bigint NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    created_at  timestamptz NOT NULL DEFAULT now(),
    expires_at  timestamptz NOT NULL
);
CREATE INDEX api_tokens_user_idx ON api_tokens (user_id);

CREATE TABLE code_sets (
    name        text PRIMARY KEY,
    kind        text NOT NULL CHECK (kind IN ('delay_reason','capacity_type','ctr_reason')),
    description text NOT NULL,
    active      boolean NOT NULL DEFAULT false,
    published   date NOT NULL
);
-- at most one active code set of each kind
CREATE UNIQUE INDEX code_sets_one_active_idx ON code_sets (kind) WHERE active;

CREATE TABLE delay_reasons (
    code        text PRIMARY KEY,
    code_set    text NOT NULL REFERENCES code_sets(name),
    label       text NOT NULL,
    sector      text NOT NULL,
    sort_order  int NOT NULL
);

CREATE TABLE capacity_types (
    code        text PRIMARY KEY,
    code_set    text NOT NULL REFERENCES code_sets(name),
    label       text NOT NULL,
    pathway     smallint NOT NULL CHECK (pathway BETWEEN 1 AND 3),
    unit        text NOT NULL CHECK (unit IN ('package','place','bed')),
    sort_order  int NOT NULL
);

-- Why a patient still meets the criteria to reside (NHS Data Dictionary).
CREATE TABLE ctr_reasons (
    code        text PRIMARY KEY,
    code_set    text NOT NULL REFERENCES code_sets(name),
    label       text NOT NULL,
    sort_order  int NOT NULL
);

CREATE TABLE patients (
    id                       bigserial PRIMARY KEY,
    nhs_number               text NOT NULL CHECK (nhs_number ~ '^[0-9]{10}$'),
    given_name               text NOT NULL,
    family_name              text NOT NULL,
    date_of_birth            date NOT NULL,
    sex                      text NOT NULL CHECK (sex IN ('female','male','other','unknown')),
    postcode                 text NOT NULL,
    trust_code               text NOT NULL REFERENCES organisations(code),
    ward_code                text NOT NULL REFERENCES wards(code),
    bed                      text NOT NULL DEFAULT '',
    admitted_at              timestamptz NOT NULL,
    expected_discharge_date  date,
    needs_summary            text NOT NULL DEFAULT '' CHECK (char_length(needs_summary) <= 2000),
    status                   text NOT NULL CHECK (status IN ('planning','awaiting_triage','awaiting_care','care_arranged','ready_to_go','discharged','cancelled')),
    pathway                  smallint CHECK (pathway BETWEEN 0 AND 3),
    discharge_ready_at       timestamptz,
    delay_reason             text REFERENCES delay_reasons(code),
    coordinator_id           bigint REFERENCES users(id),
    planned_discharge_at     timestamptz,
    discharged_at            timestamptz,
    closed_reason            text,
    version                  int NOT NULL DEFAULT 1,
    created_at               timestamptz NOT NULL,
    updated_at               timestamptz NOT NULL,
    CHECK ((status IN ('planning') AND discharge_ready_at IS NULL) OR status <> 'planning')
);
-- One open case per NHS number: the database refuses a second.
CREATE UNIQUE INDEX patients_one_open_case_idx ON patients (nhs_number)
    WHERE status NOT IN ('discharged','cancelled');
-- The hub worklist: open cases, longest wait first.
CREATE INDEX patients_open_worklist_idx ON patients (discharge_ready_at NULLS LAST, id)
    WHERE status NOT IN ('discharged','cancelled');
-- A trust's ward list.
CREATE INDEX patients_trust_open_idx ON patients (trust_code, ward_code, discharge_ready_at)
    WHERE status NOT IN ('discharged','cancelled');
CREATE INDEX patients_status_idx ON patients (status);
CREATE INDEX patients_discharged_at_idx ON patients (discharged_at) WHERE discharged_at IS NOT NULL;

-- Every period of not meeting the criteria to reside. The open one (ended_at IS NULL) sets
-- discharge_ready_at; closed ones are kept for history and reporting.
CREATE TABLE nctr_periods (
    id          bigserial PRIMARY KEY,
    patient_id  bigint NOT NULL REFERENCES patients(id),
    started_at  timestamptz NOT NULL,
    ended_at    timestamptz,
    -- why the period ended: 'met_criteria' (with ctr_code), 'discharged', 'cancelled'
    ended_by    text CHECK (ended_by IN ('met_criteria','discharged','cancelled')),
    ctr_code    text REFERENCES ctr_reasons(code),
    CHECK (ended_at IS NULL OR ended_at >= started_at)
);
CREATE UNIQUE INDEX nctr_periods_one_open_idx ON nctr_periods (patient_id) WHERE ended_at IS NULL;
CREATE INDEX nctr_periods_patient_idx ON nctr_periods (patient_id, started_at);
CREATE INDEX nctr_periods_span_idx ON nctr_periods (started_at, ended_at);

-- Delay reasons over time, so a past day's report can say why each patient waited.
CREATE TABLE delay_reason_history (
    id          bigserial PRIMARY KEY,
    patient_id  bigint NOT NULL REFERENCES patients(id),
    code        text REFERENCES delay_reasons(code),
    set_at      timestamptz NOT NULL,
    set_by      bigint REFERENCES users(id)
);
CREATE INDEX delay_reason_history_patient_idx ON delay_reason_history (patient_id, set_at);

-- Every change to a case, written in the same transaction as the change.
CREATE TABLE patient_history (
    id           bigserial PRIMARY KEY,
    patient_id   bigint NOT NULL REFERENCES patients(id),
    at           timestamptz NOT NULL,
    actor_id     bigint REFERENCES users(id),
    action       text NOT NULL,
    detail       text NOT NULL DEFAULT '',
    from_status  text,
    to_status    text
);
CREATE INDEX patient_history_patient_idx ON patient_history (patient_id, at, id);
CREATE INDEX patient_history_status_idx ON patient_history (at) WHERE to_status IS NOT NULL;

-- Append-only: history is never edited or deleted.
CREATE FUNCTION refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '% is append-only', TG_TABLE_NAME;
END $$;
CREATE TRIGGER patient_history_append_only BEFORE UPDATE OR DELETE ON patient_history
    FOR EACH ROW EXECUTE FUNCTION refuse_change();

-- Facts about this installation, e.g. when the demo area was loaded.
CREATE TABLE installation (
    key    text PRIMARY KEY,
    value  text NOT NULL,
    set_at timestamptz NOT NULL DEFAULT now()
);
