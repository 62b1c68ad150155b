-- CreateSchema
CREATE SCHEMA IF NOT EXISTS "public";

-- CreateEnum
CREATE TYPE "EntityType" AS ENUM ('LEAD', 'CONTACT', 'COMPANY', 'CUSTOMER');

-- CreateEnum
CREATE TYPE "SyncScope" AS ENUM ('USERS', 'PIPELINES', 'FIELDS', 'TAGS');

-- CreateEnum
CREATE TYPE "JobStatus" AS ENUM ('QUEUED', 'RUNNING', 'SUCCEEDED', 'FAILED');

-- CreateEnum
CREATE TYPE "DeliveryStatus" AS ENUM ('PENDING', 'DELIVERED', 'FAILED');

-- CreateEnum
CREATE TYPE "DeliveryStage" AS ENUM ('QUEUED', 'SENDING', 'LEAD_CREATED', 'DONE');

-- CreateEnum
CREATE TYPE "MappingSource" AS ENUM ('QUESTION', 'PROPERTY');

-- CreateTable
CREATE TABLE "amo_account" (
    "id" UUID NOT NULL DEFAULT gen_random_uuid(),
    "quiz_account_id" TEXT NOT NULL,
    "amo_id" INTEGER NOT NULL,
    "name" TEXT NOT NULL,
    "subdomain" TEXT NOT NULL,
    "host" TEXT NOT NULL,
    "country" TEXT,
    "currency" TEXT,
    "drive_url" TEXT,
    "stale" BOOLEAN NOT NULL DEFAULT false,
    "stale_at" TIMESTAMPTZ(3),
    "blocked_at" TIMESTAMPTZ(3),
    "webhook_secret" TEXT NOT NULL,
    "result_field_id" INTEGER,
    "last_sync_at" TIMESTAMPTZ(3),
    "deleted_at" TIMESTAMPTZ(3),
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updated_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "amo_account_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "amo_token" (
    "account_id" UUID NOT NULL,
    "access_token_enc" TEXT NOT NULL,
    "refresh_token_enc" TEXT NOT NULL,
    "access_expires_at" TIMESTAMPTZ(3) NOT NULL,
    "version" INTEGER NOT NULL DEFAULT 1,
    "refreshed_at" TIMESTAMPTZ(3),
    "last_refresh_error" TEXT,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updated_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "amo_token_pkey" PRIMARY KEY ("account_id")
);

