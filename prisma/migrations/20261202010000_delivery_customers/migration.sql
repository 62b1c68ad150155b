-- The customer of a delivery: what was sent (committed before the call), its id, and the link.
ALTER TABLE "delivery"
  ADD COLUMN "amo_customer_id" INTEGER,
  ADD COLUMN "customer_sent_at" TIMESTAMPTZ(3),
  ADD COLUMN "sent_customer" JSONB,
  ADD COLUMN "customer_linked_at" TIMESTAMPTZ(3);

-- Reconciling a customer skips the ones another delivery of the account already owns.
CREATE INDEX "delivery_account_customer" ON "delivery"("account_id", "amo_customer_id") WHERE "amo_customer_id" IS NOT NULL;
