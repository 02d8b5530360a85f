-- Offers can be edited (issue 12): places, end date and notes. Each offer carries a version
-- (a stale edit is refused), and every value an offer has had is kept with the time it took
-- effect, so a report of places available on a past day counts what was offered then.
ALTER TABLE capacity_offers ADD COLUMN version int NOT NULL DEFAULT 1;

CREATE TABLE capacity_offer_changes (
    id               bigserial PRIMARY KEY,
    offer_id         bigint NOT NULL REFERENCES capacity_offers(id),
    at               timestamptz NOT NULL,
    changed_by       bigint REFERENCES users(id),
    places           int NOT NULL,
    available_until  timestamptz NOT NULL,
    notes            text NOT NULL
);
CREATE INDEX capacity_offer_changes_offer_idx ON capacity_offer_changes (offer_id, at, id);
CREATE TRIGGER capacity_offer_changes_append_only BEFORE UPDATE OR DELETE ON capacity_offer_changes
    FOR EACH ROW EXECUTE FUNCTION refuse_change();

-- the offers already posted: their values from the start
INSERT INTO capacity_offer_changes (offer_id, at, changed_by, places, available_until, notes)
SELECT id, created_at, created_by, places, available_until, COALESCE(notes, '') FROM capacity_offers;

-- an accepted referral records when the provider plans to admit, and whom to contact
ALTER TABLE referrals ADD COLUMN admission_planned_for date,
    ADD COLUMN accept_contact text CHECK (char_length(accept_contact) <= 300);
