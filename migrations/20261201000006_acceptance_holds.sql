-- Patient choice as local policy allows (issue 12): when the hub sets an acceptance hold,
-- a provider's acceptance holds a place for a set time instead of booking it at once, so
-- several homes can accept and the patient or family can choose; the hub then books one and
-- the others give their places back. A held acceptance is 'accepted' with held_until set;
-- booking clears held_until. One booked acceptance per patient, as before.
ALTER TABLE referrals ADD COLUMN held_until timestamptz;
DROP INDEX referrals_one_accepted_idx;
CREATE UNIQUE INDEX referrals_one_accepted_idx ON referrals (patient_id)
    WHERE status = 'accepted' AND held_until IS NULL;
-- holds that lapse, for the sweeper
CREATE INDEX referrals_held_idx ON referrals (held_until)
    WHERE status = 'accepted' AND held_until IS NOT NULL;