-- CreateTable
CREATE TABLE "oauth_state" (
    "id" UUID NOT NULL DEFAULT gen_random_uuid(),
    "state_hash" TEXT NOT NULL,
    "quiz_account_id" TEXT NOT NULL,
    "expires_at" TIMESTAMPTZ(3) NOT NULL,
    "used_at" TIMESTAMPTZ(3),
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "oauth_state_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "amo_user" (
    "id" UUID NOT NULL DEFAULT gen_random_uuid(),
    "account_id" UUID NOT NULL,
    "amo_id" INTEGER NOT NULL,
    "name" TEXT NOT NULL,
    "email" TEXT,
    "role" INTEGER,
    "group" INTEGER,
    "is_admin" BOOLEAN NOT NULL DEFAULT false,
    "is_active" BOOLEAN NOT NULL DEFAULT true,
    "deleted_at" TIMESTAMPTZ(3),
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updated_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "amo_user_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "pipeline" (
    "id" UUID NOT NULL DEFAULT gen_random_uuid(),
    "account_id" UUID NOT NULL,
    "amo_id" INTEGER NOT NULL,
    "name" TEXT NOT NULL,
    "sort" INTEGER NOT NULL DEFAULT 0,
    "is_main" BOOLEAN NOT NULL DEFAULT false,
    "is_archive" BOOLEAN NOT NULL DEFAULT false,
    "is_unsorted_on" BOOLEAN NOT NULL DEFAULT false,
    "deleted_at" TIMESTAMPTZ(3),
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updated_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "pipeline_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "step" (
    "id" UUID NOT NULL DEFAULT gen_random_uuid(),
    "account_id" UUID NOT NULL,
    "pipeline_id" UUID NOT NULL,
    "amo_id" INTEGER NOT NULL,
    "name" TEXT NOT NULL,
    "color" TEXT,
    "sort" INTEGER NOT NULL DEFAULT 0,
    "type" INTEGER NOT NULL DEFAULT 0,
    "is_editable" BOOLEAN NOT NULL DEFAULT true,
    "deleted_at" TIMESTAMPTZ(3),
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updated_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "step_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "custom_field" (
    "id" UUID NOT NULL DEFAULT gen_random_uuid(),
    "account_id" UUID NOT NULL,
    "entity" "EntityType" NOT NULL,
    "amo_id" INTEGER NOT NULL,
    "name" TEXT NOT NULL,
    "code" TEXT,
    "raw_type" TEXT NOT NULL,
    "sort" INTEGER NOT NULL DEFAULT 0,
    "is_api_only" BOOLEAN NOT NULL DEFAULT false,
    "options" JSONB NOT NULL DEFAULT '[]',
    "deleted_at" TIMESTAMPTZ(3),
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updated_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "custom_field_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "tag" (
    "id" UUID NOT NULL DEFAULT gen_random_uuid(),
    "account_id" UUID NOT NULL,
    "entity" "EntityType" NOT NULL,
    "amo_id" INTEGER NOT NULL,
    "name" TEXT NOT NULL,
    "color" TEXT,
    "deleted_at" TIMESTAMPTZ(3),
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updated_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "tag_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "rule" (
    "id" UUID NOT NULL DEFAULT gen_random_uuid(),
    "account_id" UUID NOT NULL,
    "quiz_id" TEXT NOT NULL,
    "pipeline_id" UUID NOT NULL,
    "step_id" UUID NOT NULL,
    "performer_id" UUID,
    "to_unsorted" BOOLEAN NOT NULL DEFAULT false,
    "merge_duplicates" BOOLEAN NOT NULL DEFAULT false,
    "problems" TEXT[] DEFAULT ARRAY[]::TEXT[],
    "checked_at" TIMESTAMPTZ(3),
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updated_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "rule_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "rule_field_mapping" (
    "id" UUID NOT NULL DEFAULT gen_random_uuid(),
    "rule_id" UUID NOT NULL,
    "target" "EntityType" NOT NULL,
    "source" "MappingSource" NOT NULL,
    "key" TEXT NOT NULL,
    "field_id" UUID NOT NULL,
    "position" INTEGER NOT NULL DEFAULT 0,

    CONSTRAINT "rule_field_mapping_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "rule_tag" (
    "rule_id" UUID NOT NULL,
    "tag_id" UUID NOT NULL,
    "entity" "EntityType" NOT NULL,
    "position" INTEGER NOT NULL DEFAULT 0,

    CONSTRAINT "rule_tag_pkey" PRIMARY KEY ("rule_id","tag_id")
);

