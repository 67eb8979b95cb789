// Live facts: batches of writes over a loaded world (treaty/live.hpp).
#include <gtest/gtest.h>

#include <atomic>
#include <nlohmann/json.hpp>
#include <thread>

#include "support/engine_util.hpp"
#include "treaty/data/delta.hpp"
#include "treaty/live.hpp"

namespace treaty::testing {
namespace {

const char* kPolicy = R"(
enum Plan { basic, premium }
entity Account { plan: Plan, parent: Account? }
entity Person { account: Account, name: String }
entity Trust { grantor: Account, grantee: Account, accepted: Bool, key (grantor, grantee) }
action view principal Person resource Account;

permit own
  principal p: Person
  action view
  resource a: Account
  when p.account == a;

/// Through an accepted trust from the resource's account to the person's.
permit trusted
  principal p: Person
  action view
  resource a: Account
  when exists t: Trust where t.grantor == a and t.grantee == p.account and t.accepted;

require children_of_premium_are_premium
  forall a: Account where a.parent != none
  ensure a.parent.plan == premium or a.plan == basic
  message "{a} is premium under a basic account";
)";

const char* kData = R"({"entities": [
  {"type": "Account", "id": "cust", "attrs": {"plan": "premium"}},
  {"type": "Account", "id": "msp", "attrs": {"plan": "basic"}},
  {"type": "Account", "id": "kid", "attrs": {"plan": "premium", "parent": "cust"}},
  {"type": "Person", "id": "ann", "attrs": {"account": "msp", "name": "Ann"}},
  {"type": "Trust", "id": "t1", "attrs": {"grantor": "cust", "grantee": "msp", "accepted": true}}
]})";

struct Live {
  SourceManager sm;
  Diagnostics diags;
  std::unique_ptr<LiveFacts> live;
};

std::unique_ptr<Live> load() {
  auto l = std::make_unique<Live>();
  CompileOptions opts;
  opts.check.data_texts = {{"data.json", kData}};
  auto c = compile(l->sm, Sources::from_texts({{"p.treaty", kPolicy}}), l->diags, opts);
  EXPECT_FALSE(l->diags.has_errors()) << (l->diags.all().empty() ? "" : l->diags.all().front().message);
  if (!c.engine) return l;
  l->live = std::make_unique<LiveFacts>(std::shared_ptr<const Engine>(std::move(c.engine)));
  return l;
}

bool allowed(const Engine& e, const std::string& person, const std::string& account) {
  Request r;
  std::string error;
  const auto& s = e.program().schema;
  if (!e.make_request(*s.find_entity("Person"), person, *s.find_action("view"), {}, {}, *s.find_entity("Account"),
                      account, nullptr, r, error))
    return false;
  return e.decide(r, false).allow;
}

WriteResult write(LiveFacts& l, const char* text) { return l.write(nlohmann::json::parse(text)); }

std::string errors(const WriteResult& r) {
  std::string s;
  for (const auto& e : r.errors) s += e.code + ": " + e.message + "\n";
  return s;
}

TEST(Live, AnUpsertChangesTheNextDecisionAndTheOldEngineKeepsItsAnswer) {
  auto l = load();
  ASSERT_TRUE(l->live);
  auto before = l->live->current();
  EXPECT_EQ(before->revision(), 0u);
  EXPECT_TRUE(allowed(*before, "ann", "cust"));
  auto r = write(*l->live, R"({"upsert": [{"type": "Trust", "id": "t1",
      "attrs": {"grantor": "cust", "grantee": "msp", "accepted": false}}]})");
  ASSERT_TRUE(r.ok) << errors(r);
  EXPECT_EQ(r.revision, 1u);
  auto after = l->live->current();
  EXPECT_EQ(after->revision(), 1u);
  EXPECT_FALSE(allowed(*after, "ann", "cust"));
  EXPECT_TRUE(allowed(*before, "ann", "cust")) << "a held engine is a snapshot";
  EXPECT_TRUE(allowed(*after, "ann", "msp"));
}

