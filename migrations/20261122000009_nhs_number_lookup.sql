-- "Who looked at this patient" finds every case (open or closed) by NHS number; the unique
-- index covers open cases only.
CREATE INDEX patients_nhs_number_idx ON patients (nhs_number);
