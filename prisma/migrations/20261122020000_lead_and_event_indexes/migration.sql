-- amoCRM's webhooks name leads by their amoCRM id: find the Delivery of a lead directly.
CREATE INDEX "delivery_account_lead" ON "delivery"("account_id", "amo_lead_id") WHERE "amo_lead_id" IS NOT NULL;
-- The sweeper looks for events nothing has processed yet.
CREATE INDEX "webhook_event_unprocessed" ON "webhook_event"("received_at") WHERE "processed_at" IS NULL;