-- CreateTable
CREATE TABLE "utm" (
    "id" UUID NOT NULL DEFAULT gen_random_uuid(),
    "account_id" UUID NOT NULL,
    "quiz_id" TEXT NOT NULL,
    "name" TEXT NOT NULL,
    "field_id" UUID NOT NULL,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "utm_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "sync_job" (
    "id" UUID NOT NULL DEFAULT gen_random_uuid(),
    "account_id" UUID NOT NULL,
    "scopes" "SyncScope"[],
    "status" "JobStatus" NOT NULL DEFAULT 'QUEUED',
    "users" INTEGER NOT NULL DEFAULT 0,
    "pipelines" INTEGER NOT NULL DEFAULT 0,
    "steps" INTEGER NOT NULL DEFAULT 0,
    "fields" INTEGER NOT NULL DEFAULT 0,
    "tags" INTEGER NOT NULL DEFAULT 0,
    "error" TEXT,
    "attempts" INTEGER NOT NULL DEFAULT 0,
    "queued_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "started_at" TIMESTAMPTZ(3),
    "finished_at" TIMESTAMPTZ(3),

    CONSTRAINT "sync_job_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "delivery" (
    "id" UUID NOT NULL DEFAULT gen_random_uuid(),
    "quiz_account_id" TEXT NOT NULL,
    "account_id" UUID,
    "quiz_id" TEXT NOT NULL,
    "result_id" TEXT NOT NULL,
    "payload" JSONB NOT NULL,
    "status" "DeliveryStatus" NOT NULL DEFAULT 'PENDING',
    "stage" "DeliveryStage" NOT NULL DEFAULT 'QUEUED',
    "attempts" INTEGER NOT NULL DEFAULT 0,
    "next_attempt_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "locked_until" TIMESTAMPTZ(3),
    "amo_lead_id" INTEGER,
    "amo_contact_id" INTEGER,
    "amo_company_id" INTEGER,
    "last_error" TEXT,
    "warnings" TEXT[] DEFAULT ARRAY[]::TEXT[],
    "lead_pipeline_amo_id" INTEGER,
    "lead_status_amo_id" INTEGER,
    "lead_status_changed_at" TIMESTAMPTZ(3),
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updated_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "delivered_at" TIMESTAMPTZ(3),

    CONSTRAINT "delivery_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "webhook_event" (
    "id" UUID NOT NULL DEFAULT gen_random_uuid(),
    "account_id" UUID NOT NULL,
    "hash" TEXT NOT NULL,
    "type" TEXT NOT NULL,
    "payload" JSONB NOT NULL,
    "raw" TEXT NOT NULL,
    "received_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "processed_at" TIMESTAMPTZ(3),

    CONSTRAINT "webhook_event_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "amo_rate_limit" (
    "amo_id" INTEGER NOT NULL,
    "next_slot_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "amo_rate_limit_pkey" PRIMARY KEY ("amo_id")
);

-- CreateIndex
CREATE INDEX "amo_account_quiz_account_id_idx" ON "amo_account"("quiz_account_id");

-- CreateIndex
CREATE UNIQUE INDEX "oauth_state_state_hash_key" ON "oauth_state"("state_hash");

-- CreateIndex
CREATE UNIQUE INDEX "amo_user_account_id_amo_id_key" ON "amo_user"("account_id", "amo_id");

-- CreateIndex
CREATE INDEX "pipeline_account_id_sort_id_idx" ON "pipeline"("account_id", "sort", "id");

-- CreateIndex
CREATE UNIQUE INDEX "pipeline_account_id_amo_id_key" ON "pipeline"("account_id", "amo_id");

-- CreateIndex
CREATE INDEX "step_pipeline_id_sort_id_idx" ON "step"("pipeline_id", "sort", "id");

-- CreateIndex
CREATE UNIQUE INDEX "step_pipeline_id_amo_id_key" ON "step"("pipeline_id", "amo_id");

-- CreateIndex
CREATE INDEX "custom_field_account_id_entity_sort_id_idx" ON "custom_field"("account_id", "entity", "sort", "id");

-- CreateIndex
CREATE UNIQUE INDEX "custom_field_account_id_entity_amo_id_key" ON "custom_field"("account_id", "entity", "amo_id");

-- CreateIndex
CREATE INDEX "tag_account_id_entity_name_id_idx" ON "tag"("account_id", "entity", "name", "id");

-- CreateIndex
CREATE UNIQUE INDEX "tag_account_id_entity_amo_id_key" ON "tag"("account_id", "entity", "amo_id");

-- CreateIndex
CREATE UNIQUE INDEX "rule_account_id_quiz_id_key" ON "rule"("account_id", "quiz_id");

-- CreateIndex
CREATE UNIQUE INDEX "rule_field_mapping_rule_id_target_source_key_key" ON "rule_field_mapping"("rule_id", "target", "source", "key");

-- CreateIndex
CREATE UNIQUE INDEX "utm_account_id_quiz_id_name_key" ON "utm"("account_id", "quiz_id", "name");

-- CreateIndex
CREATE INDEX "sync_job_account_id_queued_at_idx" ON "sync_job"("account_id", "queued_at");

-- CreateIndex
CREATE INDEX "delivery_quiz_account_id_created_at_id_idx" ON "delivery"("quiz_account_id", "created_at" DESC, "id");

-- CreateIndex
CREATE INDEX "delivery_status_next_attempt_at_idx" ON "delivery"("status", "next_attempt_at");

-- CreateIndex
CREATE UNIQUE INDEX "delivery_quiz_account_id_result_id_key" ON "delivery"("quiz_account_id", "result_id");

