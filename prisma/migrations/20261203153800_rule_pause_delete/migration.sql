-- Rules owners can manage: a paused rule's results wait, a deleted rule's are refused.
ALTER TYPE "DeliveryReason" ADD VALUE IF NOT EXISTS 'RULE_PAUSED';
ALTER TYPE "DeliveryReason" ADD VALUE IF NOT EXISTS 'RULE_DELETED';

ALTER TABLE "rule" ADD COLUMN "paused_at" TIMESTAMPTZ(3);

CREATE TABLE "rule_deletion" (
  "quiz_account_id" TEXT NOT NULL,
  "quiz_id" TEXT NOT NULL,
  "deleted_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
  CONSTRAINT "rule_deletion_pkey" PRIMARY KEY ("quiz_account_id", "quiz_id")
);
