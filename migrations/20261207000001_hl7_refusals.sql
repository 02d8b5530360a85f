-- The hospital feed's refusals (issue 14 review): only refused messages (AE) wait for an
-- administrator; rejected ones (AR: events and versions the feed never takes, which a
-- hospital system sends all day) are logged but never waiting, so they must not fill the
-- admin page's index or push the refusals off it.
DROP INDEX hl7_messages_open_refusals_idx;
CREATE INDEX hl7_messages_open_refusals_idx ON hl7_messages (received_at DESC, id DESC)
    WHERE outcome = 'refused' AND resolved_at IS NULL;
-- a message that applies resolves its earlier refusals (the sender sent it again)
CREATE INDEX hl7_messages_refused_by_id_idx ON hl7_messages (sending_facility, control_id)
    WHERE outcome = 'refused' AND resolved_at IS NULL;
