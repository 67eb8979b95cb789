// Random well-typed programs, worlds and requests (RapidCheck): the checker accepts every one;
// the indexed runtime agrees with the reference evaluator on every decision and on the
// determining rules; and a bundle round trip changes nothing. The schema is fixed; the rules,
// their conditions (every expression form of LANGUAGE.md section 6), the facts and the requests
// are random.
#include <gtest/gtest.h>
#include <rapidcheck/gtest.h>

#include <map>
#include <random>
#include <set>

#include "support/engine_util.hpp"
#include "support/oracle_gen.hpp"
#include "support/reference.hpp"
#include "treaty/graph.hpp"

using namespace treaty;
using namespace treaty::testing;

namespace {

/// The oracle's draws: a seeded Mersenne twister.
struct SeededPicks {
  SeededPicks(std::uint64_t seed) : rng(seed) {}  // NOLINT: implicit, ProgramGen g(seed)
  std::mt19937_64 rng;
  int pick(int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng); }
};
using ProgramGen = BasicProgramGen<SeededPicks>;
const char* const kSchema = kOracleSchema;

RC_GTEST_PROP(Oracle, RuntimeAgreesWithReferenceAndBundles, ()) {
  const auto seed = *rc::gen::arbitrary<std::uint64_t>();
  ProgramGen g(seed);
  const std::string rules = g.program();
  const std::string world = g.world();
  auto l = engine_from_texts({kSchema, rules, world});
  if (!l->engine) RC_FAIL("the checker rejected a well-typed program:\n" + render_human(l->sm, l->diags.all()) + rules);

  // The reference walks the syntax trees of the same texts.
  SourceManager sm;
  Diagnostics d;
  std::vector<syntax::File> files;
  for (const auto* t : {kSchema, rules.c_str(), world.c_str()}) files.push_back(parse_file(sm, sm.add("r", t), d));
  std::vector<const syntax::File*> fps;
  for (const auto& f : files) fps.push_back(&f);
  Reference ref(l->engine->program(), fps);

  // And a bundle round trip.
  SourceManager sm2;
  std::string error;
  auto loaded = read_bundle(write_bundle(l->engine->program(), l->sm), sm2, error);
  RC_ASSERT(loaded != nullptr);
  Engine e2(std::move(loaded));

  const Engine& e = *l->engine;
  const auto& p = e.program();
  std::size_t allowed = 0, total = 0;
  const auto person_t = p.schema.find_entity("Person").value(), doc_t = p.schema.find_entity("Doc").value();
  for (EntityId u : p.world().of_type(person_t))
    for (EntityId doc : p.world().of_type(doc_t))
      for (int a = 0; a < 4; ++a) {
        const bool edit = a > 0;
        const auto action = p.schema.find_action(edit ? "edit" : "read").value();
        std::vector<Value> args;
        std::map<std::string, Value> named;
        if (edit) {
          args.push_back(Value::enumv(p.schema.find_enum("Level").value(), static_cast<std::uint32_t>(a - 1)));
          named["level"] = args[0];
        }
        Request r;
        r.principal = u;
        r.resource = doc;
        r.action = action;
        r.args = args;
        for (bool explain : {true, false}) {
          const Decision got = e.decide(r, explain);
          const auto want = ref.decide(u, edit ? "edit" : "read", named, doc);
          RC_ASSERT(got.errors.empty());
          if (got.allow != want.allow)
            RC_FAIL("decision differs for " + e.entity_name(u, nullptr) + " " + (edit ? "edit" : "read") + " " +
                    e.entity_name(doc, nullptr) + ":\n" + rules + world);
          if (explain) {
            std::set<std::string> names;
            for (auto ri : got.determining) names.insert(p.rules[ri].name);
            RC_ASSERT(names == want.determining);
          }
        }
        RC_ASSERT(e2.decide(r).allow == e.decide(r).allow);
        allowed += e.decide(r).allow;
        ++total;
      }
  // The property is not vacuous: most programs allow some requests and deny others.
  RC_CLASSIFY(allowed == 0, "nothing allowed");
  RC_CLASSIFY(allowed == total, "everything allowed");
  RC_CLASSIFY(allowed > 0 && allowed < total, "mixed decisions");
  RC_CLASSIFY(std::any_of(p.indexes.begin(), p.indexes.end(), [](const IndexSpec& s) { return s.column2 >= 0; }),
              "composite probe");
}

