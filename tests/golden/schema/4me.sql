-- The PostgreSQL schema of a Treaty package, written by `treaty schema sql` (docs/scale.md).
-- A table per entity type, the change table the replicas follow (treaty_outbox) and its triggers.
BEGIN;

-- Enums: text domains that check their values.
CREATE DOMAIN "AccountKind" AS text CHECK (VALUE IN ('standard', 'directory', 'support_domain'));
CREATE DOMAIN "CiField" AS text CHECK (VALUE IN ('general', 'financial'));
CREATE DOMAIN "Module" AS text CHECK (VALUE IN ('change_management', 'project_management'));
CREATE DOMAIN "Plan" AS text CHECK (VALUE IN ('essential', 'premium', 'enterprise'));
CREATE DOMAIN "Role" AS text CHECK (VALUE IN ('account_administrator', 'directory_administrator', 'service_desk_analyst', 'specialist', 'key_contact', 'change_manager', 'project_manager'));
CREATE DOMAIN "TaskKind" AS text CHECK (VALUE IN ('approval', 'risk_and_impact', 'implementation', 'project'));
CREATE DOMAIN "TrustOption" AS text CHECK (VALUE IN ('change_tasks_to_key_contacts_and_specialists', 'approval_tasks_to_anyone', 'project_tasks_to_key_contacts_and_specialists', 'register_requests_for_specialists'));

-- Entity types: one table each; sets of entities in link tables "Type.attr".
CREATE TABLE "Account" (
  "id" text PRIMARY KEY,
  "kind" "AccountKind" NOT NULL,
  "plan" "Plan" NOT NULL,
  "modules" "Module"[] NOT NULL DEFAULT '{}',
  "directory" text
);
CREATE TABLE "Change" (
  "id" text PRIMARY KEY,
  "account" text NOT NULL
);
CREATE TABLE "Ci" (
  "id" text PRIMARY KEY,
  "owner" text NOT NULL,
  "support_team" text
);
CREATE TABLE "Person" (
  "id" text PRIMARY KEY,
  "account" text NOT NULL,
  "roles" "Role"[] NOT NULL DEFAULT '{}'
);
CREATE TABLE "Person.teams" (
  "owner" text NOT NULL REFERENCES "Person" ("id") ON DELETE CASCADE ON UPDATE CASCADE DEFERRABLE INITIALLY DEFERRED,
  "value" text NOT NULL,
  PRIMARY KEY ("owner", "value")
);
CREATE TABLE "Project" (
  "id" text PRIMARY KEY,
  "account" text NOT NULL
);
CREATE TABLE "Request" (
  "id" text PRIMARY KEY,
  "account" text NOT NULL,
  "requested_for" text NOT NULL,
  "service" text
);
CREATE TABLE "RoleAssignment" (
  "id" text PRIMARY KEY,
  "person" text NOT NULL,
  "role" "Role" NOT NULL,
  "account" text NOT NULL
);
CREATE TABLE "Service" (
  "id" text PRIMARY KEY,
  "provider" text NOT NULL
);
CREATE TABLE "Sla" (
  "id" text PRIMARY KEY,
  "provider" text NOT NULL,
  "customer" text NOT NULL,
  "service" text NOT NULL,
  "accepted" boolean NOT NULL,
  "active" boolean NOT NULL
);
CREATE TABLE "Sla.representatives" (
  "owner" text NOT NULL REFERENCES "Sla" ("id") ON DELETE CASCADE ON UPDATE CASCADE DEFERRABLE INITIALLY DEFERRED,
  "value" text NOT NULL,
  PRIMARY KEY ("owner", "value")
);
CREATE TABLE "Task" (
  "id" text PRIMARY KEY,
  "account" text NOT NULL,
  "kind" "TaskKind" NOT NULL,
  "assignee" text,
  "change" text,
  "project" text
);
CREATE TABLE "Team" (
  "id" text PRIMARY KEY,
  "account" text NOT NULL
);
CREATE TABLE "Trust" (
  "id" text PRIMARY KEY,
  "grantor" text NOT NULL,
  "grantee" text NOT NULL,
  "accepted" boolean NOT NULL,
  "options" "TrustOption"[] NOT NULL DEFAULT '{}',
  "shared_roles" "Role"[] NOT NULL DEFAULT '{}',
  UNIQUE ("grantor", "grantee")
);

