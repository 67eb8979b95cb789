// Reverse queries (Engine::search_subjects, search_resources, search_actions): each answer is
// exactly what deciding every entity of the type gives, in id order, page by page.
#include <gtest/gtest.h>
#include <rapidcheck.h>
#include <rapidcheck/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "support/engine_util.hpp"
#include "treaty/data/delta.hpp"
#include "treaty/live.hpp"

namespace treaty::testing {
namespace {

const char* kSchema = R"(
enum Role { admin, analyst, viewer }
enum Kind { read, write, sign }
entity Account { parent: Account? }
inline entity Person { account: Account, roles: Set<Role>, boss: Person? }
inline entity Doc { account: Account, owner: Person?, readers: Set<Person> }
inline entity Grant { person: Person, doc: Doc, kind: Kind }
action view principal Person resource Doc;
action edit(kind: Kind) principal Person resource Doc;
action manage principal Person resource Person;
action ping principal Person resource Person | Doc;

predicate same_place(a: Person, b: Person) = a.account == b.account or a.account == b.account.parent;
)";

/// Rules of the kinds a search plans differently: pinned through a column index, by an entity
/// the known side names, by set membership, through an `exists` join, by an `or` of pins, through
/// an inlined predicate, through a path of attributes (`d.account.parent`), not pinned at all (a
/// scan), and `none == none` (a bossless person's `p.boss.account` against ownerless documents). Each property run takes
/// a random subset.
const char* kRules[] = {
    R"(permit same_account principal p: Person action view resource d: Doc
         when p.account == d.account and analyst in p.roles;)",
    R"(permit owner principal p: Person action {view, edit} resource d: Doc when d.owner == p;)",
    R"(permit reader principal p: Person action view resource d: Doc when p in d.readers;)",
    R"(permit granted principal p: Person action edit resource d: Doc
         when exists g: Grant where g.doc == d and g.person == p and g.kind == kind;)",
    R"(permit admins principal p: Person action view resource d: Doc when admin in p.roles;)",
    R"(permit parent_account principal p: Person action view resource d: Doc
         when exists a: Account where a.parent == d.account and p.account == a;)",
    R"(forbid viewers principal p: Person action any resource d: Doc when viewer in p.roles unless admin in p.roles;)",
    R"(permit manage_boss principal p: Person action manage resource q: Person
         when q.boss == p or (p.account == q.account and admin in p.roles);)",
    R"(permit manage_place principal p: Person action manage resource q: Person when same_place(p, q);)",
    R"(permit edit_bossless principal p: Person action edit resource d: Doc when p.boss == d.owner and kind != sign;)",
    R"(permit ping_any principal p: Person action ping resource x when p.account.parent == none;)",
    R"(permit ping_docs principal p: Person action ping resource d: Doc when d.account == p.account;)",
    R"(permit parent_docs principal p: Person action view resource d: Doc when d.account.parent == p.account;)",
    R"(permit owner_peers principal p: Person action edit resource d: Doc when d.owner.account == p.boss.account;)",
};

struct World {
  int accounts = 1, persons = 0, docs = 0, grants = 0;
  std::vector<int> parent, p_account, p_roles, p_boss, d_account, d_owner, d_readers, g_person, g_doc, g_kind;
};