TEST(Live, NewEntitiesAreFoundAndRangedOverAndDeletesTakeThemAway) {
  auto l = load();
  ASSERT_TRUE(l->live);
  auto r = write(*l->live, R"({"upsert": [
      {"type": "Account", "id": "other", "attrs": {"plan": "basic"}},
      {"type": "Person", "id": "bob", "attrs": {"account": "other", "name": "Bob"}},
      {"type": "Trust", "id": "t2", "attrs": {"grantor": "cust", "grantee": "other", "accepted": true}}]})");
  ASSERT_TRUE(r.ok) << errors(r);
  auto e = l->live->current();
  EXPECT_TRUE(allowed(*e, "bob", "cust"));
  EXPECT_TRUE(allowed(*e, "bob", "other"));
  EXPECT_FALSE(allowed(*e, "ann", "other"));
  r = write(*l->live, R"({"delete": [{"type": "Trust", "id": "t2"}]})");
  ASSERT_TRUE(r.ok) << errors(r);
  e = l->live->current();
  EXPECT_FALSE(allowed(*e, "bob", "cust"));
  EXPECT_TRUE(allowed(*e, "bob", "other"));
  // A deleted entity is gone from lookups; upserting it again brings it back under its old id.
  const auto trust = *e->program().schema.find_entity("Trust");
  EXPECT_FALSE(e->find(trust, "t2"));
  r = write(*l->live, R"({"upsert": [{"type": "Trust", "id": "t2",
      "attrs": {"grantor": "cust", "grantee": "other", "accepted": true}}]})");
  ASSERT_TRUE(r.ok) << errors(r);
  EXPECT_TRUE(allowed(*l->live->current(), "bob", "cust"));
  EXPECT_EQ(l->live->revision(), 3u);
  // A key that changes moves the entity in the delta's side of the index: found under the new
  // key (the world's index still has it under the old one), not under the old.
  r = write(*l->live, R"({"upsert": [{"type": "Trust", "id": "t1",
      "attrs": {"grantor": "cust", "grantee": "other", "accepted": true}},
      {"type": "Trust", "id": "t2", "attrs": {"grantor": "other", "grantee": "msp", "accepted": true}}]})");
  ASSERT_TRUE(r.ok) << errors(r);
  e = l->live->current();
  EXPECT_FALSE(allowed(*e, "ann", "cust"));
  EXPECT_TRUE(allowed(*e, "bob", "cust"));
  EXPECT_TRUE(allowed(*e, "ann", "other"));
  EXPECT_FALSE(allowed(*e, "bob", "msp"));
  r = write(*l->live, R"({"upsert": [{"type": "Trust", "id": "t2",
      "attrs": {"grantor": "other", "grantee": "kid", "accepted": true}}]})");
  ASSERT_TRUE(r.ok) << errors(r);
  EXPECT_FALSE(allowed(*l->live->current(), "ann", "other"));
}