-- References: foreign keys, checked at commit.
ALTER TABLE "Account" ADD FOREIGN KEY ("directory") REFERENCES "Account" ("id") ON UPDATE CASCADE DEFERRABLE INITIALLY DEFERRED;
CREATE INDEX ON "Account" ("directory");
ALTER TABLE "Change" ADD FOREIGN KEY ("account") REFERENCES "Account" ("id") ON UPDATE CASCADE DEFERRABLE INITIALLY DEFERRED;
CREATE INDEX ON "Change" ("account");
ALTER TABLE "Ci" ADD FOREIGN KEY ("owner") REFERENCES "Account" ("id") ON UPDATE CASCADE DEFERRABLE INITIALLY DEFERRED;
CREATE INDEX ON "Ci" ("owner");
ALTER TABLE "Ci" ADD FOREIGN KEY ("support_team") REFERENCES "Team" ("id") ON UPDATE CASCADE DEFERRABLE INITIALLY DEFERRED;
CREATE INDEX ON "Ci" ("support_team");
ALTER TABLE "Person" ADD FOREIGN KEY ("account") REFERENCES "Account" ("id") ON UPDATE CASCADE DEFERRABLE INITIALLY DEFERRED;
CREATE INDEX ON "Person" ("account");
ALTER TABLE "Person.teams" ADD FOREIGN KEY ("value") REFERENCES "Team" ("id") ON UPDATE CASCADE DEFERRABLE INITIALLY DEFERRED;
CREATE INDEX ON "Person.teams" ("value");
ALTER TABLE "Project" ADD FOREIGN KEY ("account") REFERENCES "Account" ("id") ON UPDATE CASCADE DEFERRABLE INITIALLY DEFERRED;
CREATE INDEX ON "Project" ("account");
ALTER TABLE "Request" ADD FOREIGN KEY ("account") REFERENCES "Account" ("id") ON UPDATE CASCADE DEFERRABLE INITIALLY DEFERRED;
CREATE INDEX ON "Request" ("account");
ALTER TABLE "Request" ADD FOREIGN KEY ("requested_for") REFERENCES "Person" ("id") ON UPDATE CASCADE DEFERRABLE INITIALLY DEFERRED;
CREATE INDEX ON "Request" ("requested_for");
ALTER TABLE "Request" ADD FOREIGN KEY ("service") REFERENCES "Service" ("id") ON UPDATE CASCADE DEFERRABLE INITIALLY DEFERRED;
CREATE INDEX ON "Request" ("service");
ALTER TABLE "RoleAssignment" ADD FOREIGN KEY ("person") REFERENCES "Person" ("id") ON UPDATE CASCADE DEFERRABLE INITIALLY DEFERRED;
CREATE INDEX ON "RoleAssignment" ("person");
ALTER TABLE "RoleAssignment" ADD FOREIGN KEY ("account") REFERENCES "Account" ("id") ON UPDATE CASCADE DEFERRABLE INITIALLY DEFERRED;
CREATE INDEX ON "RoleAssignment" ("account");
ALTER TABLE "Service" ADD FOREIGN KEY ("provider") REFERENCES "Account" ("id") ON UPDATE CASCADE DEFERRABLE INITIALLY DEFERRED;
CREATE INDEX ON "Service" ("provider");
ALTER TABLE "Sla" ADD FOREIGN KEY ("provider") REFERENCES "Account" ("id") ON UPDATE CASCADE DEFERRABLE INITIALLY DEFERRED;
CREATE INDEX ON "Sla" ("provider");
ALTER TABLE "Sla" ADD FOREIGN KEY ("customer") REFERENCES "Account" ("id") ON UPDATE CASCADE DEFERRABLE INITIALLY DEFERRED;
CREATE INDEX ON "Sla" ("customer");
ALTER TABLE "Sla" ADD FOREIGN KEY ("service") REFERENCES "Service" ("id") ON UPDATE CASCADE DEFERRABLE INITIALLY DEFERRED;
CREATE INDEX ON "Sla" ("service");
ALTER TABLE "Sla.representatives" ADD FOREIGN KEY ("value") REFERENCES "Person" ("id") ON UPDATE CASCADE DEFERRABLE INITIALLY DEFERRED;
CREATE INDEX ON "Sla.representatives" ("value");
ALTER TABLE "Task" ADD FOREIGN KEY ("account") REFERENCES "Account" ("id") ON UPDATE CASCADE DEFERRABLE INITIALLY DEFERRED;
CREATE INDEX ON "Task" ("account");
ALTER TABLE "Task" ADD FOREIGN KEY ("assignee") REFERENCES "Person" ("id") ON UPDATE CASCADE DEFERRABLE INITIALLY DEFERRED;
CREATE INDEX ON "Task" ("assignee");
ALTER TABLE "Task" ADD FOREIGN KEY ("change") REFERENCES "Change" ("id") ON UPDATE CASCADE DEFERRABLE INITIALLY DEFERRED;
CREATE INDEX ON "Task" ("change");
ALTER TABLE "Task" ADD FOREIGN KEY ("project") REFERENCES "Project" ("id") ON UPDATE CASCADE DEFERRABLE INITIALLY DEFERRED;
CREATE INDEX ON "Task" ("project");
ALTER TABLE "Team" ADD FOREIGN KEY ("account") REFERENCES "Account" ("id") ON UPDATE CASCADE DEFERRABLE INITIALLY DEFERRED;
CREATE INDEX ON "Team" ("account");
ALTER TABLE "Trust" ADD FOREIGN KEY ("grantor") REFERENCES "Account" ("id") ON UPDATE CASCADE DEFERRABLE INITIALLY DEFERRED;
CREATE INDEX ON "Trust" ("grantor");
ALTER TABLE "Trust" ADD FOREIGN KEY ("grantee") REFERENCES "Account" ("id") ON UPDATE CASCADE DEFERRABLE INITIALLY DEFERRED;
CREATE INDEX ON "Trust" ("grantee");

-- The change table: one row per entity a statement changed, with its whole image (NULL: deleted)
-- and the id of the transaction that wrote it. A replica reads the rows of the transactions below
-- its snapshot's xmin (all of them finished), transaction by transaction, in the order of their
-- last row; rows below every replica's position may be deleted (treaty_outbox_trim).
CREATE TABLE treaty_outbox (
  "id" bigserial PRIMARY KEY,
  "xid" xid8 NOT NULL DEFAULT pg_current_xact_id(),
  "type" text NOT NULL,
  "entity" text NOT NULL,
  "image" jsonb
);
CREATE INDEX ON treaty_outbox ("xid");

-- The position a writer gives a replica as X-Treaty-Min-Revision, called in its own transaction
-- (before COMMIT): a replica at this position or beyond has applied that transaction.
CREATE FUNCTION treaty_position() RETURNS bigint LANGUAGE sql VOLATILE AS
$$ SELECT pg_current_xact_id()::text::bigint + 1 $$;

-- Drops the change rows of the transactions below `upto` (every replica's /v1/status
-- facts.revision is at least it, and a replica that starts loads the tables, not the rows).
CREATE FUNCTION treaty_outbox_trim(upto bigint) RETURNS bigint LANGUAGE sql AS
$$ WITH d AS (DELETE FROM treaty_outbox WHERE "xid" < upto::text::xid8 RETURNING 1) SELECT count(*) FROM d $$;