/// The facts JSON of `w`: ids a0.., p0.., d0.., g0..
nlohmann::json facts(const World& w) {
  nlohmann::json ents = nlohmann::json::array();
  const char* roles[] = {"admin", "analyst", "viewer"};
  const char* kinds[] = {"read", "write", "sign"};
  auto roleset = [&](int mask) {
    nlohmann::json s = nlohmann::json::array();
    for (int i = 0; i < 3; ++i)
      if (mask & (1 << i)) s.push_back(roles[i]);
    return s;
  };
  auto ref = [](const char* prefix, int i) { return i < 0 ? nlohmann::json(nullptr) : nlohmann::json(prefix + std::to_string(i)); };
  for (int i = 0; i < w.accounts; ++i)
    ents.push_back({{"type", "Account"}, {"id", "a" + std::to_string(i)}, {"attrs", {{"parent", ref("a", w.parent[i])}}}});
  for (int i = 0; i < w.persons; ++i)
    ents.push_back({{"type", "Person"},
                    {"id", "p" + std::to_string(i)},
                    {"attrs", {{"account", ref("a", w.p_account[i])}, {"roles", roleset(w.p_roles[i])}, {"boss", ref("p", w.p_boss[i])}}}});
  for (int i = 0; i < w.docs; ++i) {
    nlohmann::json readers = nlohmann::json::array();
    for (int k = 0; k < w.persons && k < 8; ++k)
      if (w.d_readers[i] & (1 << k)) readers.push_back("p" + std::to_string(k));
    ents.push_back({{"type", "Doc"},
                    {"id", "d" + std::to_string(i)},
                    {"attrs", {{"account", ref("a", w.d_account[i])}, {"owner", ref("p", w.d_owner[i])}, {"readers", readers}}}});
  }
  for (int i = 0; i < w.grants; ++i)
    ents.push_back({{"type", "Grant"},
                    {"id", "g" + std::to_string(i)},
                    {"attrs", {{"person", ref("p", w.g_person[i])}, {"doc", ref("d", w.g_doc[i])}, {"kind", kinds[w.g_kind[i]]}}}});
  return {{"entities", ents}};
}

rc::Gen<World> gen_world() {
  return rc::gen::exec([] {
    World w;
    w.accounts = *rc::gen::inRange(1, 5);
    w.persons = *rc::gen::inRange(1, 10);
    w.docs = *rc::gen::inRange(1, 7);
    w.grants = w.persons > 0 && w.docs > 0 ? *rc::gen::inRange(0, 8) : 0;
    auto pick = [](int n, bool optional) { return *rc::gen::inRange(optional ? -1 : 0, n); };
    for (int i = 0; i < w.accounts; ++i) w.parent.push_back(*rc::gen::inRange(-1, i));  // acyclic
    for (int i = 0; i < w.persons; ++i) {
      w.p_account.push_back(pick(w.accounts, false));
      w.p_roles.push_back(*rc::gen::inRange(0, 8));
      w.p_boss.push_back(pick(w.persons, true));
    }
    for (int i = 0; i < w.docs; ++i) {
      w.d_account.push_back(pick(w.accounts, false));
      w.d_owner.push_back(pick(w.persons, true));
      w.d_readers.push_back(*rc::gen::inRange(0, 256));
    }
    for (int i = 0; i < w.grants; ++i) {
      w.g_person.push_back(pick(w.persons, false));
      w.g_doc.push_back(pick(w.docs, false));
      w.g_kind.push_back(*rc::gen::inRange(0, 3));
    }
    return w;
  });
}

struct Loaded {
  SourceManager sm;
  Diagnostics diags;
  std::unique_ptr<Engine> engine;
};

std::unique_ptr<Loaded> load(const std::string& policy, const std::string& data, bool search_indexes = true) {
  auto l = std::make_unique<Loaded>();
  CompileOptions opts;
  opts.check.data_texts = {{"data.json", data}};
  opts.limits.search_indexes = search_indexes;
  opts.last = Step::load;
  l->engine = compile(l->sm, Sources::from_texts({{"p.treaty", policy}}), l->diags, opts).engine;
  return l;
}

/// Every entity of type `t` (the live writes' and the overlay's included) that decide allows in
/// the role `side` (0 principal, 1 resource) of `base`: the answer a search must give.
std::vector<EntityId> brute_force(const Engine& e, int side, TypeId t, Request base) {
  std::vector<EntityId> all, out;
  e.for_each_entity(t, [&](EntityId x) { all.push_back(x); });
  if (base.overlay)
    for (std::size_t i = 0; i < base.overlay->entities().size(); ++i)
      if (base.overlay->entities()[i].type == t) all.push_back(base.overlay->base() + static_cast<EntityId>(i));
  std::sort(all.begin(), all.end());
  for (EntityId x : all) {
    (side == 0 ? base.principal : base.resource) = x;
    if (e.decide(base, false).allow) out.push_back(x);
  }
  return out;
}

