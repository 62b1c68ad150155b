-- A token refresh claims the row by a short lease instead of holding a row lock across amoCRM's answer.
ALTER TABLE "amo_token" ADD COLUMN "refresh_lease_id" TEXT;
ALTER TABLE "amo_token" ADD COLUMN "refresh_lease_until" TIMESTAMPTZ(3);
