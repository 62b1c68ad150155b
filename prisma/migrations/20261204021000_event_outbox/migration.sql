-- amo.events' outbox (src/platform/event-outbox.ts): an event is a row written in the very
-- transaction of the change it announces, and a relay publishes it to Kafka and deletes it. A row
-- stays until the broker took it (retried with backoff while the broker is down), so neither an
-- outage nor a crash between the commit and the publish loses it; a crash between the publish and
-- the delete publishes it again, under the same id (the row's), which consumers de-duplicate.
-- sync.completed is written by finishJob; token.stale by the trigger below, so every writer of
-- the stale transition (tokens.ts, token-refresh.ts) is covered without announcing it itself.

CREATE TABLE "event_outbox" (
    "id" UUID NOT NULL DEFAULT gen_random_uuid(),
    "quiz_account_id" TEXT NOT NULL,
    "payload" JSONB NOT NULL,
    "attempts" INTEGER NOT NULL DEFAULT 0,
    "next_attempt_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "locked_until" TIMESTAMPTZ(3),
    "last_error" TEXT,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    CONSTRAINT "event_outbox_pkey" PRIMARY KEY ("id")
);
CREATE INDEX "event_outbox_next_attempt_at_idx" ON "event_outbox" ("next_attempt_at");

-- The same transition that used to call the publisher's tokenStale (stale false → true).
CREATE FUNCTION event_on_account_stale() RETURNS trigger AS $$
BEGIN
  IF NEW.stale AND NOT OLD.stale THEN
    INSERT INTO event_outbox (quiz_account_id, payload) VALUES (NEW.quiz_account_id,
      jsonb_build_object('type', 'token.stale', 'quizAccountId', NEW.quiz_account_id, 'accountId', NEW.id));
  END IF;
  RETURN NULL;
END $$ LANGUAGE plpgsql;
CREATE TRIGGER event_account_stale AFTER UPDATE OF stale ON amo_account FOR EACH ROW EXECUTE FUNCTION event_on_account_stale();
