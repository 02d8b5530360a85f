-- Coded fields for the national discharge returns (DOMAIN.md "National discharge returns"):
-- where a patient went and how they left, why a case closed, and patients whose NHS number
-- is not known. The national lists (destinations within pathway, the acute and community
-- delay reasons, the map from Homeward's delay reasons to them, NHS Data Dictionary
-- discharge methods) are versioned code sets, loaded here as data: a national revision is
-- a new code set in a new migration, never a recompile.

ALTER TABLE code_sets DROP CONSTRAINT code_sets_kind_check;
ALTER TABLE code_sets ADD CONSTRAINT code_sets_kind_check CHECK (kind IN (
    'delay_reason', 'capacity_type', 'ctr_reason',
    'discharge_method', 'discharge_destination',
    'national_reason_acute', 'national_reason_community',
    'reason_map_acute', 'reason_map_community'));

INSERT INTO code_sets (name, kind, description, active, published) VALUES
 ('nhsdd-discharge-method-2024', 'discharge_method', 'NHS Data Dictionary discharge method codes that apply to a discharge from an adult ward', true, '2024-04-01'),
 ('nhse-destination-2024', 'discharge_destination', 'NHS England discharge sitreps: destination within pathway (acute and community returns)', true, '2024-01-01'),
 ('nhse-acute-reasons-2024', 'national_reason_acute', 'NHS England acute discharge sitrep: reasons for patients not discharged (A1-A18)', true, '2024-01-01'),
 ('nhse-community-reasons-2024', 'national_reason_community', 'NHS England community discharge sitrep: reasons for patients not discharged', true, '2024-01-01'),
 ('nhse-acute-map-2024', 'reason_map_acute', 'Homeward delay reasons (nhse-2023) to the acute sitrep reasons (nhse-acute-reasons-2024)', true, '2024-01-01'),
 ('nhse-community-map-2024', 'reason_map_community', 'Homeward delay reasons (nhse-2023) to the community sitrep reasons (nhse-community-reasons-2024)', true, '2024-01-01');

-- How the patient left (NHS Data Dictionary). 5 (stillbirth) and 8 (not applicable: still in
-- hospital) never describe a discharge from an adult ward, so they are not offered.
CREATE TABLE discharge_methods (
    code        text PRIMARY KEY CHECK (code ~ '^[0-9]$'),
    code_set    text NOT NULL REFERENCES code_sets(name),
    label       text NOT NULL,
    sort_order  int NOT NULL
);
INSERT INTO discharge_methods (code, code_set, label, sort_order) VALUES
 ('1', 'nhsdd-discharge-method-2024', 'On clinical advice or with clinical consent', 1),
 ('3', 'nhsdd-discharge-method-2024', 'By a mental health review tribunal, the Home Secretary or a court', 2),
 ('4', 'nhsdd-discharge-method-2024', 'Patient died', 3),
 ('6', 'nhsdd-discharge-method-2024', 'Self-discharge', 4),
 ('7', 'nhsdd-discharge-method-2024', 'Discharged by a relative or advocate', 5),
 ('9', 'nhsdd-discharge-method-2024', 'Not known', 6);