-- Replicas LISTEN on treaty_changes: woken at the commit of a transaction that changed facts.
CREATE FUNCTION treaty_notify() RETURNS trigger LANGUAGE plpgsql AS
$$ BEGIN PERFORM pg_notify('treaty_changes', ''); RETURN NULL; END $$;
CREATE TRIGGER treaty_notify AFTER INSERT ON treaty_outbox FOR EACH STATEMENT EXECUTE FUNCTION treaty_notify();

-- TRUNCATE fires no row trigger: refused, so no change escapes the replicas.
CREATE FUNCTION treaty_no_truncate() RETURNS trigger LANGUAGE plpgsql AS
$$ BEGIN RAISE EXCEPTION 'TRUNCATE of a Treaty table is not followed by the replicas: DELETE instead'; END $$;

-- Per entity type: its image (the facts JSON format), and the triggers that record it.
CREATE FUNCTION "treaty_image_Account"(r "Account") RETURNS jsonb LANGUAGE sql STABLE AS
$$ SELECT jsonb_build_object('type', 'Account', 'id', r."id", 'attrs', jsonb_build_object('kind', r."kind", 'plan', r."plan", 'modules', r."modules", 'directory', r."directory")) $$;
CREATE VIEW "treaty_images_Account" AS SELECT jsonb_build_object('type', 'Account', 'id', r."id", 'attrs', jsonb_build_object('kind', r."kind", 'plan', r."plan", 'modules', r."modules", 'directory', r."directory")) AS image FROM "Account" r;
CREATE FUNCTION "treaty_touch_Account"(key text) RETURNS void LANGUAGE sql AS
$$ INSERT INTO treaty_outbox ("type", "entity", "image") SELECT 'Account', r."id", "treaty_image_Account"(r) FROM "Account" r WHERE r."id" = key $$;
CREATE FUNCTION "treaty_track_Account"() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF current_setting('treaty.loading', true) = 'on' AND (SELECT rolsuper FROM pg_roles WHERE rolname = current_user) THEN
    RETURN NULL;  -- treaty_load(..., record => false)
  END IF;
  IF TG_OP = 'DELETE' THEN
    INSERT INTO treaty_outbox ("type", "entity", "image") VALUES ('Account', OLD."id", NULL);
  ELSIF TG_OP = 'UPDATE' THEN
    IF OLD."id" <> NEW."id" THEN
      INSERT INTO treaty_outbox ("type", "entity", "image") VALUES ('Account', OLD."id", NULL);
    END IF;
    PERFORM "treaty_touch_Account"(NEW."id");
  ELSE
    PERFORM "treaty_touch_Account"(NEW."id");
  END IF;
  RETURN NULL;
END $$;
CREATE TRIGGER treaty_track AFTER INSERT OR UPDATE OR DELETE ON "Account" FOR EACH ROW EXECUTE FUNCTION "treaty_track_Account"();
CREATE TRIGGER treaty_no_truncate BEFORE TRUNCATE ON "Account" FOR EACH STATEMENT EXECUTE FUNCTION treaty_no_truncate();
CREATE FUNCTION "treaty_image_Change"(r "Change") RETURNS jsonb LANGUAGE sql STABLE AS
$$ SELECT jsonb_build_object('type', 'Change', 'id', r."id", 'attrs', jsonb_build_object('account', r."account")) $$;
CREATE VIEW "treaty_images_Change" AS SELECT jsonb_build_object('type', 'Change', 'id', r."id", 'attrs', jsonb_build_object('account', r."account")) AS image FROM "Change" r;
CREATE FUNCTION "treaty_touch_Change"(key text) RETURNS void LANGUAGE sql AS
$$ INSERT INTO treaty_outbox ("type", "entity", "image") SELECT 'Change', r."id", "treaty_image_Change"(r) FROM "Change" r WHERE r."id" = key $$;
CREATE FUNCTION "treaty_track_Change"() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF current_setting('treaty.loading', true) = 'on' AND (SELECT rolsuper FROM pg_roles WHERE rolname = current_user) THEN
    RETURN NULL;  -- treaty_load(..., record => false)
  END IF;
  IF TG_OP = 'DELETE' THEN
    INSERT INTO treaty_outbox ("type", "entity", "image") VALUES ('Change', OLD."id", NULL);
  ELSIF TG_OP = 'UPDATE' THEN
    IF OLD."id" <> NEW."id" THEN
      INSERT INTO treaty_outbox ("type", "entity", "image") VALUES ('Change', OLD."id", NULL);
    END IF;
    PERFORM "treaty_touch_Change"(NEW."id");
  ELSE
    PERFORM "treaty_touch_Change"(NEW."id");
  END IF;
  RETURN NULL;
END $$;
CREATE TRIGGER treaty_track AFTER INSERT OR UPDATE OR DELETE ON "Change" FOR EACH ROW EXECUTE FUNCTION "treaty_track_Change"();
CREATE TRIGGER treaty_no_truncate BEFORE TRUNCATE ON "Change" FOR EACH STATEMENT EXECUTE FUNCTION treaty_no_truncate();
CREATE FUNCTION "treaty_image_Ci"(r "Ci") RETURNS jsonb LANGUAGE sql STABLE AS
$$ SELECT jsonb_build_object('type', 'Ci', 'id', r."id", 'attrs', jsonb_build_object('owner', r."owner", 'support_team', r."support_team")) $$;
CREATE VIEW "treaty_images_Ci" AS SELECT jsonb_build_object('type', 'Ci', 'id', r."id", 'attrs', jsonb_build_object('owner', r."owner", 'support_team', r."support_team")) AS image FROM "Ci" r;
CREATE FUNCTION "treaty_touch_Ci"(key text) RETURNS void LANGUAGE sql AS
$$ INSERT INTO treaty_outbox ("type", "entity", "image") SELECT 'Ci', r."id", "treaty_image_Ci"(r) FROM "Ci" r WHERE r."id" = key $$;
CREATE FUNCTION "treaty_track_Ci"() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF current_setting('treaty.loading', true) = 'on' AND (SELECT rolsuper FROM pg_roles WHERE rolname = current_user) THEN
    RETURN NULL;  -- treaty_load(..., record => false)
  END IF;
  IF TG_OP = 'DELETE' THEN
    INSERT INTO treaty_outbox ("type", "entity", "image") VALUES ('Ci', OLD."id", NULL);
  ELSIF TG_OP = 'UPDATE' THEN
    IF OLD."id" <> NEW."id" THEN
      INSERT INTO treaty_outbox ("type", "entity", "image") VALUES ('Ci', OLD."id", NULL);
    END IF;
    PERFORM "treaty_touch_Ci"(NEW."id");
  ELSE
    PERFORM "treaty_touch_Ci"(NEW."id");
  END IF;
  RETURN NULL;