SearchResult run_search(const Engine& e, int side, EntityId known, TypeId t, std::uint32_t action,
                        const std::vector<Value>& args, std::size_t limit, const std::string& cursor,
                        const Overlay* o) {
  return side == 0 ? e.search_subjects(t, action, args, known, limit, cursor, o)
                   : e.search_resources(known, action, args, t, limit, cursor, o);
}

/// Pages of `limit` from `e`, concatenated; fails the property when a page errs or a page is
/// longer than the limit.
std::vector<EntityId> paged(const Engine& e, int side, EntityId known, TypeId t, std::uint32_t action,
                            const std::vector<Value>& args, std::size_t limit, const Overlay* o) {
  std::vector<EntityId> out;
  std::string cursor;
  for (int pages = 0; pages < 1000; ++pages) {
    const auto r = run_search(e, side, known, t, action, args, limit, cursor, o);
    RC_ASSERT(r.error.empty());
    RC_ASSERT(r.entities.size() <= limit);
    // A cursor is given only when more results follow: no page after the first is empty.
    RC_ASSERT(pages == 0 || !r.entities.empty());
    out.insert(out.end(), r.entities.begin(), r.entities.end());
    if (r.cursor.empty()) return out;
    cursor = r.cursor;
  }
  RC_FAIL("pages never end");
}

/// Checks every search over `e` against brute force: both sides of every action, each known
/// entity, each argument value, whole and in pages of `limit`; and the actions search.
void check_all(const Engine& e, const Overlay* o, std::size_t limit) {
  const auto& s = e.program().schema;
  std::vector<EntityId> entities;
  for (TypeId t = 0; t < s.entities.size(); ++t) e.for_each_entity(t, [&](EntityId x) { entities.push_back(x); });
  if (o)
    for (std::size_t i = 0; i < o->entities().size(); ++i) entities.push_back(o->base() + static_cast<EntityId>(i));
  auto type_in = [&](EntityId x) { return x < e.entity_end() ? e.type_of(x) : o->get(x)->type; };
  auto takes = [](const auto& list, TypeId t) { return list.empty() || std::binary_search(list.begin(), list.end(), t); };
  for (std::uint32_t a = 0; a < s.actions.size(); ++a) {
    const auto& act = s.actions[a];
    std::vector<std::vector<Value>> arg_sets{{}};
    if (!act.params.empty()) {
      arg_sets.clear();
      const auto& en = s.enums[act.params[0].type.enum_id];
      for (std::uint32_t v = 0; v < en.values.size(); ++v) arg_sets.push_back({Value::enumv(act.params[0].type.enum_id, v)});
    }
    for (const auto& args : arg_sets)
      for (int side = 0; side < 2; ++side)
        for (EntityId known : entities) {
          if (!takes(side == 0 ? act.resources : act.principals, type_in(known))) continue;
          for (TypeId t = 0; t < s.entities.size(); ++t) {
            if (!takes(side == 0 ? act.principals : act.resources, t)) continue;
            Request base;
            base.action = a;
            base.args = args;
            base.overlay = o;
            (side == 0 ? base.resource : base.principal) = known;
            const auto want = brute_force(e, side, t, base);
            const auto got = run_search(e, side, known, t, a, args, 0, "", o);
            RC_ASSERT(got.error.empty());
            RC_ASSERT(got.cursor.empty());
            RC_ASSERT(got.entities == want);
            RC_ASSERT(paged(e, side, known, t, a, args, limit, o) == want);
          }
        }
  }
  for (EntityId p : entities) {
    if (type_in(p) != *s.find_entity("Person")) continue;
    for (EntityId r : entities) {
      std::vector<ActionMatch> want;
      for (std::uint32_t a = 0; a < s.actions.size(); ++a) {
        const auto& act = s.actions[a];
        if (!takes(act.principals, type_in(p)) || !takes(act.resources, type_in(r))) continue;
        Request q{p, a, {}, r, o};
        if (act.params.empty()) {
          if (e.decide(q, false).allow) want.push_back({a, std::nullopt});
          continue;
        }
        for (std::uint32_t v : e.allowed_values(q, 0)) want.push_back({a, v});
      }
      const auto got = e.search_actions(p, r, o);
      RC_ASSERT(got.error.empty());
      RC_ASSERT(got.actions == want);
    }
  }
}

