-- The limiter keeps the slots of each amoCRM account reserved within the last window and ahead (epoch ms, ascending) and spaces
-- request n from request n - rps by the window (src/platform/amo/rate-limit.ts); next_slot_at is
-- now only a floor (Retry-After after a 429).
ALTER TABLE "amo_rate_limit" ADD COLUMN "recent_slots" DOUBLE PRECISION[] NOT NULL DEFAULT ARRAY[]::DOUBLE PRECISION[];