END $$;
CREATE TRIGGER treaty_track AFTER INSERT OR UPDATE OR DELETE ON "Ci" FOR EACH ROW EXECUTE FUNCTION "treaty_track_Ci"();
CREATE TRIGGER treaty_no_truncate BEFORE TRUNCATE ON "Ci" FOR EACH STATEMENT EXECUTE FUNCTION treaty_no_truncate();
CREATE FUNCTION "treaty_image_Person"(r "Person") RETURNS jsonb LANGUAGE sql STABLE AS
$$ SELECT jsonb_build_object('type', 'Person', 'id', r."id", 'attrs', jsonb_build_object('account', r."account", 'roles', r."roles", 'teams', (SELECT coalesce(jsonb_agg(l."value" ORDER BY l."value"), '[]'::jsonb) FROM "Person.teams" l WHERE l."owner" = r."id"))) $$;
CREATE VIEW "treaty_images_Person" AS SELECT jsonb_build_object('type', 'Person', 'id', r."id", 'attrs', jsonb_build_object('account', r."account", 'roles', r."roles", 'teams', coalesce(l2.v, '[]'::jsonb))) AS image FROM "Person" r LEFT JOIN (SELECT "owner", jsonb_agg("value" ORDER BY "value") AS v FROM "Person.teams" GROUP BY "owner") l2 ON l2."owner" = r."id";
CREATE FUNCTION "treaty_touch_Person"(key text) RETURNS void LANGUAGE sql AS
$$ INSERT INTO treaty_outbox ("type", "entity", "image") SELECT 'Person', r."id", "treaty_image_Person"(r) FROM "Person" r WHERE r."id" = key $$;
CREATE FUNCTION "treaty_track_Person"() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF current_setting('treaty.loading', true) = 'on' AND (SELECT rolsuper FROM pg_roles WHERE rolname = current_user) THEN
    RETURN NULL;  -- treaty_load(..., record => false)
  END IF;
  IF TG_OP = 'DELETE' THEN
    INSERT INTO treaty_outbox ("type", "entity", "image") VALUES ('Person', OLD."id", NULL);
  ELSIF TG_OP = 'UPDATE' THEN
    IF OLD."id" <> NEW."id" THEN
      INSERT INTO treaty_outbox ("type", "entity", "image") VALUES ('Person', OLD."id", NULL);
    END IF;
    PERFORM "treaty_touch_Person"(NEW."id");
  ELSE
    PERFORM "treaty_touch_Person"(NEW."id");
  END IF;
  RETURN NULL;
END $$;
CREATE TRIGGER treaty_track AFTER INSERT OR UPDATE OR DELETE ON "Person" FOR EACH ROW EXECUTE FUNCTION "treaty_track_Person"();
CREATE TRIGGER treaty_no_truncate BEFORE TRUNCATE ON "Person" FOR EACH STATEMENT EXECUTE FUNCTION treaty_no_truncate();
CREATE FUNCTION "treaty_track_Person.teams"() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF current_setting('treaty.loading', true) = 'on' AND (SELECT rolsuper FROM pg_roles WHERE rolname = current_user) THEN
    RETURN NULL;  -- treaty_load(..., record => false)
  END IF;
  IF TG_OP <> 'INSERT' THEN PERFORM "treaty_touch_Person"(OLD."owner"); END IF;
  IF TG_OP <> 'DELETE' AND (TG_OP = 'INSERT' OR OLD."owner" <> NEW."owner") THEN PERFORM "treaty_touch_Person"(NEW."owner"); END IF;
  RETURN NULL;
END $$;
CREATE TRIGGER treaty_track AFTER INSERT OR UPDATE OR DELETE ON "Person.teams" FOR EACH ROW EXECUTE FUNCTION "treaty_track_Person.teams"();
CREATE TRIGGER treaty_no_truncate BEFORE TRUNCATE ON "Person.teams" FOR EACH STATEMENT EXECUTE FUNCTION treaty_no_truncate();
CREATE FUNCTION "treaty_image_Project"(r "Project") RETURNS jsonb LANGUAGE sql STABLE AS
$$ SELECT jsonb_build_object('type', 'Project', 'id', r."id", 'attrs', jsonb_build_object('account', r."account")) $$;
CREATE VIEW "treaty_images_Project" AS SELECT jsonb_build_object('type', 'Project', 'id', r."id", 'attrs', jsonb_build_object('account', r."account")) AS image FROM "Project" r;
CREATE FUNCTION "treaty_touch_Project"(key text) RETURNS void LANGUAGE sql AS
$$ INSERT INTO treaty_outbox ("type", "entity", "image") SELECT 'Project', r."id", "treaty_image_Project"(r) FROM "Project" r WHERE r."id" = key $$;
CREATE FUNCTION "treaty_track_Project"() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF current_setting('treaty.loading', true) = 'on' AND (SELECT rolsuper FROM pg_roles WHERE rolname = current_user) THEN
    RETURN NULL;  -- treaty_load(..., record => false)
  END IF;
  IF TG_OP = 'DELETE' THEN
    INSERT INTO treaty_outbox ("type", "entity", "image") VALUES ('Project', OLD."id", NULL);
  ELSIF TG_OP = 'UPDATE' THEN
    IF OLD."id" <> NEW."id" THEN
      INSERT INTO treaty_outbox ("type", "entity", "image") VALUES ('Project', OLD."id", NULL);
    END IF;
    PERFORM "treaty_touch_Project"(NEW."id");
  ELSE
    PERFORM "treaty_touch_Project"(NEW."id");
  END IF;
  RETURN NULL;