TEST(Live, ABatchWithAnyErrorChangesNothing) {
  auto l = load();
  ASSERT_TRUE(l->live);
  struct Case {
    const char* batch;
    const char* code;
    const char* says;
  };
  const Case cases[] = {
      // A good upsert with a bad one: neither is applied.
      {R"({"upsert": [{"type": "Trust", "id": "t1", "attrs": {"grantor": "cust", "grantee": "msp", "accepted": false}},
                      {"type": "Person", "id": "x", "attrs": {"account": "nowhere", "name": "X"}}]})",
       "E0402", "upsert[1].attrs.account"},
      {R"({"upsert": [{"type": "Persn", "id": "x", "attrs": {}}]})", "E0", "Persn"},
      {R"({"upsert": [{"type": "Person", "id": "x", "attrs": {"account": "msp"}}]})", "E0", "missing attribute"},
      {R"({"delete": [{"type": "Account", "id": "msp"}]})", "reference", "still referred to"},
      {R"({"delete": [{"type": "Account", "id": "ghost"}]})", "reference", "no entity"},
      {R"({"upsert": [{"type": "Trust", "id": "t9", "attrs": {"grantor": "cust", "grantee": "msp", "accepted": true}}]})",
       "key", "same key"},
      {R"({"upsert": [{"type": "Account", "id": "kid2", "attrs": {"plan": "premium", "parent": "msp"}}]})", "requirement",
       "premium under a basic account"},
      // Changing the parent breaks the requirement for an unchanged child.
      {R"({"upsert": [{"type": "Account", "id": "cust", "attrs": {"plan": "basic"}}]})",
       "requirement", "children_of_premium_are_premium"},
      {R"({"upsert": [], "delete": []})", "batch", "empty"},
      {R"({"upsert": {}})", "batch", "array"},
      {R"({"insert": []})", "batch", "unknown field"},
      {R"({"upsert": [{"type": "Trust", "id": "t1", "attrs": {"grantor": "cust", "grantee": "msp", "accepted": true}}],
           "delete": [{"type": "Trust", "id": "t1"}]})",
       "reference", "upserted and deleted"},
  };
  for (const auto& c : cases) {
    auto r = write(*l->live, c.batch);
    EXPECT_FALSE(r.ok) << c.batch;
    const std::string all = errors(r);
    EXPECT_NE(all.find(c.code), std::string::npos) << all;
    EXPECT_NE(all.find(c.says), std::string::npos) << all;
  }
  EXPECT_EQ(l->live->revision(), 0u);
  EXPECT_TRUE(allowed(*l->live->current(), "ann", "cust"));
  EXPECT_EQ(l->live->counters().rejected, std::size(cases));
}

TEST(Live, DeletingAReferrerWithItsTargetInOneBatchIsAllowed) {
  auto l = load();
  ASSERT_TRUE(l->live);
  auto r = write(*l->live, R"({"delete": [{"type": "Trust", "id": "t1"}, {"type": "Person", "id": "ann"},
                                          {"type": "Account", "id": "msp"}]})");
  ASSERT_TRUE(r.ok) << errors(r);
  const auto& s = l->live->current()->program().schema;
  EXPECT_FALSE(l->live->current()->find(*s.find_entity("Account"), "msp"));
}

TEST(Live, ADeleteSeesReferrersThroughTheWritesToo) {
  // The world's referrers are found through an index of the column; one that an earlier batch
  // pointed elsewhere no longer counts, and a new entity that refers to it does.
  auto l = load();
  ASSERT_TRUE(l->live);
  ASSERT_TRUE(write(*l->live, R"({"upsert": [{"type": "Person", "id": "ann", "attrs": {"account": "cust", "name": "Ann"}}]})").ok);
  auto r = write(*l->live, R"({"delete": [{"type": "Account", "id": "msp"}]})");
  ASSERT_FALSE(r.ok);
  const std::string all = errors(r);
  EXPECT_EQ(all.find("Person"), std::string::npos) << all;  // ann left msp in revision 1
  EXPECT_NE(all.find("`Trust::\"t1\"`.grantee"), std::string::npos) << all;
  ASSERT_TRUE(write(*l->live, R"({"upsert": [{"type": "Person", "id": "dee", "attrs": {"account": "msp", "name": "Dee"}}]})").ok);
  r = write(*l->live, R"({"delete": [{"type": "Account", "id": "msp"}, {"type": "Trust", "id": "t1"}]})");
  ASSERT_FALSE(r.ok);
  EXPECT_NE(errors(r).find("`Person::\"dee\"`.account"), std::string::npos) << errors(r);
  r = write(*l->live, R"({"delete": [{"type": "Account", "id": "msp"}, {"type": "Trust", "id": "t1"},
                                     {"type": "Person", "id": "dee"}]})");
  EXPECT_TRUE(r.ok) << errors(r);
}

