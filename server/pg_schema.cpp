// The PostgreSQL DDL of a package's schema (server/pg.hpp, docs/scale.md).
#include <functional>
#include <string>
#include <vector>
#include <set>

#include "pg.hpp"

namespace treaty::server {

std::string sql_ident(std::string_view name) {
  std::string o = "\"";
  for (char c : name) {
    if (c == '"') o += '"';
    o += c;
  }
  return o + "\"";
}

std::string sql_literal(std::string_view text) {
  std::string o = "'";
  for (char c : text) {
    if (c == '\'') o += '\'';
    o += c;
  }
  return o + "'";
}

namespace {

/// The link table of a set of entities: "Type.attr".
std::string link_table(const EntityTypeInfo& t, const AttrInfo& a) { return sql_ident(t.name + "." + a.name); }
bool is_link(const AttrInfo& a) { return a.type.set && a.type.base == Base::entity; }

/// The SQL type of one value of `t` (its element type for a set).
std::string scalar_type(const Schema& s, const Type& t) {
  switch (t.base) {
    case Base::bool_: return "boolean";
    case Base::int_: return "bigint";
    case Base::string: return "text";
    case Base::enum_: return sql_ident(s.enums[t.enum_id].name);
    case Base::entity: return "text";
    default: return "text";
  }
}

}  // namespace

bool postgres_ddl(const Schema& s, std::string& out, std::string& error) {
  const auto& types = s.entities;
  for (const auto& t : types)
    for (const auto& a : t.attrs) {
      if (a.name == "id") {
        error = "entity type `" + t.name + "` has an attribute named `id`: the table's key column is called so";
        return false;
      }
      if (a.type.base == Base::entity && a.type.entities.size() != 1) {
        error = "`" + t.name + "." + a.name + "` is a union of entity types (" + s.type_name(a.type) +
                "): a foreign key names one table; `treaty schema sql` does not lay unions out yet";
        return false;
      }
    }
  std::string o;
  o += "-- The PostgreSQL schema of a Treaty package, written by `treaty schema sql` (docs/scale.md).\n";
  o += "-- A table per entity type, the change table the replicas follow (treaty_outbox) and its triggers.\n";
  o += "BEGIN;\n\n";

  o += "-- Enums: text domains that check their values.\n";
  for (const auto& e : s.enums) {
    o += "CREATE DOMAIN " + sql_ident(e.name) + " AS text CHECK (VALUE IN (";
    for (std::size_t i = 0; i < e.values.size(); ++i) o += (i ? ", " : "") + sql_literal(e.values[i]);
    o += "));\n";
  }

  o += "\n-- Entity types: one table each; sets of entities in link tables \"Type.attr\".\n";
  for (const auto& t : types) {
    o += "CREATE TABLE " + sql_ident(t.name) + " (\n  \"id\" text PRIMARY KEY";
    for (const auto& a : t.attrs) {
      if (is_link(a)) continue;
      o += ",\n  " + sql_ident(a.name) + " " + scalar_type(s, a.type);
      if (a.type.set) o += "[] NOT NULL DEFAULT '{}'";
      else if (!a.type.optional) o += " NOT NULL";
    }
    for (const auto& k : t.keys) {
      bool plain = true;
      for (auto c : k) plain = plain && !is_link(t.attrs[c]);
      if (!plain) continue;  // a key over a set of entities is the replicas' to check
      o += ",\n  UNIQUE (";
      for (std::size_t i = 0; i < k.size(); ++i) o += (i ? ", " : "") + sql_ident(t.attrs[k[i]].name);
      o += ")";
    }
    o += "\n);\n";
    for (const auto& a : t.attrs) {
      if (!is_link(a)) continue;
      o += "CREATE TABLE " + link_table(t, a) + " (\n  \"owner\" text NOT NULL REFERENCES " + sql_ident(t.name) +
           " (\"id\") ON DELETE CASCADE ON UPDATE CASCADE DEFERRABLE INITIALLY DEFERRED,\n  \"value\" text NOT NULL,\n"
           "  PRIMARY KEY (\"owner\", \"value\")\n);\n";
    }
  }

  o += "\n-- References: foreign keys, checked at commit.\n";
  for (const auto& t : types)
    for (const auto& a : t.attrs) {
      if (a.type.base != Base::entity) continue;
      const std::string target = sql_ident(types[a.type.entities[0]].name);
      if (is_link(a)) {
        o += "ALTER TABLE " + link_table(t, a) + " ADD FOREIGN KEY (\"value\") REFERENCES " + target +
             " (\"id\") ON UPDATE CASCADE DEFERRABLE INITIALLY DEFERRED;\n";
        o += "CREATE INDEX ON " + link_table(t, a) + " (\"value\");\n";
      } else {
        o += "ALTER TABLE " + sql_ident(t.name) + " ADD FOREIGN KEY (" + sql_ident(a.name) + ") REFERENCES " + target +
             " (\"id\") ON UPDATE CASCADE DEFERRABLE INITIALLY DEFERRED;\n";
        o += "CREATE INDEX ON " + sql_ident(t.name) + " (" + sql_ident(a.name) + ");\n";
      }
    }

  o += R"(
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
)";

