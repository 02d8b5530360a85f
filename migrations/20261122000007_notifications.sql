-- When each user last opened their notifications: what is newer is "new".
CREATE TABLE notification_reads (
    user_id  bigint PRIMARY KEY REFERENCES users(id) ON DELETE CASCADE,
    seen_at  timestamptz NOT NULL
);
-- the hub's "decisions since you last looked", and overdue pending referrals
CREATE INDEX referrals_decided_idx ON referrals (decided_at) WHERE decided_at IS NOT NULL;
CREATE INDEX referrals_pending_idx ON referrals (created_at) WHERE status = 'pending';