END $$;
CREATE TRIGGER treaty_track AFTER INSERT OR UPDATE OR DELETE ON "Project" FOR EACH ROW EXECUTE FUNCTION "treaty_track_Project"();
CREATE TRIGGER treaty_no_truncate BEFORE TRUNCATE ON "Project" FOR EACH STATEMENT EXECUTE FUNCTION treaty_no_truncate();
CREATE FUNCTION "treaty_image_Request"(r "Request") RETURNS jsonb LANGUAGE sql STABLE AS
$$ SELECT jsonb_build_object('type', 'Request', 'id', r."id", 'attrs', jsonb_build_object('account', r."account", 'requested_for', r."requested_for", 'service', r."service")) $$;
CREATE VIEW "treaty_images_Request" AS SELECT jsonb_build_object('type', 'Request', 'id', r."id", 'attrs', jsonb_build_object('account', r."account", 'requested_for', r."requested_for", 'service', r."service")) AS image FROM "Request" r;
CREATE FUNCTION "treaty_touch_Request"(key text) RETURNS void LANGUAGE sql AS
$$ INSERT INTO treaty_outbox ("type", "entity", "image") SELECT 'Request', r."id", "treaty_image_Request"(r) FROM "Request" r WHERE r."id" = key $$;
CREATE FUNCTION "treaty_track_Request"() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF current_setting('treaty.loading', true) = 'on' AND (SELECT rolsuper FROM pg_roles WHERE rolname = current_user) THEN
    RETURN NULL;  -- treaty_load(..., record => false)
  END IF;
  IF TG_OP = 'DELETE' THEN
    INSERT INTO treaty_outbox ("type", "entity", "image") VALUES ('Request', OLD."id", NULL);
  ELSIF TG_OP = 'UPDATE' THEN
    IF OLD."id" <> NEW."id" THEN
      INSERT INTO treaty_outbox ("type", "entity", "image") VALUES ('Request', OLD."id", NULL);
    END IF;
    PERFORM "treaty_touch_Request"(NEW."id");
  ELSE
    PERFORM "treaty_touch_Request"(NEW."id");
  END IF;
  RETURN NULL;
END $$;
CREATE TRIGGER treaty_track AFTER INSERT OR UPDATE OR DELETE ON "Request" FOR EACH ROW EXECUTE FUNCTION "treaty_track_Request"();
CREATE TRIGGER treaty_no_truncate BEFORE TRUNCATE ON "Request" FOR EACH STATEMENT EXECUTE FUNCTION treaty_no_truncate();
CREATE FUNCTION "treaty_image_RoleAssignment"(r "RoleAssignment") RETURNS jsonb LANGUAGE sql STABLE AS
$$ SELECT jsonb_build_object('type', 'RoleAssignment', 'id', r."id", 'attrs', jsonb_build_object('person', r."person", 'role', r."role", 'account', r."account")) $$;
CREATE VIEW "treaty_images_RoleAssignment" AS SELECT jsonb_build_object('type', 'RoleAssignment', 'id', r."id", 'attrs', jsonb_build_object('person', r."person", 'role', r."role", 'account', r."account")) AS image FROM "RoleAssignment" r;
CREATE FUNCTION "treaty_touch_RoleAssignment"(key text) RETURNS void LANGUAGE sql AS
$$ INSERT INTO treaty_outbox ("type", "entity", "image") SELECT 'RoleAssignment', r."id", "treaty_image_RoleAssignment"(r) FROM "RoleAssignment" r WHERE r."id" = key $$;
CREATE FUNCTION "treaty_track_RoleAssignment"() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF current_setting('treaty.loading', true) = 'on' AND (SELECT rolsuper FROM pg_roles WHERE rolname = current_user) THEN
    RETURN NULL;  -- treaty_load(..., record => false)
  END IF;
  IF TG_OP = 'DELETE' THEN
    INSERT INTO treaty_outbox ("type", "entity", "image") VALUES ('RoleAssignment', OLD."id", NULL);
  ELSIF TG_OP = 'UPDATE' THEN
    IF OLD."id" <> NEW."id" THEN
      INSERT INTO treaty_outbox ("type", "entity", "image") VALUES ('RoleAssignment', OLD."id", NULL);
    END IF;
    PERFORM "treaty_touch_RoleAssignment"(NEW."id");
  ELSE
    PERFORM "treaty_touch_RoleAssignment"(NEW."id");
  END IF;
  RETURN NULL;