TEST(Live, ExportHoldsTheLiveFactsAndReloadsToTheSameDecisions) {
  auto l = load();
  ASSERT_TRUE(l->live);
  ASSERT_TRUE(write(*l->live, R"({"upsert": [{"type": "Account", "id": "other", "attrs": {"plan": "basic"}},
      {"type": "Person", "id": "bob", "attrs": {"account": "other", "name": "Bob \"B\""}},
      {"type": "Trust", "id": "t2", "attrs": {"grantor": "cust", "grantee": "other", "accepted": true}}],
      "delete": [{"type": "Trust", "id": "t1"}]})").ok);
  const auto at = l->live->begin_rebase();
  const auto facts = export_facts(*at);
  EXPECT_EQ(facts.size(), 7u);
  // A batch committed while the next base is built is applied again on top of it.
  ASSERT_TRUE(write(*l->live, R"({"upsert": [{"type": "Person", "id": "cy", "attrs": {"account": "cust", "name": "Cy"}}]})").ok);
  SourceManager sm;
  Diagnostics d;
  CompileOptions opts;
  opts.check.data_texts = {{"snap.json", nlohmann::json{{"entities", facts}}.dump()}};
  auto c = compile(sm, Sources::from_texts({{"p.treaty", kPolicy}}), d, opts);
  ASSERT_TRUE(c.engine) << (d.all().empty() ? "" : d.all().front().message);
  for (const char* p : {"ann", "bob"})
    for (const char* a : {"cust", "msp", "other"})
      EXPECT_EQ(allowed(*c.engine, p, a), allowed(*l->live->current(), p, a)) << p << " " << a;
  // Rebasing on the reloaded world keeps the revision and the decisions.
  std::string error;
  ASSERT_TRUE(l->live->rebase(std::shared_ptr<const Engine>(std::move(c.engine)), at->revision(), error)) << error;
  EXPECT_EQ(l->live->revision(), 2u);
  EXPECT_EQ(l->live->delta_size(), 1u) << "Cy, written during the rebuild";
  EXPECT_TRUE(allowed(*l->live->current(), "cy", "cust"));
  EXPECT_TRUE(allowed(*l->live->current(), "bob", "cust"));
  EXPECT_FALSE(allowed(*l->live->current(), "ann", "cust"));
}

/// A world of kPolicy from `data` (a facts JSON text), as a reloaded bundle's would be.
std::shared_ptr<const Engine> fresh_world(const std::string& data) {
  static SourceManager sm;  // the engines refer to their sources
  Diagnostics d;
  CompileOptions opts;
  opts.check.data_texts = {{"fresh.json", data}};
  auto c = compile(sm, Sources::from_texts({{"p.treaty", kPolicy}}), d, opts);
  EXPECT_TRUE(c.engine) << (d.all().empty() ? "" : d.all().front().message);
  return std::shared_ptr<const Engine>(std::move(c.engine));
}

bool has(const Engine& e, const char* type, const char* id) {
  return e.find(*e.program().schema.find_entity(type), id).has_value();
}