RC_GTEST_PROP(SearchProperty, EverySearchEqualsBruteForceOnRandomProgramsAndWorlds, ()) {
  const World w = *gen_world();
  std::string policy = kSchema;
  for (const char* r : kRules)
    if (*rc::gen::arbitrary<bool>()) policy += std::string(r) + "\n";
  const bool indexes = *rc::gen::arbitrary<bool>();
  auto l = load(policy, facts(w).dump(), indexes);
  RC_ASSERT(l->engine != nullptr);
  const auto limit = static_cast<std::size_t>(*rc::gen::inRange(1, 4));
  check_all(*l->engine, nullptr, limit);
  // An inline person, document and grant (a request's overlay) are searched like the world's,
  // and joined through like the world's.
  Overlay o(*l->engine);
  std::string error;
  const nlohmann::json inline_ents = nlohmann::json::parse(
      R"([{"type": "Person", "id": "inline", "attrs": {"account": "a0", "roles": ["analyst"], "boss": "p0"}},
          {"type": "Doc", "id": "inline", "attrs": {"account": "a0", "owner": "p0", "readers": ["p0"]}},
          {"type": "Grant", "id": "inline", "attrs": {"person": "inline", "doc": "d0", "kind": "write"}}])");
  if (!o.add_json(inline_ents, error)) RC_FAIL(error);
  check_all(*l->engine, &o, limit);
}

/// The number of the first rule named `name`.
std::uint32_t rule(const Engine& e, const char* name) { return *e.program().find_rule(name); }

TEST(Search, APermitThatDoesNotReadTheSearchedSideIsDecidedOnceNotScanned) {
  // `admins` reads the principal only: for the documents a person may view it applies to all of
  // them or to none. One traced decision says which; only an admin's search takes every document.
  std::string policy = kSchema;
  policy += std::string(kRules[0]) + "\n" + kRules[4] + "\n";
  World w;
  w.accounts = 2;
  w.parent = {-1, -1};
  w.persons = 2;
  w.p_account = {0, 1};
  w.p_roles = {2, 1};  // p0 analyst, p1 admin
  w.p_boss = {-1, -1};
  w.docs = 6;
  w.d_account = {0, 1, 1, 1, 1, 1};
  w.d_owner = {-1, -1, -1, -1, -1, -1};
  w.d_readers = {0, 0, 0, 0, 0, 0};
  auto l = load(policy, facts(w).dump());
  ASSERT_TRUE(l->engine);
  const Engine& e = *l->engine;
  const auto& s = e.program().schema;
  const TypeId doc = *s.find_entity("Doc");
  const auto view = *s.find_action("view");
  const auto analyst = e.search_resources(*e.find(*s.find_entity("Person"), "p0"), view, {}, doc);
  ASSERT_TRUE(analyst.error.empty()) << analyst.error;
  ASSERT_EQ(analyst.entities.size(), 1u) << "d0, of the analyst's account";
  EXPECT_FALSE(analyst.stats.scan);
  EXPECT_EQ(analyst.stats.candidates, 1u) << "the index's candidates only";
  for (const auto& st : analyst.stats.rules)
    if (st.rule == rule(e, "admins")) {
      EXPECT_FALSE(st.scan);
      EXPECT_NE(st.how.find("no condition reads the resource"), std::string::npos) << st.how;
    }
  const auto admin = e.search_resources(*e.find(*s.find_entity("Person"), "p1"), view, {}, doc);
  ASSERT_TRUE(admin.error.empty()) << admin.error;
  EXPECT_EQ(admin.entities.size(), 6u) << "an admin views every document";
  EXPECT_TRUE(admin.stats.scan);
}

