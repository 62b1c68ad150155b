-- A rule's lead-name template, price question and tags by name (issue 17).
ALTER TABLE "rule" ADD COLUMN "lead_name_template" TEXT;
ALTER TABLE "rule" ADD COLUMN "price_question_id" TEXT;
ALTER TABLE "rule" ADD COLUMN "tag_names" JSONB NOT NULL DEFAULT '{}';