-- Where the patient went: the national returns' destination-within-pathway categories, each
-- with the NHS Data Dictionary discharge destination it usually means. The acute return
-- has 12 categories; the community return 14 (it splits pathways 1-3 by rehabilitation,
-- long-term care and end of life, and adds homeless hostel and extra care housing).
CREATE TABLE discharge_destinations (
    code         text PRIMARY KEY CHECK (code ~ '^[a-z0-9_]{2,40}$'),
    code_set     text NOT NULL REFERENCES code_sets(name),
    return_kind  text NOT NULL CHECK (return_kind IN ('acute','community')),
    pathway      smallint NOT NULL CHECK (pathway BETWEEN 0 AND 3),
    label        text NOT NULL,
    nhs_dd_code  text NOT NULL CHECK (nhs_dd_code ~ '^[0-9]{2}$'),
    sort_order   int NOT NULL
);
INSERT INTO discharge_destinations (code, code_set, return_kind, pathway, label, nhs_dd_code, sort_order) VALUES
 ('p0_home', 'nhse-destination-2024', 'acute', 0, 'Pathway 0: home (usual place of residence)', '19', 1),
 ('p0_other', 'nhse-destination-2024', 'acute', 0, 'Pathway 0: other (not the usual place of residence)', '29', 2),
 ('p1_home', 'nhse-destination-2024', 'acute', 1, 'Pathway 1: home, with new or restarted support', '19', 3),
 ('p1_other', 'nhse-destination-2024', 'acute', 1, 'Pathway 1: other place, with new or restarted support', '29', 4),
 ('p1_hotel', 'nhse-destination-2024', 'acute', 1, 'Pathway 1: hotel, with support', '29', 5),
 ('p2_care_home', 'nhse-destination-2024', 'acute', 2, 'Pathway 2: care home bed (short term)', '56', 6),
 ('p2_designated', 'nhse-destination-2024', 'acute', 2, 'Pathway 2: designated setting', '56', 7),
 ('p2_hospice', 'nhse-destination-2024', 'acute', 2, 'Pathway 2: hospice', '88', 8),
 ('p2_community_rehab', 'nhse-destination-2024', 'acute', 2, 'Pathway 2: community rehabilitation setting', '51', 9),
 ('p3_care_home', 'nhse-destination-2024', 'acute', 3, 'Pathway 3: care home (new admission, likely permanent)', '56', 10),
 ('p3b_care_home', 'nhse-destination-2024', 'acute', 3, 'Pathway 3b: care home (existing resident going back)', '56', 11),
 ('p3_designated', 'nhse-destination-2024', 'acute', 3, 'Pathway 3: designated setting', '56', 12),
 ('cp0_home', 'nhse-destination-2024', 'community', 0, 'Pathway 0: home (usual place of residence)', '19', 21),
 ('cp0_other', 'nhse-destination-2024', 'community', 0, 'Pathway 0: other', '29', 22),
 ('cp0_homeless_hostel', 'nhse-destination-2024', 'community', 0, 'Pathway 0: homeless hostel', '29', 23),
 ('cp0_extra_care', 'nhse-destination-2024', 'community', 0, 'Pathway 0: extra care housing', '19', 24),
 ('cp1_rehab', 'nhse-destination-2024', 'community', 1, 'Pathway 1: home, rehabilitation or reablement', '19', 25),
 ('cp1_long_term_care', 'nhse-destination-2024', 'community', 1, 'Pathway 1: home, long-term care', '19', 26),
 ('cp1_end_of_life', 'nhse-destination-2024', 'community', 1, 'Pathway 1: home, end of life care', '19', 27),
 ('cp2_rehab', 'nhse-destination-2024', 'community', 2, 'Pathway 2: bed-based rehabilitation', '51', 28),
 ('cp2_long_term_care', 'nhse-destination-2024', 'community', 2, 'Pathway 2: short-term bed, long-term care needs', '56', 29),
 ('cp2_end_of_life', 'nhse-destination-2024', 'community', 2, 'Pathway 2: hospice or end of life bed', '88', 30),
 ('cp3_long_term_care', 'nhse-destination-2024', 'community', 3, 'Pathway 3: care home (new admission, likely permanent)', '56', 31),
 ('cp3_end_of_life', 'nhse-destination-2024', 'community', 3, 'Pathway 3: care home, end of life care', '55', 32),
 ('cp3b_care_home', 'nhse-destination-2024', 'community', 3, 'Pathway 3b: care home (existing resident going back)', '56', 33),
 ('cp3_designated', 'nhse-destination-2024', 'community', 3, 'Pathway 3: designated setting', '56', 34);

