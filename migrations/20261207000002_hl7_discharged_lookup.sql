-- The hospital feed asks whether an admission is older than the patient's last discharge
-- (a late copy of an ended stay): by NHS number (patients_nhs_number_idx), or, for a patient
-- whose NHS number is not known, by the trust's hospital number, over every stay.
CREATE INDEX patients_trust_local_id_idx ON patients (trust_code, local_id)
    WHERE local_id IS NOT NULL;
