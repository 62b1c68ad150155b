-- A version per amoCRM account's catalogue (users, pipelines, steps, custom fields, tags), moved
-- by every statement that writes one of those tables, in that statement's own transaction: the
-- GraphQL response cache keys catalogue answers by it (src/features/catalogue/response-cache.ts),
-- so whatever writes the catalogue (a sync, a disconnect, any future writer) invalidates them in
-- every replica at its commit. Statement-level triggers: one upsert per statement, not per row.
CREATE TABLE "catalogue_version" (
    "account_id" UUID NOT NULL,
    "version" BIGINT NOT NULL DEFAULT 1,
    CONSTRAINT "catalogue_version_pkey" PRIMARY KEY ("account_id")
);

CREATE FUNCTION bump_catalogue_version() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO catalogue_version AS v (account_id, version)
  SELECT DISTINCT account_id, 1 FROM changed_rows
  ON CONFLICT (account_id) DO UPDATE SET version = v.version + 1;
  RETURN NULL;
END $$;

DO $$
DECLARE t text;
BEGIN
  FOREACH t IN ARRAY ARRAY['amo_user', 'pipeline', 'step', 'custom_field', 'tag'] LOOP
    EXECUTE format('CREATE TRIGGER %I AFTER INSERT ON %I REFERENCING NEW TABLE AS changed_rows FOR EACH STATEMENT EXECUTE FUNCTION bump_catalogue_version()', t || '_catalogue_version_ins', t);
    EXECUTE format('CREATE TRIGGER %I AFTER UPDATE ON %I REFERENCING NEW TABLE AS changed_rows FOR EACH STATEMENT EXECUTE FUNCTION bump_catalogue_version()', t || '_catalogue_version_upd', t);
    EXECUTE format('CREATE TRIGGER %I AFTER DELETE ON %I REFERENCING OLD TABLE AS changed_rows FOR EACH STATEMENT EXECUTE FUNCTION bump_catalogue_version()', t || '_catalogue_version_del', t);
  END LOOP;
END $$;