-- CreateIndex
CREATE UNIQUE INDEX "webhook_event_account_id_hash_key" ON "webhook_event"("account_id", "hash");

-- AddForeignKey
ALTER TABLE "amo_token" ADD CONSTRAINT "amo_token_account_id_fkey" FOREIGN KEY ("account_id") REFERENCES "amo_account"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "amo_user" ADD CONSTRAINT "amo_user_account_id_fkey" FOREIGN KEY ("account_id") REFERENCES "amo_account"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "pipeline" ADD CONSTRAINT "pipeline_account_id_fkey" FOREIGN KEY ("account_id") REFERENCES "amo_account"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "step" ADD CONSTRAINT "step_account_id_fkey" FOREIGN KEY ("account_id") REFERENCES "amo_account"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "step" ADD CONSTRAINT "step_pipeline_id_fkey" FOREIGN KEY ("pipeline_id") REFERENCES "pipeline"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "custom_field" ADD CONSTRAINT "custom_field_account_id_fkey" FOREIGN KEY ("account_id") REFERENCES "amo_account"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "tag" ADD CONSTRAINT "tag_account_id_fkey" FOREIGN KEY ("account_id") REFERENCES "amo_account"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "rule" ADD CONSTRAINT "rule_account_id_fkey" FOREIGN KEY ("account_id") REFERENCES "amo_account"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "rule" ADD CONSTRAINT "rule_pipeline_id_fkey" FOREIGN KEY ("pipeline_id") REFERENCES "pipeline"("id") ON DELETE RESTRICT ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "rule" ADD CONSTRAINT "rule_step_id_fkey" FOREIGN KEY ("step_id") REFERENCES "step"("id") ON DELETE RESTRICT ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "rule" ADD CONSTRAINT "rule_performer_id_fkey" FOREIGN KEY ("performer_id") REFERENCES "amo_user"("id") ON DELETE SET NULL ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "rule_field_mapping" ADD CONSTRAINT "rule_field_mapping_rule_id_fkey" FOREIGN KEY ("rule_id") REFERENCES "rule"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "rule_field_mapping" ADD CONSTRAINT "rule_field_mapping_field_id_fkey" FOREIGN KEY ("field_id") REFERENCES "custom_field"("id") ON DELETE RESTRICT ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "rule_tag" ADD CONSTRAINT "rule_tag_rule_id_fkey" FOREIGN KEY ("rule_id") REFERENCES "rule"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "rule_tag" ADD CONSTRAINT "rule_tag_tag_id_fkey" FOREIGN KEY ("tag_id") REFERENCES "tag"("id") ON DELETE RESTRICT ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "utm" ADD CONSTRAINT "utm_account_id_fkey" FOREIGN KEY ("account_id") REFERENCES "amo_account"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "utm" ADD CONSTRAINT "utm_field_id_fkey" FOREIGN KEY ("field_id") REFERENCES "custom_field"("id") ON DELETE RESTRICT ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "sync_job" ADD CONSTRAINT "sync_job_account_id_fkey" FOREIGN KEY ("account_id") REFERENCES "amo_account"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "delivery" ADD CONSTRAINT "delivery_account_id_fkey" FOREIGN KEY ("account_id") REFERENCES "amo_account"("id") ON DELETE SET NULL ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "webhook_event" ADD CONSTRAINT "webhook_event_account_id_fkey" FOREIGN KEY ("account_id") REFERENCES "amo_account"("id") ON DELETE CASCADE ON UPDATE CASCADE;


-- Rules Prisma's schema language cannot express.
-- One live (not deleted) amoCRM account per quiz account.
CREATE UNIQUE INDEX "amo_account_one_live_per_quiz_account" ON "amo_account"("quiz_account_id") WHERE "deleted_at" IS NULL;
-- At most one queued or running sync job per account: a second syncAccount gets that one.
CREATE UNIQUE INDEX "sync_job_one_active_per_account" ON "sync_job"("account_id") WHERE "status" IN ('QUEUED', 'RUNNING');
-- Deliveries waiting for a worker, oldest due first.
CREATE INDEX "delivery_due" ON "delivery"("next_attempt_at") WHERE "status" = 'PENDING';
