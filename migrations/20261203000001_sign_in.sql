-- Sign-in (issue 13): ending sessions, throttling, two-factor codes and single sign-on links.

-- A page session remembers the epoch its user had when it was signed in, and the caller
-- query compares it: a password reset, disabling or enabling the user, resetting their
-- two-factor or changing their single sign-on link adds one, which ends every session at
-- once (API tokens are deleted in the same transaction).
ALTER TABLE users ADD COLUMN session_epoch integer NOT NULL DEFAULT 0;

-- Sign-in attempts of the last window (15 minutes) that did not complete: a row is written
-- before the password is checked and deleted only when the sign-in completes, so an attempt
-- counts as failed until it is proved otherwise and a flood cannot slip past the count while
-- its hashes run. `account_key` is the SHA-256 of the username as typed (lower case), so a
-- password typed into the username box is not stored; `client_key` is the client address
-- (an IPv6 address by its /64). Rows older than the window are deleted as attempts come in.
CREATE TABLE sign_in_failures (
    id           bigserial PRIMARY KEY,
    account_key  bytea NOT NULL,
    client_key   text NOT NULL,
    at           timestamptz NOT NULL
);
CREATE INDEX sign_in_failures_account_idx ON sign_in_failures (account_key, at);
CREATE INDEX sign_in_failures_client_idx ON sign_in_failures (client_key, at);
CREATE INDEX sign_in_failures_at_idx ON sign_in_failures (at);

-- A user's authenticator app (TOTP, RFC 6238). `last_used_step` is the 30-second step of the
-- last code accepted: a code is accepted only for a later step, so no code works twice.
CREATE TABLE user_totp (
    user_id         bigint PRIMARY KEY REFERENCES users(id) ON DELETE CASCADE,
    secret          bytea NOT NULL,
    enrolled_at     timestamptz NOT NULL,
    last_used_step  bigint NOT NULL
);

-- One-time recovery codes, stored as SHA-256 (each has about 50 random bits).
CREATE TABLE user_recovery_codes (
    user_id    bigint NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    code_hash  bytea NOT NULL,
    used_at    timestamptz,
    PRIMARY KEY (user_id, code_hash)
);

-- Single sign-on: the identity provider's subject an administrator linked to a user.
CREATE TABLE sso_links (
    user_id    bigint PRIMARY KEY REFERENCES users(id) ON DELETE CASCADE,
    issuer     text NOT NULL,
    subject    text NOT NULL CHECK (subject <> ''),
    linked_at  timestamptz NOT NULL,
    linked_by  bigint REFERENCES users(id),
    UNIQUE (issuer, subject)
);