END $$;
CREATE TRIGGER treaty_track AFTER INSERT OR UPDATE OR DELETE ON "RoleAssignment" FOR EACH ROW EXECUTE FUNCTION "treaty_track_RoleAssignment"();
CREATE TRIGGER treaty_no_truncate BEFORE TRUNCATE ON "RoleAssignment" FOR EACH STATEMENT EXECUTE FUNCTION treaty_no_truncate();
CREATE FUNCTION "treaty_image_Service"(r "Service") RETURNS jsonb LANGUAGE sql STABLE AS
$$ SELECT jsonb_build_object('type', 'Service', 'id', r."id", 'attrs', jsonb_build_object('provider', r."provider")) $$;
CREATE VIEW "treaty_images_Service" AS SELECT jsonb_build_object('type', 'Service', 'id', r."id", 'attrs', jsonb_build_object('provider', r."provider")) AS image FROM "Service" r;
CREATE FUNCTION "treaty_touch_Service"(key text) RETURNS void LANGUAGE sql AS
$$ INSERT INTO treaty_outbox ("type", "entity", "image") SELECT 'Service', r."id", "treaty_image_Service"(r) FROM "Service" r WHERE r."id" = key $$;
CREATE FUNCTION "treaty_track_Service"() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF current_setting('treaty.loading', true) = 'on' AND (SELECT rolsuper FROM pg_roles WHERE rolname = current_user) THEN
    RETURN NULL;  -- treaty_load(..., record => false)
  END IF;
  IF TG_OP = 'DELETE' THEN
    INSERT INTO treaty_outbox ("type", "entity", "image") VALUES ('Service', OLD."id", NULL);
  ELSIF TG_OP = 'UPDATE' THEN
    IF OLD."id" <> NEW."id" THEN
      INSERT INTO treaty_outbox ("type", "entity", "image") VALUES ('Service', OLD."id", NULL);
    END IF;
    PERFORM "treaty_touch_Service"(NEW."id");
  ELSE
    PERFORM "treaty_touch_Service"(NEW."id");
  END IF;
  RETURN NULL;
END $$;
CREATE TRIGGER treaty_track AFTER INSERT OR UPDATE OR DELETE ON "Service" FOR EACH ROW EXECUTE FUNCTION "treaty_track_Service"();
CREATE TRIGGER treaty_no_truncate BEFORE TRUNCATE ON "Service" FOR EACH STATEMENT EXECUTE FUNCTION treaty_no_truncate();
CREATE FUNCTION "treaty_image_Sla"(r "Sla") RETURNS jsonb LANGUAGE sql STABLE AS
$$ SELECT jsonb_build_object('type', 'Sla', 'id', r."id", 'attrs', jsonb_build_object('provider', r."provider", 'customer', r."customer", 'service', r."service", 'accepted', r."accepted", 'active', r."active", 'representatives', (SELECT coalesce(jsonb_agg(l."value" ORDER BY l."value"), '[]'::jsonb) FROM "Sla.representatives" l WHERE l."owner" = r."id"))) $$;
CREATE VIEW "treaty_images_Sla" AS SELECT jsonb_build_object('type', 'Sla', 'id', r."id", 'attrs', jsonb_build_object('provider', r."provider", 'customer', r."customer", 'service', r."service", 'accepted', r."accepted", 'active', r."active", 'representatives', coalesce(l5.v, '[]'::jsonb))) AS image FROM "Sla" r LEFT JOIN (SELECT "owner", jsonb_agg("value" ORDER BY "value") AS v FROM "Sla.representatives" GROUP BY "owner") l5 ON l5."owner" = r."id";
CREATE FUNCTION "treaty_touch_Sla"(key text) RETURNS void LANGUAGE sql AS
$$ INSERT INTO treaty_outbox ("type", "entity", "image") SELECT 'Sla', r."id", "treaty_image_Sla"(r) FROM "Sla" r WHERE r."id" = key $$;
CREATE FUNCTION "treaty_track_Sla"() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF current_setting('treaty.loading', true) = 'on' AND (SELECT rolsuper FROM pg_roles WHERE rolname = current_user) THEN
    RETURN NULL;  -- treaty_load(..., record => false)
  END IF;
  IF TG_OP = 'DELETE' THEN
    INSERT INTO treaty_outbox ("type", "entity", "image") VALUES ('Sla', OLD."id", NULL);
  ELSIF TG_OP = 'UPDATE' THEN
    IF OLD."id" <> NEW."id" THEN
      INSERT INTO treaty_outbox ("type", "entity", "image") VALUES ('Sla', OLD."id", NULL);
    END IF;
    PERFORM "treaty_touch_Sla"(NEW."id");
  ELSE
    PERFORM "treaty_touch_Sla"(NEW."id");
  END IF;
  RETURN NULL;
END $$;
CREATE TRIGGER treaty_track AFTER INSERT OR UPDATE OR DELETE ON "Sla" FOR EACH ROW EXECUTE FUNCTION "treaty_track_Sla"();
CREATE TRIGGER treaty_no_truncate BEFORE TRUNCATE ON "Sla" FOR EACH STATEMENT EXECUTE FUNCTION treaty_no_truncate();
CREATE FUNCTION "treaty_track_Sla.representatives"() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF current_setting('treaty.loading', true) = 'on' AND (SELECT rolsuper FROM pg_roles WHERE rolname = current_user) THEN
    RETURN NULL;  -- treaty_load(..., record => false)
  END IF;
  IF TG_OP <> 'INSERT' THEN PERFORM "treaty_touch_Sla"(OLD."owner"); END IF;
  IF TG_OP <> 'DELETE' AND (TG_OP = 'INSERT' OR OLD."owner" <> NEW."owner") THEN PERFORM "treaty_touch_Sla"(NEW."owner"); END IF;
  RETURN NULL;
