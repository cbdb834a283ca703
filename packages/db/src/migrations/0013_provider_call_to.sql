-- Up Migration
-- Which provider a claimed call goes to (sql/provider-claim.sql sets it with
-- provider_call_until). A claim that lapsed with no outcome recorded means the worker
-- stopped during the call: the provider may have accepted the message. Whether it may be
-- called again depends on that provider: provider-sim recognises a repeat by our message
-- id (its Idempotency-Key), Twilio, Meta and SMTP have no such key and would send twice.
-- Nothing else reads it; no index: it is read only on rows the claim already locked.
ALTER TABLE messages ADD COLUMN provider_call_to text;

-- Down Migration
ALTER TABLE messages DROP COLUMN provider_call_to;