TEST(Search, PinnedPermitsProbeAndUnpinnedOnesScanAndSaySo) {
  std::string policy = kSchema;
  policy += std::string(kRules[0]) + "\n" + kRules[4] + "\n" + kRules[2] + "\n";
  World w;
  w.accounts = 2;
  w.parent = {-1, -1};
  w.persons = 3;
  w.p_account = {0, 1, 0};
  w.p_roles = {2, 2, 1};  // analyst, analyst, admin
  w.p_boss = {-1, -1, -1};
  w.docs = 1;
  w.d_account = {0};
  w.d_owner = {-1};
  w.d_readers = {0};
  auto l = load(policy, facts(w).dump());
  ASSERT_TRUE(l->engine) << (l->diags.all().empty() ? "" : l->diags.all().front().message);
  const Engine& e = *l->engine;
  const auto& s = e.program().schema;
  const TypeId person = *s.find_entity("Person");
  const EntityId d0 = *e.find(*s.find_entity("Doc"), "d0");
  const auto r = e.search_subjects(person, *s.find_action("view"), {}, d0);
  ASSERT_TRUE(r.error.empty()) << r.error;
  ASSERT_EQ(r.entities.size(), 2u);  // p0 (analyst of a0) and p2 (admin)
  EXPECT_EQ(e.id_of(r.entities[0]), "p0");
  EXPECT_EQ(e.id_of(r.entities[1]), "p2");
  EXPECT_TRUE(r.stats.scan);
  bool saw_index = false, saw_scan = false;
  for (const auto& st : r.stats.rules) {
    if (st.rule == rule(e, "same_account")) {
      saw_index = true;
      EXPECT_FALSE(st.scan);
      EXPECT_EQ(st.how, "index Person.account");
    }
    if (st.rule == rule(e, "admins")) {
      saw_scan = true;
      EXPECT_TRUE(st.scan);
      EXPECT_NE(st.how.find("scan"), std::string::npos);
    }
  }
  EXPECT_TRUE(saw_index && saw_scan);

  // Without the scanning permit, only the index's candidates are decided.
  policy = kSchema;
  policy += std::string(kRules[0]) + "\n";
  auto l2 = load(policy, facts(w).dump());
  ASSERT_TRUE(l2->engine);
  const auto r2 = l2->engine->search_subjects(person, *s.find_action("view"), {}, d0);
  EXPECT_FALSE(r2.stats.scan);
  EXPECT_EQ(r2.stats.candidates, 2u) << "the persons of account a0";
  EXPECT_EQ(r2.entities.size(), 1u);
}

TEST(Search, CursorsPageThroughAndAreRefusedAtAnotherRevision) {
  std::string policy = kSchema;
  policy += std::string(kRules[0]) + "\n";
  World w;
  w.accounts = 1;
  w.parent = {-1};
  w.persons = 5;
  w.p_account = {0, 0, 0, 0, 0};
  w.p_roles = {2, 2, 0, 2, 2};
  w.p_boss = {-1, -1, -1, -1, -1};
  w.docs = 1;
  w.d_account = {0};
  w.d_owner = {-1};
  w.d_readers = {0};
  auto l = load(policy, facts(w).dump());
  ASSERT_TRUE(l->engine);
  LiveFacts live(std::shared_ptr<const Engine>(std::move(l->engine)));
  auto e0 = live.current();
  const auto& s = e0->program().schema;
  const TypeId person = *s.find_entity("Person");
  const auto view = *s.find_action("view");
  const EntityId d0 = *e0->find(*s.find_entity("Doc"), "d0");
  const auto page1 = e0->search_subjects(person, view, {}, d0, 2);
  ASSERT_EQ(page1.entities.size(), 2u);
  ASSERT_FALSE(page1.cursor.empty());
  const auto page2 = e0->search_subjects(person, view, {}, d0, 2, page1.cursor);
  ASSERT_TRUE(page2.error.empty()) << page2.error;
  EXPECT_EQ(page2.entities.size(), 2u);
  EXPECT_TRUE(page2.cursor.empty());
  EXPECT_EQ(e0->id_of(page2.entities[0]), "p3");
  EXPECT_EQ(e0->search_subjects(person, view, {}, d0, 0, "nonsense").error.empty(), false);
  // A cursor is the position in one query's answer: another query refuses it.
  const EntityId p0 = *e0->find(person, "p0");
  const auto other = e0->search_resources(p0, view, {}, *s.find_entity("Doc"), 2, page1.cursor);
  EXPECT_NE(other.error.find("another query"), std::string::npos) << other.error;

  // A new analyst written live is found by the next revision's engine; the old cursor is refused.
  auto wr = live.write(nlohmann::json::parse(
      R"({"upsert": [{"type": "Person", "id": "zed", "attrs": {"account": "a0", "roles": ["analyst"]}},
                     {"type": "Person", "id": "p1", "attrs": {"account": "a0", "roles": []}}]})"));
  ASSERT_TRUE(wr.ok);
  auto e1 = live.current();
  ASSERT_EQ(e1->revision(), 1u);
  const auto stale = e1->search_subjects(person, view, {}, d0, 2, page1.cursor);
  EXPECT_TRUE(stale.entities.empty());
  EXPECT_NE(stale.error.find("revision 0"), std::string::npos) << stale.error;
  const auto all = e1->search_subjects(person, view, {}, d0);
  std::vector<std::string> ids;
  for (EntityId x : all.entities) ids.emplace_back(e1->id_of(x));
  EXPECT_EQ(ids, (std::vector<std::string>{"p0", "p3", "p4", "zed"})) << "p1 lost the role, zed was added";
  // The old engine still answers for its revision.
  EXPECT_EQ(e0->search_subjects(person, view, {}, d0).entities.size(), 4u);
}