END $$;
CREATE TRIGGER treaty_track AFTER INSERT OR UPDATE OR DELETE ON "Sla.representatives" FOR EACH ROW EXECUTE FUNCTION "treaty_track_Sla.representatives"();
CREATE TRIGGER treaty_no_truncate BEFORE TRUNCATE ON "Sla.representatives" FOR EACH STATEMENT EXECUTE FUNCTION treaty_no_truncate();
CREATE FUNCTION "treaty_image_Task"(r "Task") RETURNS jsonb LANGUAGE sql STABLE AS
$$ SELECT jsonb_build_object('type', 'Task', 'id', r."id", 'attrs', jsonb_build_object('account', r."account", 'kind', r."kind", 'assignee', r."assignee", 'change', r."change", 'project', r."project")) $$;
CREATE VIEW "treaty_images_Task" AS SELECT jsonb_build_object('type', 'Task', 'id', r."id", 'attrs', jsonb_build_object('account', r."account", 'kind', r."kind", 'assignee', r."assignee", 'change', r."change", 'project', r."project")) AS image FROM "Task" r;
CREATE FUNCTION "treaty_touch_Task"(key text) RETURNS void LANGUAGE sql AS
$$ INSERT INTO treaty_outbox ("type", "entity", "image") SELECT 'Task', r."id", "treaty_image_Task"(r) FROM "Task" r WHERE r."id" = key $$;
CREATE FUNCTION "treaty_track_Task"() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF current_setting('treaty.loading', true) = 'on' AND (SELECT rolsuper FROM pg_roles WHERE rolname = current_user) THEN
    RETURN NULL;  -- treaty_load(..., record => false)
  END IF;
  IF TG_OP = 'DELETE' THEN
    INSERT INTO treaty_outbox ("type", "entity", "image") VALUES ('Task', OLD."id", NULL);
  ELSIF TG_OP = 'UPDATE' THEN
    IF OLD."id" <> NEW."id" THEN
      INSERT INTO treaty_outbox ("type", "entity", "image") VALUES ('Task', OLD."id", NULL);
    END IF;
    PERFORM "treaty_touch_Task"(NEW."id");
  ELSE
    PERFORM "treaty_touch_Task"(NEW."id");
  END IF;
  RETURN NULL;
END $$;
CREATE TRIGGER treaty_track AFTER INSERT OR UPDATE OR DELETE ON "Task" FOR EACH ROW EXECUTE FUNCTION "treaty_track_Task"();
CREATE TRIGGER treaty_no_truncate BEFORE TRUNCATE ON "Task" FOR EACH STATEMENT EXECUTE FUNCTION treaty_no_truncate();
CREATE FUNCTION "treaty_image_Team"(r "Team") RETURNS jsonb LANGUAGE sql STABLE AS
$$ SELECT jsonb_build_object('type', 'Team', 'id', r."id", 'attrs', jsonb_build_object('account', r."account")) $$;
CREATE VIEW "treaty_images_Team" AS SELECT jsonb_build_object('type', 'Team', 'id', r."id", 'attrs', jsonb_build_object('account', r."account")) AS image FROM "Team" r;
CREATE FUNCTION "treaty_touch_Team"(key text) RETURNS void LANGUAGE sql AS
$$ INSERT INTO treaty_outbox ("type", "entity", "image") SELECT 'Team', r."id", "treaty_image_Team"(r) FROM "Team" r WHERE r."id" = key $$;
CREATE FUNCTION "treaty_track_Team"() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF current_setting('treaty.loading', true) = 'on' AND (SELECT rolsuper FROM pg_roles WHERE rolname = current_user) THEN
    RETURN NULL;  -- treaty_load(..., record => false)
  END IF;
  IF TG_OP = 'DELETE' THEN
    INSERT INTO treaty_outbox ("type", "entity", "image") VALUES ('Team', OLD."id", NULL);
  ELSIF TG_OP = 'UPDATE' THEN
    IF OLD."id" <> NEW."id" THEN
      INSERT INTO treaty_outbox ("type", "entity", "image") VALUES ('Team', OLD."id", NULL);
    END IF;
    PERFORM "treaty_touch_Team"(NEW."id");
  ELSE
    PERFORM "treaty_touch_Team"(NEW."id");
  END IF;
  RETURN NULL;
END $$;
CREATE TRIGGER treaty_track AFTER INSERT OR UPDATE OR DELETE ON "Team" FOR EACH ROW EXECUTE FUNCTION "treaty_track_Team"();
CREATE TRIGGER treaty_no_truncate BEFORE TRUNCATE ON "Team" FOR EACH STATEMENT EXECUTE FUNCTION treaty_no_truncate();
CREATE FUNCTION "treaty_image_Trust"(r "Trust") RETURNS jsonb LANGUAGE sql STABLE AS
$$ SELECT jsonb_build_object('type', 'Trust', 'id', r."id", 'attrs', jsonb_build_object('grantor', r."grantor", 'grantee', r."grantee", 'accepted', r."accepted", 'options', r."options", 'shared_roles', r."shared_roles")) $$;
CREATE VIEW "treaty_images_Trust" AS SELECT jsonb_build_object('type', 'Trust', 'id', r."id", 'attrs', jsonb_build_object('grantor', r."grantor", 'grantee', r."grantee", 'accepted', r."accepted", 'options', r."options", 'shared_roles', r."shared_roles")) AS image FROM "Trust" r;
CREATE FUNCTION "treaty_touch_Trust"(key text) RETURNS void LANGUAGE sql AS
$$ INSERT INTO treaty_outbox ("type", "entity", "image") SELECT 'Trust', r."id", "treaty_image_Trust"(r) FROM "Trust" r WHERE r."id" = key $$;
CREATE FUNCTION "treaty_track_Trust"() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF current_setting('treaty.loading', true) = 'on' AND (SELECT rolsuper FROM pg_roles WHERE rolname = current_user) THEN
    RETURN NULL;  -- treaty_load(..., record => false)
  END IF;
  IF TG_OP = 'DELETE' THEN
    INSERT INTO treaty_outbox ("type", "entity", "image") VALUES ('Trust', OLD."id", NULL);
  ELSIF TG_OP = 'UPDATE' THEN
    IF OLD."id" <> NEW."id" THEN
      INSERT INTO treaty_outbox ("type", "entity", "image") VALUES ('Trust', OLD."id", NULL);
    END IF;
    PERFORM "treaty_touch_Trust"(NEW."id");
  ELSE
    PERFORM "treaty_touch_Trust"(NEW."id");
  END IF;
  RETURN NULL;
END $$;
CREATE TRIGGER treaty_track AFTER INSERT OR UPDATE OR DELETE ON "Trust" FOR EACH ROW EXECUTE FUNCTION "treaty_track_Trust"();
CREATE TRIGGER treaty_no_truncate BEFORE TRUNCATE ON "Trust" FOR EACH STATEMENT EXECUTE FUNCTION treaty_no_truncate();

