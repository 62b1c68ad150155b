-- Why a delivery is not (yet) delivered, in a form the admin page can show and count.
CREATE TYPE "DeliveryReason" AS ENUM (
  'QUEUED', 'NO_ACCOUNT', 'RECONNECT_NEEDED', 'ACCOUNT_BLOCKED', 'RATE_LIMITED', 'AMO_UNAVAILABLE',
  'CONFIRMING', 'ADDING_NOTE', 'AMO_REJECTED', 'NO_RULE', 'RETRIES_EXHAUSTED', 'EXPIRED'
);

-- How a possibly-sent lead is confirmed before a resend: by the api-only result-id field, or,
-- where amoCRM refuses to create that field (no admin rights, field limit), by the lead's content.
CREATE TYPE "ReconcileMode" AS ENUM ('RESULT_FIELD', 'LEAD_CONTENT');

ALTER TABLE "delivery"
  ADD COLUMN "reason" "DeliveryReason",
  ADD COLUMN "first_sent_at" TIMESTAMPTZ(3),
  ADD COLUMN "sent_lead" JSONB;

UPDATE "delivery" SET "reason" = 'QUEUED' WHERE "status" = 'PENDING';
UPDATE "delivery" SET "reason" = 'AMO_REJECTED' WHERE "status" = 'FAILED';

ALTER TABLE "amo_account"
  ADD COLUMN "reconcile_mode" "ReconcileMode",
  ADD COLUMN "reconcile_note" TEXT,
  ADD COLUMN "reconcile_checked_at" TIMESTAMPTZ(3);

-- Health of an account's deliveries and the reason sweep read only the waiting ones.
CREATE INDEX "delivery_waiting_idx" ON "delivery" ("quiz_account_id", "created_at") WHERE "status" = 'PENDING';
