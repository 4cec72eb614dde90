-- The Kafka archive sets aside a record the broker refuses for good (larger than its message.max.bytes)
-- instead of retrying it for ever, which stopped every row behind it (archive.ts). refused_at/_reason say
-- which and why; the relay's partial index leaves them out like the sent ones.
ALTER TABLE persist_outbox ADD COLUMN refused_at timestamptz;
ALTER TABLE persist_outbox ADD COLUMN refused_reason text;
DROP INDEX persist_outbox_unsent;
CREATE INDEX persist_outbox_unsent ON persist_outbox (seq) WHERE sent_at IS NULL AND refused_at IS NULL;
