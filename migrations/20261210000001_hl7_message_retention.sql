-- The hospital feed's message log is kept for a configured time (`--hl7-keep-days`, 90 by
-- default) once a message is dealt with; refusals waiting for an administrator are kept
-- until replayed. The retention deletes a refusal's replay only with (or after) the
-- refusal, which it finds through this index rather than a scan of the whole log.
CREATE INDEX hl7_messages_resolved_by_idx ON hl7_messages (resolved_by)
    WHERE resolved_by IS NOT NULL;
