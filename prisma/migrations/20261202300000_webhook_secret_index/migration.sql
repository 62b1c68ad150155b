-- Every amoCRM webhook request looks its account up by the secret in its path.
CREATE INDEX "amo_account_webhook_secret_idx" ON "amo_account"("webhook_secret");