// Over a world that cannot take the live facts (a bundle's), a rebase applies the net state of
// every entity written since the start on top of the new world, as one batch: no batch is kept
// (memory does not grow with the writes) and the facts are the same as if each batch were applied
// again. A delete of an entity the next world does not have is done already; one of an entity
// the writes added and deleted is done again when the next world has it.
TEST(Live, ABundlesWritesAreAppliedAgainAsTheirNetStateAtARebase) {
  auto l = load();
  ASSERT_TRUE(l->live);
  l->live->rebase_with_net_writes();
  for (const char* b : {R"({"upsert": [{"type": "Person", "id": "bob", "attrs": {"account": "msp", "name": "B"}}]})",
                        R"({"upsert": [{"type": "Person", "id": "bob", "attrs": {"account": "cust", "name": "Bob"}}]})",
                        R"({"upsert": [{"type": "Person", "id": "zed", "attrs": {"account": "msp", "name": "Z"}}]})",
                        R"({"delete": [{"type": "Person", "id": "zed"}]})",
                        R"({"delete": [{"type": "Trust", "id": "t1"}]})"}) {
    const auto r = write(*l->live, b);
    ASSERT_TRUE(r.ok) << b << ": " << errors(r);
  }
  EXPECT_LE(l->live->history_since(0).size(), 1u) << "a batch is not kept once acknowledged";
  // The next world has zed (the writes deleted it) and no t1 (they deleted that too).
  const std::string next = R"({"entities": [
    {"type": "Account", "id": "cust", "attrs": {"plan": "premium"}},
    {"type": "Account", "id": "msp", "attrs": {"plan": "basic"}},
    {"type": "Person", "id": "ann", "attrs": {"account": "msp", "name": "Ann"}},
    {"type": "Person", "id": "zed", "attrs": {"account": "cust", "name": "Zed"}}]})";
  std::string error;
  (void)l->live->begin_rebase();
  ASSERT_TRUE(l->live->rebase(fresh_world(next), 0, error)) << error;
  EXPECT_EQ(l->live->revision(), 5u);
  EXPECT_EQ(l->live->delta_size(), 2u) << "bob, and zed deleted (t1 is not in this world)";
  auto check = [&](const char* when) {
    const auto e = l->live->current();
    EXPECT_TRUE(has(*e, "Person", "bob")) << when;
    EXPECT_TRUE(allowed(*e, "bob", "cust")) << when << ": bob's last upsert";
    EXPECT_FALSE(has(*e, "Person", "zed")) << when << ": deleted by the writes";
    EXPECT_FALSE(has(*e, "Trust", "t1")) << when;
    EXPECT_FALSE(allowed(*e, "ann", "cust")) << when;
  };
  check("after the first rebase");
  // One more batch, then back to the first world: the folded batch and the new one, folded again.
  ASSERT_TRUE(write(*l->live, R"({"upsert": [{"type": "Person", "id": "cy", "attrs": {"account": "msp", "name": "Cy"}}]})").ok);
  (void)l->live->begin_rebase();
  ASSERT_TRUE(l->live->rebase(fresh_world(kData), 0, error)) << error;
  EXPECT_EQ(l->live->revision(), 6u);
  check("after the second rebase");
  EXPECT_TRUE(has(*l->live->current(), "Account", "kid")) << "the world's own entities stay";
  EXPECT_TRUE(allowed(*l->live->current(), "cy", "msp"));
}

// The net state of the writes is as large as the entities they touched, which many batches
// within --max-batch can take past it: a rebase applies it all the same (the soak found reloads
// of a bundle refused once 100,000 distinct entities had been written).
TEST(Live, TheWritesNetStateIsNotBoundByTheBatchLimit) {
  LiveOptions o;
  o.max_batch = 2;
  LiveFacts live(fresh_world(kData), 0, o);
  live.rebase_with_net_writes();
  for (const char* b : {R"({"upsert": [{"type": "Person", "id": "p1", "attrs": {"account": "cust", "name": "1"}},
                                      {"type": "Person", "id": "p2", "attrs": {"account": "cust", "name": "2"}}]})",
                        R"({"upsert": [{"type": "Person", "id": "p3", "attrs": {"account": "cust", "name": "3"}}],
                           "delete": [{"type": "Trust", "id": "t1"}]})"}) {
    const auto r = write(live, b);
    ASSERT_TRUE(r.ok) << errors(r);
  }
  EXPECT_FALSE(write(live, R"({"upsert": [{"type": "Person", "id": "p4", "attrs": {"account": "cust", "name": "4"}},
      {"type": "Person", "id": "p5", "attrs": {"account": "cust", "name": "5"}},
      {"type": "Person", "id": "p6", "attrs": {"account": "cust", "name": "6"}}]})").ok) << "a client's batch is bound";
  std::string error;
  (void)live.begin_rebase();
  ASSERT_TRUE(live.rebase(fresh_world(kData), 0, error)) << error;
  for (const char* p : {"p1", "p2", "p3"}) EXPECT_TRUE(allowed(*live.current(), p, "cust")) << p;
  EXPECT_FALSE(has(*live.current(), "Trust", "t1"));
}