TEST(Search, ATypeTheActionDoesNotTakeIsRefused) {
  std::string policy = kSchema;
  World w;
  w.parent = {-1};
  w.persons = 1;
  w.p_account = {0};
  w.p_roles = {0};
  w.p_boss = {-1};
  w.docs = 1;
  w.d_account = {0};
  w.d_owner = {-1};
  w.d_readers = {0};
  auto l = load(policy, facts(w).dump());
  ASSERT_TRUE(l->engine);
  const auto& s = l->engine->program().schema;
  const EntityId d0 = *l->engine->find(*s.find_entity("Doc"), "d0");
  const auto r = l->engine->search_subjects(*s.find_entity("Doc"), *s.find_action("view"), {}, d0);
  EXPECT_NE(r.error.find("does not accept"), std::string::npos) << r.error;
}

TEST(Search, AnEngineFromABundlePlansTheSameSearches) {
  std::string policy = kSchema;
  for (const char* r : kRules) policy += std::string(r) + "\n";
  policy += R"(
Account::"a0" { parent: none }
Account::"a1" { parent: "a0" }
Person::"p0" { account: "a0", roles: {analyst}, boss: none }
Person::"p1" { account: "a1", roles: {admin}, boss: "p0" }
Person::"p2" { account: "a1", roles: {viewer}, boss: "p1" }
Doc::"d0" { account: "a1", owner: "p2", readers: {"p0"} }
Doc::"d1" { account: "a0", owner: none, readers: {} }
Grant::"g0" { person: "p1", doc: "d1", kind: write }
)";
  auto l = engine_from_texts({policy});
  ASSERT_TRUE(l->engine) << (l->diags.all().empty() ? "" : l->diags.all().front().message);
  SourceManager sm;
  auto b = through_bundle(*l, sm);
  ASSERT_TRUE(b);
  const auto& s = l->engine->program().schema;
  const TypeId person = *s.find_entity("Person"), doc = *s.find_entity("Doc");
  std::size_t found = 0;
  for (const char* action : {"view", "edit", "manage", "ping"}) {
    const auto a = *s.find_action(action);
    const auto& act = s.actions[a];
    const std::vector<Value> args = act.params.empty() ? std::vector<Value>{} : std::vector<Value>{enum_value(*l->engine, "Kind", "write")};
    for (TypeId rt : {person, doc}) {
      if (!std::binary_search(act.resources.begin(), act.resources.end(), rt)) continue;
      for (const Engine* e : {l->engine.get(), b.get()}) {
        std::vector<EntityId> rs;
        e->for_each_entity(rt, [&](EntityId x) { rs.push_back(x); });
        for (EntityId r : rs) {
          Request base;
          base.action = a;
          base.args = args;
          base.resource = r;
          const auto got = e->search_subjects(person, a, args, r);
          EXPECT_EQ(got.entities, brute_force(*e, 0, person, base)) << action << " on " << e->entity_name(r, nullptr);
          EXPECT_EQ(got.entities, l->engine->search_subjects(person, a, args, r).entities);
          found += got.entities.size();
        }
      }
    }
  }
  EXPECT_GT(found, 4u);
}

