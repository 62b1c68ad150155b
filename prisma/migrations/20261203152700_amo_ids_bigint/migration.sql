-- amoCRM ids are 64-bit integers in its API (PHP ints): nothing keeps an account, user, pipeline,
-- status, field, tag, lead, contact, company or customer id under 2^31, so every column holding one
-- is BIGINT (a widening: every stored value stays as it is).
ALTER TABLE "amo_account"
  ALTER COLUMN "amo_id" SET DATA TYPE BIGINT,
  ALTER COLUMN "result_field_id" SET DATA TYPE BIGINT;

ALTER TABLE "amo_user"
  ALTER COLUMN "amo_id" SET DATA TYPE BIGINT,
  ALTER COLUMN "role" SET DATA TYPE BIGINT,
  ALTER COLUMN "group" SET DATA TYPE BIGINT;

ALTER TABLE "pipeline" ALTER COLUMN "amo_id" SET DATA TYPE BIGINT;

ALTER TABLE "step" ALTER COLUMN "amo_id" SET DATA TYPE BIGINT;

ALTER TABLE "custom_field" ALTER COLUMN "amo_id" SET DATA TYPE BIGINT;

ALTER TABLE "tag" ALTER COLUMN "amo_id" SET DATA TYPE BIGINT;

ALTER TABLE "delivery"
  ALTER COLUMN "amo_lead_id" SET DATA TYPE BIGINT,
  ALTER COLUMN "amo_contact_id" SET DATA TYPE BIGINT,
  ALTER COLUMN "amo_company_id" SET DATA TYPE BIGINT,
  ALTER COLUMN "amo_customer_id" SET DATA TYPE BIGINT,
  ALTER COLUMN "lead_pipeline_amo_id" SET DATA TYPE BIGINT,
  ALTER COLUMN "lead_status_amo_id" SET DATA TYPE BIGINT;

ALTER TABLE "amo_rate_limit" ALTER COLUMN "amo_id" SET DATA TYPE BIGINT;