// A delete a rebase found done already (the world had no such entity) is the writes' until a
// later write gives the entity a state again: that state is what the next world gets.
TEST(Live, AnEntityWrittenAgainAfterItsDeleteWasFoundDoneKeepsItsNewState) {
  auto l = load();
  ASSERT_TRUE(l->live);
  l->live->rebase_with_net_writes();
  ASSERT_TRUE(write(*l->live, R"({"delete": [{"type": "Trust", "id": "t1"}]})").ok);
  std::string error;
  (void)l->live->begin_rebase();
  ASSERT_TRUE(l->live->rebase(fresh_world(R"({"entities": [
    {"type": "Account", "id": "cust", "attrs": {"plan": "premium"}},
    {"type": "Account", "id": "msp", "attrs": {"plan": "basic"}},
    {"type": "Person", "id": "ann", "attrs": {"account": "msp", "name": "Ann"}}]})"), 0, error)) << error;
  EXPECT_FALSE(has(*l->live->current(), "Trust", "t1"));
  const auto r = write(*l->live, R"({"upsert": [{"type": "Trust", "id": "t1",
      "attrs": {"grantor": "cust", "grantee": "msp", "accepted": true}}]})");
  ASSERT_TRUE(r.ok) << errors(r);
  (void)l->live->begin_rebase();
  ASSERT_TRUE(l->live->rebase(fresh_world(kData), 0, error)) << error;
  EXPECT_TRUE(has(*l->live->current(), "Trust", "t1")) << "upserted after its delete";
  EXPECT_TRUE(allowed(*l->live->current(), "ann", "cust"));
}

TEST(Live, ReadersDuringWritesSeeWholeBatches) {
  // Each batch flips the trust and the person's name together: a reader must never see one
  // without the other.
  auto l = load();
  ASSERT_TRUE(l->live);
  std::atomic<bool> stop{false};
  std::atomic<std::uint64_t> torn{0}, reads{0};
  std::thread reader([&] {
    while (!stop) {
      auto e = l->live->current();
      if (e->revision() == 0) continue;
      const auto& s = e->program().schema;
      const auto ann = e->find(*s.find_entity("Person"), "ann");
      if (!ann) continue;
      const Value name = e->attr_of(*ann, 1);
      const bool open = allowed(*e, "ann", "cust");
      if (open != (*name.s == "open")) ++torn;
      ++reads;
    }
  });
  // Write until the reader has read 2,000 revisions' worth (or 100,000 batches).
  int i = 0;
  for (; i < 100'000 && (i < 300 || reads < 2000); ++i) {
    const bool open = i % 2 == 0;
    nlohmann::json b = {{"upsert",
                         {{{"type", "Trust"}, {"id", "t1"},
                           {"attrs", {{"grantor", "cust"}, {"grantee", "msp"}, {"accepted", open}}}},
                          {{"type", "Person"}, {"id", "ann"},
                           {"attrs", {{"account", "msp"}, {"name", open ? "open" : "shut"}}}}}}};
    ASSERT_TRUE(l->live->write(b).ok);
  }
  stop = true;
  reader.join();
  EXPECT_EQ(torn.load(), 0u);
  EXPECT_GE(reads.load(), 2000u);
  EXPECT_LE(l->live->history_since(0).size(), 1u) << "an acknowledged batch is not kept";
  EXPECT_EQ(l->live->revision(), static_cast<std::uint64_t>(i));
}

}  // namespace
}  // namespace treaty::testing