-- The returns' own lists of reasons for patients not discharged.
CREATE TABLE national_reasons (
    code_set    text NOT NULL REFERENCES code_sets(name),
    code        text NOT NULL,
    label       text NOT NULL,
    sort_order  int NOT NULL,
    PRIMARY KEY (code_set, code)
);
INSERT INTO national_reasons (code_set, code, label, sort_order) VALUES
 ('nhse-acute-reasons-2024', 'A1', 'Awaiting a medical decision or intervention, including the discharge summary', 1),
 ('nhse-acute-reasons-2024', 'A2', 'Awaiting community equipment or adaptations to housing', 2),
 ('nhse-acute-reasons-2024', 'A3', 'Awaiting confirmation from the hub or single point of access that the referral was received and actioned', 3),
 ('nhse-acute-reasons-2024', 'A4', 'Awaiting a diagnostic test', 4),
 ('nhse-acute-reasons-2024', 'A5', 'Awaiting medicines to take home', 5),
 ('nhse-acute-reasons-2024', 'A6', 'Awaiting referral to the community single point of access', 6),
 ('nhse-acute-reasons-2024', 'A7', 'Awaiting a therapy decision to discharge', 7),
 ('nhse-acute-reasons-2024', 'A8', 'Awaiting transport', 8),
 ('nhse-acute-reasons-2024', 'A9', 'Declared not meeting the criteria at the morning board round, meets them later that day: discharge stopped', 9),
 ('nhse-acute-reasons-2024', 'A10', 'Homeless, no recourse to public funds, or no place to go', 10),
 ('nhse-acute-reasons-2024', 'A11', 'Individual or family not in agreement with discharge plans', 11),
 ('nhse-acute-reasons-2024', 'A12', 'No plan', 12),
 ('nhse-acute-reasons-2024', 'A13', 'Pathway 1: awaiting resource for assessment and start of care at home', 13),
 ('nhse-acute-reasons-2024', 'A14', 'Pathway 2: awaiting a rehabilitation bed', 14),
 ('nhse-acute-reasons-2024', 'A15', 'Pathway 3: awaiting a care home bed, likely permanent', 15),
 ('nhse-acute-reasons-2024', 'A16', 'Infection control: no suitable location', 16),
 ('nhse-acute-reasons-2024', 'A17', 'Awaiting repatriation or transfer to another acute trust', 17),
 ('nhse-acute-reasons-2024', 'A18', 'Safeguarding concern or Court of Protection', 18);
-- The community return's reasons are Homeward's nhse-2023 list, one for one.
INSERT INTO national_reasons (code_set, code, label, sort_order)
SELECT 'nhse-community-reasons-2024', code, label, sort_order FROM delay_reasons WHERE code_set = 'nhse-2023';

-- Homeward's delay reasons as each return counts them. A reason with no row in a map has no
-- counterpart in that return (CHC decisions in the acute return) and is reported as such.
CREATE TABLE national_reason_map (
    map_set        text NOT NULL REFERENCES code_sets(name),
    delay_reason   text NOT NULL REFERENCES delay_reasons(code),
    national_set   text NOT NULL,
    national_code  text NOT NULL,
    PRIMARY KEY (map_set, delay_reason),
    FOREIGN KEY (national_set, national_code) REFERENCES national_reasons (code_set, code)
);
INSERT INTO national_reason_map (map_set, delay_reason, national_set, national_code) VALUES
 ('nhse-acute-map-2024', 'medical_decision', 'nhse-acute-reasons-2024', 'A1'),
 ('nhse-acute-map-2024', 'equipment_adaptations', 'nhse-acute-reasons-2024', 'A2'),
 ('nhse-acute-map-2024', 'hub_confirmation', 'nhse-acute-reasons-2024', 'A3'),
 ('nhse-acute-map-2024', 'diagnostic_test', 'nhse-acute-reasons-2024', 'A4'),
 ('nhse-acute-map-2024', 'medicines_tto', 'nhse-acute-reasons-2024', 'A5'),
 ('nhse-acute-map-2024', 'referral_to_hub', 'nhse-acute-reasons-2024', 'A6'),
 ('nhse-acute-map-2024', 'therapy_decision', 'nhse-acute-reasons-2024', 'A7'),
 ('nhse-acute-map-2024', 'transport', 'nhse-acute-reasons-2024', 'A8'),
 ('nhse-acute-map-2024', 'no_place_to_go', 'nhse-acute-reasons-2024', 'A10'),
 ('nhse-acute-map-2024', 'family_disagreement', 'nhse-acute-reasons-2024', 'A11'),
 ('nhse-acute-map-2024', 'no_plan', 'nhse-acute-reasons-2024', 'A12'),
 ('nhse-acute-map-2024', 'p1_new_care', 'nhse-acute-reasons-2024', 'A13'),
 -- closest: the acute list does not tell new care from continued rehabilitation
 ('nhse-acute-map-2024', 'p1_continued_rehab', 'nhse-acute-reasons-2024', 'A13'),
 ('nhse-acute-map-2024', 'p2_bed', 'nhse-acute-reasons-2024', 'A14'),
 ('nhse-acute-map-2024', 'p3_placement', 'nhse-acute-reasons-2024', 'A15'),
 -- closest: an end-of-life care home bed is a pathway 3 care home bed
 ('nhse-acute-map-2024', 'p3_end_of_life', 'nhse-acute-reasons-2024', 'A15'),
 ('nhse-acute-map-2024', 'infection_control', 'nhse-acute-reasons-2024', 'A16'),
 -- closest: transfer back or to another acute trust
 ('nhse-acute-map-2024', 'transfer_to_acute', 'nhse-acute-reasons-2024', 'A17'),
 ('nhse-acute-map-2024', 'safeguarding', 'nhse-acute-reasons-2024', 'A18');
