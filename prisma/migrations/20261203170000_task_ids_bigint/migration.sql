-- The task's and the assigned user's amoCRM ids are 64-bit like every other amoCRM id (20261203152700_amo_ids_bigint).
ALTER TABLE "delivery" ALTER COLUMN "assigned_user_amo_id" TYPE BIGINT, ALTER COLUMN "amo_task_id" TYPE BIGINT;
