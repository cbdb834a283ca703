-- Up Migration
-- Delivery receipts (providers' status callbacks: Twilio's StatusCallback, Meta's WhatsApp
-- webhooks), applied by provider_receipts_record() below and by nothing else.
--
-- A receipt moves a message forward only: sent → delivered | failed, with an event whose
-- detail names the provider, so the tenant's status webhook reports it like any other change
-- (the outbox trigger of 0005). A message already final, or one whose receipt carries no news,
-- is left alone ("stale"). A receipt can arrive before the worker recorded the provider's
-- answer: the provider's id is not on the row yet, the row is pending with its call in
-- progress. Such receipts wait in provider_receipts, and the moment provider_message_id is
-- set (sql/provider-outcome.sql) a trigger applies them; the worker's code knows nothing of it.

-- Receipts whose message was not found: early ones, and ones for ids that are not ours.
-- The first final receipt per id wins, as it does on a message (failed after delivered is no news).
CREATE TABLE provider_receipts (
  provider text NOT NULL,
  provider_message_id text NOT NULL,
  status text NOT NULL CHECK (status IN ('delivered', 'failed')),
  detail text NOT NULL,
  failure_reason text,
  received_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (provider_message_id, provider)
);
CREATE INDEX provider_receipts_received_at_idx ON provider_receipts (received_at);

-- "Is a provider call to this recipient in progress?": what tells an early receipt from one
-- for an id that is not ours (the metric's `early` and `unknown`). It holds only the calls in
-- flight (claimed, no provider id yet: at most the send workers' bulkheads, a few hundred
-- rows), so it stays a few pages, and rows leave it as their outcome is recorded. Claiming
-- 5000 messages and recording their outcomes took 0.51-1.04x as long with it as without it
-- in four interleaved rounds (200,000 rows around them): no difference above the noise. A plain
-- CREATE INDEX reads the whole table while it holds writes (0009: ~0.4 s per million rows);
-- build it by hand with CONCURRENTLY under this name beforehand on a large table.
CREATE INDEX IF NOT EXISTS messages_provider_call_idx ON messages (recipient)
  WHERE provider_call_until IS NOT NULL AND provider_message_id IS NULL;

-- The one lock that orders a receipt against the outcome recording the same provider id:
-- whichever takes it second sees what the first committed (see the two functions below).
CREATE FUNCTION provider_receipt_lock(p_provider_message_id text) RETURNS void LANGUAGE sql AS $$
  SELECT pg_advisory_xact_lock(hashtextextended('esh3ar:provider-receipt:' || p_provider_message_id, 0))
$$;

-- Moves message p_id from sent to p_status with its event; false when it was not sent.
-- delivered_at and the event's time are now(): Meta's timestamp has whole seconds and Twilio's
-- callbacks have none, and an earlier provider time would put `delivered` before the `sent`
-- event recorded a moment after the provider accepted the message.
CREATE FUNCTION provider_receipt_move(p_id uuid, p_status text, p_detail text, p_reason text) RETURNS boolean
LANGUAGE plpgsql AS $$
BEGIN
  WITH moved AS (
    UPDATE messages SET
      status = p_status,
      delivered_at = CASE WHEN p_status = 'delivered' THEN now() ELSE delivered_at END,
      failure_reason = CASE WHEN p_status = 'failed' THEN p_reason ELSE failure_reason END,
      updated_at = now()
    WHERE id = p_id AND status = 'sent'
    RETURNING id
  )
  INSERT INTO message_events (message_id, status, detail) SELECT id, p_status, p_detail FROM moved;
  RETURN FOUND;
END
$$;

-- Records receipts of one provider, in order; returns each one's result: applied (the message
-- moved), stale (the message is known and this changes nothing), early (kept: a call to its
-- recipient is in progress) or unknown (kept all the same, in case it is early after all).
-- Locks are taken in provider-id order, so two batches sharing ids cannot deadlock. Each
-- statement in a PL/pgSQL function reads what was committed before it started (READ
-- COMMITTED), so the lookups after the lock see an outcome that committed while we waited.
CREATE FUNCTION provider_receipts_record(
  p_provider text,
  p_ids text[],
  p_statuses text[],
  p_recipients text[],
  p_details text[],
  p_reasons text[]
) RETURNS text[] LANGUAGE plpgsql AS $$
DECLARE
  results text[] := array_fill(NULL::text, ARRAY[cardinality(p_ids)]);
  i int;
  target record;
  known boolean;
  moved boolean;
  kept boolean := false;