INSERT INTO national_reason_map (map_set, delay_reason, national_set, national_code)
SELECT 'nhse-community-map-2024', code, 'nhse-community-reasons-2024', code FROM delay_reasons WHERE code_set = 'nhse-2023';

-- The coded fields on a case.
ALTER TABLE patients
    ALTER COLUMN nhs_number DROP NOT NULL,
    -- 'unknown': the NHS number is not known (yet); the hospital number identifies the patient
    ADD COLUMN nhs_number_status text NOT NULL DEFAULT 'known' CHECK (nhs_number_status IN ('known','unknown')),
    -- the hospital (local) patient identifier
    ADD COLUMN local_id text CHECK (local_id ~ '^[A-Za-z0-9/-]{1,20}$'),
    ADD COLUMN discharge_destination text REFERENCES discharge_destinations(code),
    ADD COLUMN discharge_method text REFERENCES discharge_methods(code),
    ADD COLUMN cancel_reason_code text CHECK (cancel_reason_code IN ('died','transferred_out','self_discharged','other')),
    ADD COLUMN cancelled_at timestamptz;
ALTER TABLE patients ADD CONSTRAINT patients_identified CHECK (
    (nhs_number_status = 'known' AND nhs_number IS NOT NULL)
    OR (nhs_number_status = 'unknown' AND nhs_number IS NULL AND local_id IS NOT NULL));

-- Cases cancelled before this migration: when, from their history.
UPDATE patients p SET cancelled_at = COALESCE(
    (SELECT max(h.at) FROM patient_history h WHERE h.patient_id = p.id AND h.action = 'cancelled'),
    p.updated_at)
WHERE p.status = 'cancelled';
-- (the cancel command sets the time before the history writer sets the status)
ALTER TABLE patients ADD CONSTRAINT patients_cancelled_when CHECK (status <> 'cancelled' OR cancelled_at IS NOT NULL);

-- One open case per hospital number in a trust, as for NHS numbers.
CREATE UNIQUE INDEX patients_one_open_local_idx ON patients (trust_code, local_id)
    WHERE local_id IS NOT NULL AND status NOT IN ('discharged','cancelled');
-- The returns find a day's cancellations as they find its discharges.
CREATE INDEX patients_cancelled_at_idx ON patients (cancelled_at) WHERE cancelled_at IS NOT NULL;

-- A day's reports count a period of not meeting the criteria that ends at the very start
-- of the day, or ends the instant it starts (flagged and discharged at 00:00), as touching
-- the day: the period is the closed range [started_at, ended_at]. The index follows.
CREATE INDEX nctr_periods_closed_range_idx ON nctr_periods
    USING gist (tstzrange(started_at, COALESCE(ended_at, 'infinity'::timestamptz), '[]'));
DROP INDEX nctr_periods_range_idx;
