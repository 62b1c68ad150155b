-- Tasks for the responsible user and the choice of that user (issue 17): rule settings, the
-- round-robin counter, the account's time zone and each delivery's recorded assignment and task step.
CREATE TYPE "AssignmentMode" AS ENUM ('PERFORMER', 'ROUND_ROBIN', 'UNIFORM');

ALTER TABLE "rule"
  ADD COLUMN "assignment_mode" "AssignmentMode" NOT NULL DEFAULT 'PERFORMER',
  ADD COLUMN "assignee_ids" UUID[] NOT NULL DEFAULT ARRAY[]::UUID[],
  ADD COLUMN "assignment_counter" BIGINT NOT NULL DEFAULT 0,
  ADD COLUMN "task_enabled" BOOLEAN NOT NULL DEFAULT false,
  ADD COLUMN "task_text" TEXT,
  ADD COLUMN "task_type_id" INTEGER NOT NULL DEFAULT 1,
  ADD COLUMN "task_deadline_minutes" INTEGER NOT NULL DEFAULT 15,
  ADD COLUMN "task_work_days" INTEGER[] NOT NULL DEFAULT ARRAY[]::INTEGER[],
  ADD COLUMN "task_work_from" INTEGER NOT NULL DEFAULT 540,
  ADD COLUMN "task_work_to" INTEGER NOT NULL DEFAULT 1080,
  ADD COLUMN "task_timezone" TEXT;

ALTER TABLE "amo_account" ADD COLUMN "timezone" TEXT;

ALTER TABLE "delivery"
  ADD COLUMN "assigned_user_amo_id" INTEGER,
  ADD COLUMN "task_sent_at" TIMESTAMPTZ(3),
  ADD COLUMN "sent_task" JSONB,
  ADD COLUMN "amo_task_id" INTEGER;
