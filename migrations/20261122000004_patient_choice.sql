-- Patient choice (DOMAIN.md): people choose among options actually available, in stages:
-- information at admission, a letter with a deadline (configurable, default 7 days) naming
-- the options and up to three preferences, escalation, and the outcome. One record per case;
-- every step is also written to the case history in the same transaction.
CREATE TABLE patient_choices (
    patient_id            bigint PRIMARY KEY REFERENCES patients(id),
    information_given_at  timestamptz,
    letter_sent_at        timestamptz,
    deadline              date,
    options_offered       text[] NOT NULL DEFAULT '{}',
    preferences           text[] NOT NULL DEFAULT '{}' CHECK (cardinality(preferences) <= 3),
    escalated_at          timestamptz,
    escalation_note       text,
    outcome               text CHECK (outcome IN ('accepted','interim','declined')),
    outcome_at            timestamptz,
    outcome_note          text,
    updated_at            timestamptz NOT NULL
);
-- the hub's "choice deadline passed" list
CREATE INDEX patient_choices_overdue_idx ON patient_choices (deadline) WHERE outcome IS NULL AND deadline IS NOT NULL;