  o += "\n-- Per entity type: its image (the facts JSON format), and the triggers that record it.\n";
  for (const auto& t : types) {
    const std::string tbl = sql_ident(t.name);
    const std::string image = sql_ident("treaty_image_" + t.name);
    const std::string touch = sql_ident("treaty_touch_" + t.name);
    const std::string track = sql_ident("treaty_track_" + t.name);
    // jsonb_build_object takes at most 100 arguments: 40 attributes a call, joined with ||.
    // The attributes object; a set of entities as `link(index, attr)` reads it.
    auto attrs_of = [&](const std::function<std::string(std::size_t, const AttrInfo&)>& link) {
      std::string attrs;
      for (std::size_t i = 0; i < t.attrs.size(); i += 40) {
        if (i) attrs += " || ";
        attrs += "jsonb_build_object(";
        for (std::size_t j = i; j < std::min(t.attrs.size(), i + 40); ++j) {
          const auto& a = t.attrs[j];
          if (j > i) attrs += ", ";
          attrs += sql_literal(a.name) + ", " + (is_link(a) ? link(j, a) : "r." + sql_ident(a.name));
        }
        attrs += ")";
      }
      return t.attrs.empty() ? std::string("'{}'::jsonb") : attrs;
    };
    const std::string one = attrs_of([&](std::size_t, const AttrInfo& a) {
      return "(SELECT coalesce(jsonb_agg(l.\"value\" ORDER BY l.\"value\"), '[]'::jsonb) FROM " + link_table(t, a) +
             " l WHERE l.\"owner\" = r.\"id\")";
    });
    o += "CREATE FUNCTION " + image + "(r " + tbl + ") RETURNS jsonb LANGUAGE sql STABLE AS\n$$ SELECT jsonb_build_object('type', " +
         sql_literal(t.name) + ", 'id', r.\"id\", 'attrs', " + one + ") $$;\n";
    // Every image at once, set-based (the link tables aggregated once, not per row): what a
    // replica's initial load reads.
    const std::string all = attrs_of([&](std::size_t j, const AttrInfo&) {
      return "coalesce(l" + std::to_string(j) + ".v, '[]'::jsonb)";
    });
    o += "CREATE VIEW " + sql_ident("treaty_images_" + t.name) + " AS SELECT jsonb_build_object('type', " +
         sql_literal(t.name) + ", 'id', r.\"id\", 'attrs', " + all + ") AS image FROM " + tbl + " r";
    for (std::size_t j = 0; j < t.attrs.size(); ++j)
      if (is_link(t.attrs[j]))
        o += " LEFT JOIN (SELECT \"owner\", jsonb_agg(\"value\" ORDER BY \"value\") AS v FROM " + link_table(t, t.attrs[j]) +
             " GROUP BY \"owner\") l" + std::to_string(j) + " ON l" + std::to_string(j) + ".\"owner\" = r.\"id\"";
    o += ";\n";
    o += "CREATE FUNCTION " + touch + "(key text) RETURNS void LANGUAGE sql AS\n$$ INSERT INTO treaty_outbox (\"type\", \"entity\", \"image\") SELECT " +
         sql_literal(t.name) + ", r.\"id\", " + image + "(r) FROM " + tbl + " r WHERE r.\"id\" = key $$;\n";
    o += "CREATE FUNCTION " + track + "() RETURNS trigger LANGUAGE plpgsql AS $$\nBEGIN\n" "  IF current_setting('treaty.loading', true) = 'on' AND (SELECT rolsuper FROM pg_roles WHERE rolname = current_user) THEN\n"
         "    RETURN NULL;  -- treaty_load(..., record => false)\n  END IF;\n"
         "  IF TG_OP = 'DELETE' THEN\n"
         "    INSERT INTO treaty_outbox (\"type\", \"entity\", \"image\") VALUES (" + sql_literal(t.name) + ", OLD.\"id\", NULL);\n"
         "  ELSIF TG_OP = 'UPDATE' THEN\n"
         "    IF OLD.\"id\" <> NEW.\"id\" THEN\n"
         "      INSERT INTO treaty_outbox (\"type\", \"entity\", \"image\") VALUES (" + sql_literal(t.name) + ", OLD.\"id\", NULL);\n"
         "    END IF;\n"
         "    PERFORM " + touch + "(NEW.\"id\");\n"
         "  ELSE\n"
         "    PERFORM " + touch + "(NEW.\"id\");\n"
         "  END IF;\n  RETURN NULL;\nEND $$;\n";
    o += "CREATE TRIGGER treaty_track AFTER INSERT OR UPDATE OR DELETE ON " + tbl + " FOR EACH ROW EXECUTE FUNCTION " + track + "();\n";
    o += "CREATE TRIGGER treaty_no_truncate BEFORE TRUNCATE ON " + tbl + " FOR EACH STATEMENT EXECUTE FUNCTION treaty_no_truncate();\n";
    for (const auto& a : t.attrs) {
      if (!is_link(a)) continue;
      const std::string ltrack = sql_ident("treaty_track_" + t.name + "." + a.name);
      // A change of a link row is a change of its owner (gone already when the owner is deleted).
      o += "CREATE FUNCTION " + ltrack + "() RETURNS trigger LANGUAGE plpgsql AS $$\nBEGIN\n" "  IF current_setting('treaty.loading', true) = 'on' AND (SELECT rolsuper FROM pg_roles WHERE rolname = current_user) THEN\n"
         "    RETURN NULL;  -- treaty_load(..., record => false)\n  END IF;\n"
           "  IF TG_OP <> 'INSERT' THEN PERFORM " + touch + "(OLD.\"owner\"); END IF;\n"
           "  IF TG_OP <> 'DELETE' AND (TG_OP = 'INSERT' OR OLD.\"owner\" <> NEW.\"owner\") THEN PERFORM " + touch +
           "(NEW.\"owner\"); END IF;\n  RETURN NULL;\nEND $$;\n";
      o += "CREATE TRIGGER treaty_track AFTER INSERT OR UPDATE OR DELETE ON " + link_table(t, a) +
           " FOR EACH ROW EXECUTE FUNCTION " + ltrack + "();\n";
      o += "CREATE TRIGGER treaty_no_truncate BEFORE TRUNCATE ON " + link_table(t, a) +
           " FOR EACH STATEMENT EXECUTE FUNCTION treaty_no_truncate();\n";
    }
  }
  // treaty_load: a facts document (the `--data` format) into the tables, in the caller's
  // transaction (the foreign keys are checked at its commit): what a migration from data files
  // runs once. The triggers record every entity in the outbox, as any other write.
  o += "\n-- Loads a facts document (the --data JSON format) into the tables; returns the entities loaded.\n";
  o += "-- With record => false (a first load into empty tables, before any replica starts: they load the\n"
       "-- tables; a superuser only) the outbox triggers skip its rows: no change rows, the foreign keys still checked.\n";
  o += "CREATE FUNCTION treaty_load(facts jsonb, record boolean DEFAULT true) RETURNS bigint LANGUAGE plpgsql AS $$\n"
       "DECLARE n bigint := 0; c bigint;\nBEGIN\n";
  o += "  IF NOT record THEN\n"
       "    IF NOT (SELECT rolsuper FROM pg_roles WHERE rolname = current_user) THEN\n"
       "      RAISE EXCEPTION 'treaty_load(..., record => false) is for a superuser';\n"
       "    END IF;\n"
       "    PERFORM set_config('treaty.loading', 'on', true);\n"
       "  END IF;\n";
  o += "  CREATE TEMP TABLE treaty_load_entities ON COMMIT DROP AS\n"
       "    SELECT e->>'type' AS type, e->>'id' AS id, coalesce(e->'attrs', '{}'::jsonb) AS attrs FROM jsonb_array_elements(facts->'entities') e;\n";
  o += "  IF EXISTS (SELECT 1 FROM treaty_load_entities l WHERE l.type NOT IN (";
  for (std::size_t i = 0; i < types.size(); ++i) o += (i ? ", " : "") + sql_literal(types[i].name);
  if (types.empty()) o += "NULL";
  o += ")) THEN\n    RAISE EXCEPTION 'treaty_load: an entity of a type the schema does not declare: %', "
       "(SELECT l.type FROM treaty_load_entities l WHERE l.type NOT IN (";
  for (std::size_t i = 0; i < types.size(); ++i) o += (i ? ", " : "") + sql_literal(types[i].name);
  if (types.empty()) o += "NULL";
  o += ") LIMIT 1);\n  END IF;\n";
  for (const auto& t : types) {
    o += "  INSERT INTO " + sql_ident(t.name) + " SELECT r.* FROM treaty_load_entities l, jsonb_populate_record(NULL::" + sql_ident(t.name) +
         ", l.attrs || jsonb_build_object('id', l.id)) r WHERE l.type = " + sql_literal(t.name) +
         ";\n  GET DIAGNOSTICS c = ROW_COUNT;\n  n := n + c;\n";
    for (const auto& a : t.attrs)
      if (is_link(a))
        o += "  INSERT INTO " + link_table(t, a) + " SELECT l.id, v FROM treaty_load_entities l, jsonb_array_elements_text(l.attrs->" +
             sql_literal(a.name) + ") v WHERE l.type = " + sql_literal(t.name) + ";\n";
  }
  o += "  DROP TABLE treaty_load_entities;\n";
  o += "  PERFORM set_config('treaty.loading', '', true);\n  RETURN n;\nEND $$;\n";
  o += "\nCOMMIT;\n";
  out = std::move(o);
  return true;
}

}  // namespace treaty::server
