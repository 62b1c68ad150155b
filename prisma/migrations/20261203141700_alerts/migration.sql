-- Alerts to the owner's own webhook (src/features/alerts): the owner's endpoint, and an outbox
-- written by triggers in the very transaction of the event (a delivery FAILED, an account stale,
-- blocked or disconnected, a rule check finding problems), so no writer can forget one and each
-- transition gives exactly one row. A delivery's lead deleted in amoCRM is recorded on it.

ALTER TABLE "delivery" ADD COLUMN "lead_deleted_at" TIMESTAMPTZ(3);

CREATE TABLE "alert_webhook" (
    "quiz_account_id" TEXT NOT NULL,
    "url" TEXT NOT NULL,
    "secret_enc" TEXT NOT NULL,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updated_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    CONSTRAINT "alert_webhook_pkey" PRIMARY KEY ("quiz_account_id")
);

CREATE TYPE "AlertStatus" AS ENUM ('PENDING', 'DELIVERED', 'FAILED');

CREATE TABLE "alert_outbox" (
    "id" UUID NOT NULL DEFAULT gen_random_uuid(),
    "quiz_account_id" TEXT NOT NULL,
    "kind" TEXT NOT NULL,
    "payload" JSONB NOT NULL,
    "status" "AlertStatus" NOT NULL DEFAULT 'PENDING',
    "attempts" INTEGER NOT NULL DEFAULT 0,
    "next_attempt_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "locked_until" TIMESTAMPTZ(3),
    "last_status_code" INTEGER,
    "last_error" TEXT,
    "last_attempt_at" TIMESTAMPTZ(3),
    "delivered_at" TIMESTAMPTZ(3),
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    CONSTRAINT "alert_outbox_pkey" PRIMARY KEY ("id")
);
CREATE INDEX "alert_outbox_status_next_attempt_at_idx" ON "alert_outbox" ("status", "next_attempt_at");
CREATE INDEX "alert_outbox_quiz_account_id_created_at_idx" ON "alert_outbox" ("quiz_account_id", "created_at" DESC);

-- Only a tenant with a webhook gets rows: without one there is nobody to tell.
CREATE FUNCTION alert_enqueue(tenant TEXT, alert_kind TEXT, alert_payload JSONB) RETURNS void AS $$
BEGIN
  IF tenant IS NOT NULL AND EXISTS (SELECT 1 FROM alert_webhook WHERE quiz_account_id = tenant) THEN
    INSERT INTO alert_outbox (quiz_account_id, kind, payload) VALUES (tenant, alert_kind, alert_payload);
  END IF;
END $$ LANGUAGE plpgsql;

CREATE FUNCTION alert_on_delivery() RETURNS trigger AS $$
BEGIN
  IF NEW.status = 'FAILED' AND (TG_OP = 'INSERT' OR OLD.status <> 'FAILED') THEN
    PERFORM alert_enqueue(NEW.quiz_account_id, 'delivery.failed', jsonb_build_object(
      'deliveryId', NEW.id, 'quizId', NEW.quiz_id, 'resultId', NEW.result_id,
      'reason', NEW.reason, 'error', NEW.last_error, 'attempts', NEW.attempts));
  END IF;
  RETURN NULL;
END $$ LANGUAGE plpgsql;
CREATE TRIGGER alert_delivery AFTER INSERT OR UPDATE OF status ON delivery FOR EACH ROW EXECUTE FUNCTION alert_on_delivery();

CREATE FUNCTION alert_on_account() RETURNS trigger AS $$
DECLARE
  base JSONB := jsonb_build_object('accountId', NEW.id, 'amoId', NEW.amo_id, 'subdomain', NEW.subdomain);
BEGIN
  IF NEW.deleted_at IS NOT NULL AND OLD.deleted_at IS NULL THEN
    PERFORM alert_enqueue(NEW.quiz_account_id, 'account.disconnected', base);
    RETURN NULL;
  END IF;
  IF NEW.deleted_at IS NULL AND NEW.blocked_at IS NOT NULL AND OLD.blocked_at IS NULL THEN
    PERFORM alert_enqueue(NEW.quiz_account_id, 'account.blocked', base);
  END IF;
  IF NEW.deleted_at IS NULL AND NEW.stale AND NOT OLD.stale THEN
    PERFORM alert_enqueue(NEW.quiz_account_id, 'account.stale', base);
  END IF;
  RETURN NULL;
END $$ LANGUAGE plpgsql;
CREATE TRIGGER alert_account AFTER UPDATE OF deleted_at, blocked_at, stale ON amo_account FOR EACH ROW EXECUTE FUNCTION alert_on_account();

-- A check that finds the same problems again is not a new event.
CREATE FUNCTION alert_on_rule() RETURNS trigger AS $$
BEGIN
  IF cardinality(NEW.problems) > 0 AND NEW.problems IS DISTINCT FROM OLD.problems THEN
    PERFORM alert_enqueue((SELECT quiz_account_id FROM amo_account WHERE id = NEW.account_id), 'rule.problems', jsonb_build_object(
      'ruleId', NEW.id, 'quizId', NEW.quiz_id, 'accountId', NEW.account_id, 'problems', to_jsonb(NEW.problems)));
  END IF;
  RETURN NULL;
END $$ LANGUAGE plpgsql;
CREATE TRIGGER alert_rule AFTER UPDATE OF problems ON rule FOR EACH ROW EXECUTE FUNCTION alert_on_rule();