BEGIN
  FOR i IN SELECT n FROM unnest(p_ids) WITH ORDINALITY AS r(id, n) ORDER BY id, n LOOP
    PERFORM provider_receipt_lock(p_ids[i]);
    known := false;
    moved := false;
    -- A provider's ids are its own: the row must name this provider, or none (a message
    -- sent before messages.provider was recorded).
    FOR target IN
      SELECT m.id FROM messages m
      WHERE m.provider_message_id = p_ids[i] AND (m.provider = p_provider OR m.provider IS NULL)
    LOOP
      known := true;
      IF provider_receipt_move(target.id, p_statuses[i], p_details[i], p_reasons[i]) THEN
        moved := true;
      END IF;
    END LOOP;
    IF moved THEN
      results[i] := 'applied';
    ELSIF known THEN
      results[i] := 'stale';
    ELSE
      INSERT INTO provider_receipts (provider, provider_message_id, status, detail, failure_reason)
      VALUES (p_provider, p_ids[i], p_statuses[i], p_details[i], p_reasons[i])
      ON CONFLICT DO NOTHING;
      kept := true;
      results[i] := CASE WHEN EXISTS (
          SELECT 1 FROM messages
          WHERE recipient = p_recipients[i] AND provider_call_until IS NOT NULL AND provider_message_id IS NULL
            AND provider_call_until > now()
        ) THEN 'early' ELSE 'unknown' END;
    END IF;
  END LOOP;
  -- The bound on what waits: an early receipt waits for a call in progress (seconds: the
  -- worker's claim lasts the provider timeout and its bulkhead queue), so one kept for 24 h
  -- is for an id that is not ours. At most 100 per call keeps each call cheap.
  IF kept THEN
    DELETE FROM provider_receipts WHERE ctid = ANY (ARRAY(
      SELECT ctid FROM provider_receipts WHERE received_at < now() - interval '24 hours' LIMIT 100
    ));
  END IF;
  RETURN results;
END
$$;

-- When the provider's id is recorded, the receipts that were waiting for it are applied. A
-- deferred constraint trigger runs at commit, after the outcome's own `sent` event (and its
-- webhook outbox row), so a tenant hears `sent` before `delivered`. It takes the receipt lock
-- first: a receipt recorded meanwhile has committed by then and is found, and one that comes
-- later finds the message (it waits for this commit).
CREATE FUNCTION provider_receipts_apply_waiting() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  waiting record;
BEGIN
  PERFORM provider_receipt_lock(NEW.provider_message_id);
  -- Several providers' receipts for one id (only when messages.provider is unset): the
  -- first received wins, as on a message.
  FOR waiting IN
    WITH taken AS (
      DELETE FROM provider_receipts r
      WHERE r.provider_message_id = NEW.provider_message_id AND (NEW.provider IS NULL OR r.provider = NEW.provider)
      RETURNING r.status, r.detail, r.failure_reason, r.received_at
    )
    SELECT * FROM taken ORDER BY received_at
  LOOP
    PERFORM provider_receipt_move(NEW.id, waiting.status, waiting.detail, waiting.failure_reason);
  END LOOP;
  RETURN NULL;
END
$$;
-- Cheap for every other update: the WHEN clause is checked per row without a function call,
-- and holds only for the one UPDATE per message that records the provider's id, which then
-- pays a lock and a probe of a table that is nearly always empty: 5000 claims and outcomes
-- took 0.53-1.30x (median 1.05x) as long with the trigger as with it disabled, in eight
-- interleaved rounds, i.e. no difference above the noise of the machine they ran on.
CREATE CONSTRAINT TRIGGER messages_provider_receipts_waiting AFTER UPDATE OF provider_message_id ON messages
  DEFERRABLE INITIALLY DEFERRED
  FOR EACH ROW WHEN (OLD.provider_message_id IS NULL AND NEW.provider_message_id IS NOT NULL)
  EXECUTE FUNCTION provider_receipts_apply_waiting();

-- Down Migration
DROP TRIGGER messages_provider_receipts_waiting ON messages;
DROP FUNCTION provider_receipts_apply_waiting();
DROP FUNCTION provider_receipts_record(text, text[], text[], text[], text[], text[]);
DROP FUNCTION provider_receipt_move(uuid, text, text, text);
DROP FUNCTION provider_receipt_lock(text);
DROP INDEX messages_provider_call_idx;
DROP TABLE provider_receipts;