// ---------------------------------------------------------------------------------------------
// The 4me library over a generated world
// ---------------------------------------------------------------------------------------------

/// A world of `accounts` accounts from bench/gen_world (built for the tests), loaded with
/// policies/4me/lib.
std::unique_ptr<Loaded> load_4me(int accounts) {
  const std::string path = ::testing::TempDir() + "search_4me_" + std::to_string(accounts) + ".json";
  const std::string cmd = std::string(TREATY_GEN_WORLD) + " --accounts " + std::to_string(accounts) +
                          " --seed 7 --facts " + path + " > /dev/null";
  if (std::system(cmd.c_str()) != 0) return nullptr;
  auto l = std::make_unique<Loaded>();
  CompileOptions opts;
  opts.check.data_files = {path};
  opts.last = Step::load;
  l->engine = compile(l->sm, Sources::from_paths({source_dir() + "/policies/4me/lib"}), l->diags, opts).engine;
  std::remove(path.c_str());
  return l;
}

TEST(Search4me, SeedQuestionsEqualBruteForce) {
  auto l = load_4me(30);
  ASSERT_TRUE(l && l->engine) << (l && !l->diags.all().empty() ? l->diags.all().front().message : "gen_world failed");
  const Engine& e = *l->engine;
  const auto& s = e.program().schema;
  const TypeId person = *s.find_entity("Person");
  std::vector<EntityId> people;
  e.for_each_entity(person, [&](EntityId x) { people.push_back(x); });
  ASSERT_GT(people.size(), 500u);
  const auto assign = *s.find_action("assign_task");
  const auto reg = *s.find_action("register_request");
  const auto approval = enum_value(e, "TaskKind", "approval");
  const auto implementation = enum_value(e, "TaskKind", "implementation");
  std::size_t nonempty = 0, decides = 0, brute = 0;
  // Every 37th person as the known side: subjects of register_request on them, resources of
  // assign_task (approval, implementation) for them, and every action they have on a few others.
  for (std::size_t i = 0; i < people.size(); i += 37) {
    const EntityId x = people[i];
    struct Q {
      int side;
      std::uint32_t action;
      std::vector<Value> args;
    };
    for (const Q& q : {Q{0, reg, {}}, Q{1, reg, {}}, Q{1, assign, {approval}}, Q{0, assign, {implementation}}}) {
      Request base;
      base.action = q.action;
      base.args = q.args;
      (q.side == 0 ? base.resource : base.principal) = x;
      const auto want = brute_force(e, q.side, person, base);
      const auto got = run_search(e, q.side, x, person, q.action, q.args, 0, "", nullptr);
      ASSERT_TRUE(got.error.empty()) << got.error;
      EXPECT_EQ(got.entities, want) << e.entity_name(x, nullptr) << " side " << q.side << " action " << q.action;
      nonempty += want.empty() ? 0 : 1;
      decides += got.stats.decides;
      brute += people.size();
    }
    for (std::size_t j = 0; j < people.size(); j += 211) {
      std::vector<ActionMatch> want;
      for (std::uint32_t a = 0; a < s.actions.size(); ++a) {
        const auto& act = s.actions[a];
        if (!act.principals.empty() && !std::binary_search(act.principals.begin(), act.principals.end(), person)) continue;
        if (!act.resources.empty() && !std::binary_search(act.resources.begin(), act.resources.end(), person)) continue;
        Request q{x, a, {}, people[j], nullptr};
        if (act.params.empty()) {
          if (e.decide(q, false).allow) want.push_back({a, std::nullopt});
        } else {
          for (std::uint32_t v : e.allowed_values(q, 0)) want.push_back({a, v});
        }
      }
      EXPECT_EQ(e.search_actions(x, people[j]).actions, want);
    }
  }
  EXPECT_GT(nonempty, 10u) << "the questions must have answers for the comparison to mean anything";
  // Fast by construction: the 4me permits are all pinned, so far fewer decisions than brute force.
  EXPECT_LT(decides * 5, brute) << decides << " decisions against " << brute;
}

