-- A replayed disconnect hook must not disconnect an account connected again after the hook was first seen.
ALTER TABLE "amo_account" ADD COLUMN "connected_at" TIMESTAMPTZ(3) NOT NULL DEFAULT now();
-- rows connected before this column: their creation is the best known connect time
UPDATE "amo_account" SET "connected_at" = "created_at";

CREATE TABLE "amo_disconnect_hook" (
  "query_hash" TEXT NOT NULL,
  "first_seen_at" TIMESTAMPTZ(3) NOT NULL DEFAULT now(),
  CONSTRAINT "amo_disconnect_hook_pkey" PRIMARY KEY ("query_hash")
);
