-- The hospital feed (HL7 v2 ADT over MLLP, issue 14): where the sending system's locations
-- are on Homeward's wards, every message received with what became of it, and the time of
-- the last message applied to each case (so an older message never undoes a newer one).

-- Sending facility (MSH-4) + point of care (PV1-3.1) -> a ward. Administrators edit it.
CREATE TABLE hl7_locations (
    sending_facility  text NOT NULL CHECK (sending_facility ~ '^[A-Za-z0-9._-]{1,40}$'),
    point_of_care     text NOT NULL CHECK (point_of_care ~ '^[A-Za-z0-9._ -]{1,40}$'),
    ward_code         text NOT NULL REFERENCES wards(code),
    created_at        timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (sending_facility, point_of_care)
);

-- Every message received, whatever became of it: applied (AA), ignored (AA: older than
-- what the case already shows, or a repeat of nothing to do), refused (AE: kept to be seen
-- and replayed), rejected (AR: an event or version Homeward never takes). A repeat of a
-- message already applied is answered AA and not stored again.
CREATE TABLE hl7_messages (
    id                bigserial PRIMARY KEY,
    control_id        text NOT NULL,               -- MSH-10
    sending_facility  text NOT NULL,               -- MSH-4
    event             text NOT NULL,               -- MSH-9.2 (A01, A02, ...)
    message_at        timestamptz,                 -- EVN-2, else MSH-7
    received_at       timestamptz NOT NULL,
    outcome           text NOT NULL CHECK (outcome IN ('applied','ignored','refused','rejected')),
    reason            text NOT NULL DEFAULT '',
    patient_id        bigint REFERENCES patients(id),
    body              text NOT NULL,
    -- a refused message applied later (replayed): when, and the row that applied it
    resolved_at       timestamptz,
    resolved_by       bigint REFERENCES hl7_messages(id)
);
-- applied once: a second row for the same message can never be applied or ignored
CREATE UNIQUE INDEX hl7_messages_once_idx ON hl7_messages (sending_facility, control_id)
    WHERE outcome IN ('applied','ignored');
-- the admin page: refused messages not yet replayed, newest first
CREATE INDEX hl7_messages_open_refusals_idx ON hl7_messages (received_at DESC, id DESC)
    WHERE outcome IN ('refused','rejected') AND resolved_at IS NULL;
-- the feed's health: the last message, and the last hour's
CREATE INDEX hl7_messages_received_idx ON hl7_messages (received_at);

-- The time (EVN-2, else MSH-7) of the newest message applied to a case.
CREATE TABLE hl7_case_feed (
    patient_id       bigint PRIMARY KEY REFERENCES patients(id),
    last_message_at  timestamptz NOT NULL
);

-- The feed acts as one user per trust (role ward, disabled: it can never sign in), so the
-- case history says "hl7-feed-rhw" did it.
CREATE TABLE hl7_feed_users (
    trust_code  text PRIMARY KEY REFERENCES organisations(code),
    user_id     bigint NOT NULL UNIQUE REFERENCES users(id)
);