// Decisions do not depend on rule or fact order, and adding a permit never turns an allow into
// a deny; removing a forbid never does either.
RC_GTEST_PROP(Oracle, OrderAndMonotonicity, ()) {
  const auto seed = *rc::gen::arbitrary<std::uint64_t>();
  ProgramGen g(seed);
  const std::string rules = g.program();
  const std::string world = g.world();
  ProgramGen extra(seed ^ 0x9e3779b97f4a7c15ull);
  std::string more = extra.program();
  // Only the extra permits: rename to avoid clashes.
  std::string permits;
  std::size_t pos = 0;
  int k = 0;
  while ((pos = more.find('\n')) != std::string::npos) {
    std::string line = more.substr(0, pos);
    more.erase(0, pos + 1);
    if (line.rfind("permit", 0) == 0) {
      const auto sp = line.find(' ', 7);
      permits += "permit extra" + std::to_string(k++) + line.substr(sp) + "\n";
    }
  }
  std::string without_forbids;
  {
    std::string rest = rules;
    while ((pos = rest.find('\n')) != std::string::npos) {
      std::string line = rest.substr(0, pos);
      rest.erase(0, pos + 1);
      if (line.rfind("forbid", 0) != 0) without_forbids += line + "\n";
    }
  }
  auto base = engine_from_texts({kSchema, rules, world});
  auto reordered = engine_from_texts({world, rules, kSchema});
  auto plus = engine_from_texts({kSchema, rules, permits, world});
  auto minus = engine_from_texts({kSchema, without_forbids, world});
  RC_ASSERT(base->engine && reordered->engine && plus->engine && minus->engine);
  const auto& p = base->engine->program();
  for (const char* pid : {"u1", "u2", "u3", "u4"})
    for (const char* did : {"d1", "d2", "d3", "d4"}) {
      const Decision b = base->engine->decide(request(*base->engine, "Person", pid, "read", "Doc", did));
      const Decision o = reordered->engine->decide(request(*reordered->engine, "Person", pid, "read", "Doc", did));
      RC_ASSERT(b.allow == o.allow);
      if (b.allow) {
        RC_ASSERT(plus->engine->decide(request(*plus->engine, "Person", pid, "read", "Doc", did)).allow);
        RC_ASSERT(minus->engine->decide(request(*minus->engine, "Person", pid, "read", "Doc", did)).allow);
      }
      // Default deny: with no permit at all nothing is allowed.
      if (p.rules.empty()) RC_ASSERT(!b.allow);
    }
}

