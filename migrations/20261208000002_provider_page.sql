-- The provider's page (issue 14, "the same rules on pages with more than one page"): the
-- referrals it has answered, a page at a time, newest first, by a keyset on this index.
CREATE INDEX referrals_org_created_idx ON referrals (org_code, created_at DESC, id DESC);