-- Loads a facts document (the --data JSON format) into the tables; returns the entities loaded.
-- With record => false (a first load into empty tables, before any replica starts: they load the
-- tables; a superuser only) the outbox triggers skip its rows: no change rows, the foreign keys still checked.
CREATE FUNCTION treaty_load(facts jsonb, record boolean DEFAULT true) RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE n bigint := 0; c bigint;
BEGIN
  IF NOT record THEN
    IF NOT (SELECT rolsuper FROM pg_roles WHERE rolname = current_user) THEN
      RAISE EXCEPTION 'treaty_load(..., record => false) is for a superuser';
    END IF;
    PERFORM set_config('treaty.loading', 'on', true);
  END IF;
  CREATE TEMP TABLE treaty_load_entities ON COMMIT DROP AS
    SELECT e->>'type' AS type, e->>'id' AS id, coalesce(e->'attrs', '{}'::jsonb) AS attrs FROM jsonb_array_elements(facts->'entities') e;
  IF EXISTS (SELECT 1 FROM treaty_load_entities l WHERE l.type NOT IN ('Account', 'Change', 'Ci', 'Person', 'Project', 'Request', 'RoleAssignment', 'Service', 'Sla', 'Task', 'Team', 'Trust')) THEN
    RAISE EXCEPTION 'treaty_load: an entity of a type the schema does not declare: %', (SELECT l.type FROM treaty_load_entities l WHERE l.type NOT IN ('Account', 'Change', 'Ci', 'Person', 'Project', 'Request', 'RoleAssignment', 'Service', 'Sla', 'Task', 'Team', 'Trust') LIMIT 1);
  END IF;
  INSERT INTO "Account" SELECT r.* FROM treaty_load_entities l, jsonb_populate_record(NULL::"Account", l.attrs || jsonb_build_object('id', l.id)) r WHERE l.type = 'Account';
  GET DIAGNOSTICS c = ROW_COUNT;
  n := n + c;
  INSERT INTO "Change" SELECT r.* FROM treaty_load_entities l, jsonb_populate_record(NULL::"Change", l.attrs || jsonb_build_object('id', l.id)) r WHERE l.type = 'Change';
  GET DIAGNOSTICS c = ROW_COUNT;
  n := n + c;
  INSERT INTO "Ci" SELECT r.* FROM treaty_load_entities l, jsonb_populate_record(NULL::"Ci", l.attrs || jsonb_build_object('id', l.id)) r WHERE l.type = 'Ci';
  GET DIAGNOSTICS c = ROW_COUNT;
  n := n + c;
  INSERT INTO "Person" SELECT r.* FROM treaty_load_entities l, jsonb_populate_record(NULL::"Person", l.attrs || jsonb_build_object('id', l.id)) r WHERE l.type = 'Person';
  GET DIAGNOSTICS c = ROW_COUNT;
  n := n + c;
  INSERT INTO "Person.teams" SELECT l.id, v FROM treaty_load_entities l, jsonb_array_elements_text(l.attrs->'teams') v WHERE l.type = 'Person';
  INSERT INTO "Project" SELECT r.* FROM treaty_load_entities l, jsonb_populate_record(NULL::"Project", l.attrs || jsonb_build_object('id', l.id)) r WHERE l.type = 'Project';
  GET DIAGNOSTICS c = ROW_COUNT;
  n := n + c;
  INSERT INTO "Request" SELECT r.* FROM treaty_load_entities l, jsonb_populate_record(NULL::"Request", l.attrs || jsonb_build_object('id', l.id)) r WHERE l.type = 'Request';
  GET DIAGNOSTICS c = ROW_COUNT;
  n := n + c;
  INSERT INTO "RoleAssignment" SELECT r.* FROM treaty_load_entities l, jsonb_populate_record(NULL::"RoleAssignment", l.attrs || jsonb_build_object('id', l.id)) r WHERE l.type = 'RoleAssignment';
  GET DIAGNOSTICS c = ROW_COUNT;
  n := n + c;
  INSERT INTO "Service" SELECT r.* FROM treaty_load_entities l, jsonb_populate_record(NULL::"Service", l.attrs || jsonb_build_object('id', l.id)) r WHERE l.type = 'Service';
  GET DIAGNOSTICS c = ROW_COUNT;
  n := n + c;
  INSERT INTO "Sla" SELECT r.* FROM treaty_load_entities l, jsonb_populate_record(NULL::"Sla", l.attrs || jsonb_build_object('id', l.id)) r WHERE l.type = 'Sla';
  GET DIAGNOSTICS c = ROW_COUNT;
  n := n + c;
  INSERT INTO "Sla.representatives" SELECT l.id, v FROM treaty_load_entities l, jsonb_array_elements_text(l.attrs->'representatives') v WHERE l.type = 'Sla';
  INSERT INTO "Task" SELECT r.* FROM treaty_load_entities l, jsonb_populate_record(NULL::"Task", l.attrs || jsonb_build_object('id', l.id)) r WHERE l.type = 'Task';
  GET DIAGNOSTICS c = ROW_COUNT;
  n := n + c;
  INSERT INTO "Team" SELECT r.* FROM treaty_load_entities l, jsonb_populate_record(NULL::"Team", l.attrs || jsonb_build_object('id', l.id)) r WHERE l.type = 'Team';
  GET DIAGNOSTICS c = ROW_COUNT;
  n := n + c;
  INSERT INTO "Trust" SELECT r.* FROM treaty_load_entities l, jsonb_populate_record(NULL::"Trust", l.attrs || jsonb_build_object('id', l.id)) r WHERE l.type = 'Trust';
  GET DIAGNOSTICS c = ROW_COUNT;
  n := n + c;
  DROP TABLE treaty_load_entities;
  PERFORM set_config('treaty.loading', '', true);
  RETURN n;
END $$;

COMMIT;