// Every edge a decision's picture draws is a fact the decision read (treaty/graph.hpp): a fact
// edge stands for attribute reads that Engine::decision_facts recorded while evaluating the
// drawn rules again, each read value is the entity's attribute in the world, the attribute is
// one the drawn rules' conditions (or the predicates they call) read, and the edge runs from the
// entity (a link: between its key's two ends) to what the attribute names. Request and rule edges
// start at the decision and end at the principal, resource or a drawn rule. The DOT text draws
// exactly these edges, between declared nodes.
RC_GTEST_PROP(Oracle, DecisionPicturesDrawOnlyFactsTheDecisionRead, ()) {
  const auto seed = *rc::gen::arbitrary<std::uint64_t>();
  ProgramGen g(seed);
  const std::string rules = g.program();
  const std::string world = g.world();
  auto l = engine_from_texts({kSchema, rules, world});
  if (!l->engine) RC_FAIL("the checker rejected a well-typed program:\n" + render_human(l->sm, l->diags.all()) + rules);
  const Engine& e = *l->engine;
  const auto& p = e.program();
  const auto& s = p.schema;
  // The attribute names each rule's conditions read, through the predicates they call.
  auto attrs_of_rule = [&](std::uint32_t ri) {
    std::set<std::uint32_t> out;
    std::vector<NodeId> todo;
    for (const auto& c : p.rules[ri].conditions) todo.push_back(c.expr);
    std::set<NodeId> seen;
    while (!todo.empty()) {
      const NodeId n = todo.back();
      todo.pop_back();
      if (!seen.insert(n).second) continue;
      const Node& nd = p.nodes[n];
      if (nd.op == Op::attr) out.insert(nd.a);
      if (nd.op == Op::call) todo.push_back(p.predicates[nd.a].body);
      for (NodeId k : nd.kids) todo.push_back(k);
    }
    return out;
  };
  auto names = [&](const Value& v, EntityId target) {
    if (v.tag == Tag::entity) return static_cast<EntityId>(v.i) == target;
    return set_contains(v, Value::entity(target));
  };
  std::size_t fact_edges = 0, failed_edges = 0;
  const auto person_t = s.find_entity("Person").value(), doc_t = s.find_entity("Doc").value();
  for (EntityId u : p.world().of_type(person_t))
    for (EntityId doc : p.world().of_type(doc_t)) {
      Request r;
      r.principal = u;
      r.resource = doc;
      r.action = s.find_action("read").value();
      const Decision d = e.decide(r, true);
      const DecisionFacts facts = e.decision_facts(d, r);
      const Graph pic = decision_graph(e, d, r, &l->sm);
      std::set<std::string> rule_keys;
      std::set<std::uint32_t> readable;
      for (const auto& rf : facts.rules) {
        rule_keys.insert("rule:" + p.rules[rf.rule].name);
        const auto a = attrs_of_rule(rf.rule);
        readable.insert(a.begin(), a.end());
        for (const auto& fr : rf.reads) {
          // Each recorded read is what the world holds.
          const int col = s.entities[e.type_of(fr.entity)].column(fr.attr);
          RC_ASSERT(col >= 0);
          RC_ASSERT(value_equal(e.attr_of(fr.entity, static_cast<std::uint32_t>(col)), fr.value));
        }
      }
      for (const auto& x : pic.edges) {
        RC_ASSERT(pic.find(x.from) != nullptr);
        RC_ASSERT(pic.find(x.to) != nullptr);
        if (x.kind == GraphEdge::Kind::request) {
          RC_ASSERT(x.from == std::string("decision"));
          RC_ASSERT(x.to == e.entity_name(u, nullptr) || x.to == e.entity_name(doc, nullptr));
          continue;
        }
        if (x.kind == GraphEdge::Kind::rule) {
          RC_ASSERT(x.from == std::string("decision"));
          RC_ASSERT(rule_keys.count(x.to) == 1u);
          continue;
        }
        ++fact_edges;
        failed_edges += x.failed;
        RC_ASSERT(x.read);
        RC_ASSERT(!x.facts.empty());
        for (const auto& f : x.facts) {
          const auto& attr = s.entities[e.type_of(f.entity)].attrs.at(f.column);
          RC_ASSERT(names(e.attr_of(f.entity, f.column), f.target));
          RC_ASSERT(readable.count(attr.name_id) == 1u);
          bool recorded = false;
          for (const auto& rf : facts.rules)
            for (const auto& fr : rf.reads)
              recorded = recorded || (fr.entity == f.entity && fr.attr == attr.name_id && names(fr.value, f.target));
          if (!recorded) RC_FAIL("edge " + x.from + " -> " + x.to + " (" + x.label + ") was not read:\n" + rules + world);
        }
        if (x.facts.size() == 1) {
          RC_ASSERT(x.from == e.entity_name(x.facts[0].entity, nullptr));
          RC_ASSERT(x.to == e.entity_name(x.facts[0].target, nullptr));
        } else {
          RC_ASSERT(x.from == e.entity_name(x.facts[0].target, nullptr));
          RC_ASSERT(x.to == e.entity_name(x.facts[1].target, nullptr));
        }
      }
      // The DOT text: one `->` statement per edge, each between declared nodes.
      const std::string dot = to_dot(pic);
      std::size_t arrows = 0;
      for (auto at = dot.find("\" -> \""); at != std::string::npos; at = dot.find("\" -> \"", at + 1)) ++arrows;
      RC_ASSERT(arrows == pic.edges.size());
    }
  RC_CLASSIFY(fact_edges == 0, "no fact drawn");
  RC_CLASSIFY(failed_edges > 0, "a failed condition on an edge");
}

}  // namespace