TEST(Search4me, EveryActionAndTypeEqualsBruteForce) {
  auto l = load_4me(12);
  ASSERT_TRUE(l && l->engine);
  const Engine& e = *l->engine;
  const auto& s = e.program().schema;
  auto takes = [](const auto& list, TypeId t) { return list.empty() || std::binary_search(list.begin(), list.end(), t); };
  std::size_t compared = 0, nonempty = 0;
  for (std::uint32_t a = 0; a < s.actions.size(); ++a) {
    const auto& act = s.actions[a];
    // Arguments: every value of an enum parameter, a few entities of an entity one (the
    // accounts the world lists first and one from its middle), every combination.
    std::vector<std::vector<Value>> arg_sets{{}};
    for (const auto& prm : act.params) {
      std::vector<Value> values;
      if (prm.type.base == Base::enum_) {
        for (std::uint32_t v = 0; v < s.enums[prm.type.enum_id].values.size(); ++v)
          values.push_back(Value::enumv(prm.type.enum_id, v));
      } else {
        ASSERT_EQ(prm.type.base, Base::entity) << act.name << "." << prm.name;
        std::vector<EntityId> of;
        for (TypeId pt : prm.type.entities) e.for_each_entity(pt, [&](EntityId x) { of.push_back(x); });
        for (std::size_t i = 0; i < of.size(); i += 1 + of.size() / 3) values.push_back(Value::entity(of[i]));
      }
      std::vector<std::vector<Value>> next;
      for (const auto& prefix : arg_sets)
        for (const auto& v : values) {
          next.push_back(prefix);
          next.back().push_back(v);
        }
      arg_sets = std::move(next);
    }
    for (TypeId kt = 0; kt < s.entities.size(); ++kt)
      for (TypeId t = 0; t < s.entities.size(); ++t)
        for (int side = 0; side < 2; ++side) {
          if (!takes(side == 0 ? act.resources : act.principals, kt) || !takes(side == 0 ? act.principals : act.resources, t))
            continue;
          std::vector<EntityId> known;
          e.for_each_entity(kt, [&](EntityId x) { known.push_back(x); });
          for (std::size_t i = 0; i < known.size(); i += 1 + known.size() / 6)
            for (const auto& args : arg_sets) {
              Request base;
              base.action = a;
              base.args = args;
              (side == 0 ? base.resource : base.principal) = known[i];
              const auto want = brute_force(e, side, t, base);
              const auto got = run_search(e, side, known[i], t, a, args, 0, "", nullptr);
              ASSERT_TRUE(got.error.empty()) << got.error;
              EXPECT_EQ(got.entities, want) << act.name << " side " << side << " known " << e.entity_name(known[i], nullptr);
              ++compared;
              nonempty += want.empty() ? 0 : 1;
            }
        }
  }
  EXPECT_GT(compared, 100u);
  EXPECT_GT(nonempty, 20u);
}

TEST(Search4me, SubjectSearchOfTheSeedIsDrivenByIndexes) {
  auto l = load_4me(30);
  ASSERT_TRUE(l && l->engine);
  const Engine& e = *l->engine;
  const auto& s = e.program().schema;
  const TypeId person = *s.find_entity("Person");
  std::vector<EntityId> people;
  e.for_each_entity(person, [&](EntityId x) { people.push_back(x); });
  const auto r = e.search_subjects(person, *s.find_action("register_request"), {}, people[3]);
  ASSERT_TRUE(r.error.empty());
  EXPECT_FALSE(r.stats.scan);
  for (const auto& st : r.stats.rules) EXPECT_FALSE(st.scan) << e.program().rules[st.rule].name << ": " << st.how;
}

}  // namespace
}  // namespace treaty::testing
