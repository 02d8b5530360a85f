-- The hospital feed's message log is kept for a configured time (`--hl7-keep-days`, 90 by
-- default) once a message is dealt with; refusals waiting for an administrator are kept
-- until replayed. The retention deletes a refusal's replay only with (or after) the
-- refusal, which it finds through this index rather than a scan of the whole log.
CREATE INDEX hl7_messages_resolved_by_idx ON hl7_messages (resolved_by)
    WHERE resolved_by IS NOT NULL;

-- The feed's accounts are its own only: disabled ward accounts with no usable password. A
-- person's account that happened to carry a feed account's name is no longer taken for one
-- (the feed makes its own under the next name, `hl7-feed-<trust>-2`), and no new account may
-- take such a name.
DELETE FROM hl7_feed_users f USING users u
 WHERE u.id = f.user_id
   AND NOT (u.role = 'ward' AND u.org_code = f.trust_code AND u.password_hash = '!'
            AND u.disabled_at IS NOT NULL);
