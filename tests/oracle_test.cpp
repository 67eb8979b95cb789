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
#include "support/reference.hpp"
#include "treaty/graph.hpp"

using namespace treaty;
using namespace treaty::testing;

namespace {

const char* kSchema = R"(
enum Level { low, mid, high }
entity Org { tier: Int, tags: Set<Level> }
entity Person { org: Org, level: Level, manager: Person?, name: String, orgs: Set<Org> }
entity Doc { org: Org, owner: Person, level: Level, secret: Bool, labels: Set<Level> }
action read principal Person resource Doc;
action edit(level: Level) principal Person resource Doc;
predicate senior(x: Person) = x.level == high or x.org.tier > 2;
predicate same_org(x: Person, d: Doc) = x.org == d.org;
)";

class ProgramGen {
 public:
  explicit ProgramGen(std::uint64_t seed) : rng_(seed) {}

  std::string program() {
    std::string out;
    const int n = pick(1, 5);
    for (int i = 0; i < n; ++i) out += rule(i);
    return out;
  }

  std::string world() {
    std::string out;
    for (int o = 1; o <= 3; ++o)
      out += "Org::\"o" + std::to_string(o) + "\" { tier: " + std::to_string(pick(0, 3)) + ", tags: " + level_set() + " }\n";
    for (int u = 1; u <= 4; ++u) {
      std::string manager = pick(0, 2) == 0 ? "none" : "\"u" + std::to_string(pick(1, 4)) + "\"";
      out += "Person::\"u" + std::to_string(u) + "\" { org: \"o" + std::to_string(pick(1, 3)) + "\", level: " + level() +
             ", manager: " + manager + ", name: \"" + (pick(0, 1) ? "a" : "b") + "\", orgs: " + org_set() + " }\n";
    }
    for (int d = 1; d <= 4; ++d)
      out += "Doc::\"d" + std::to_string(d) + "\" { org: \"o" + std::to_string(pick(1, 3)) + "\", owner: \"u" +
             std::to_string(pick(1, 4)) + "\", level: " + level() + ", secret: " + (pick(0, 1) ? "true" : "false") +
             ", labels: " + level_set() + " }\n";
    return out;
  }

 private:
  int pick(int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng_); }
  std::string level() { return std::vector<std::string>{"low", "mid", "high"}[static_cast<std::size_t>(pick(0, 2))]; }
  std::string level_set() {
    std::string s;
    for (const char* l : {"low", "mid", "high"})
      if (pick(0, 1)) s += (s.empty() ? "" : ", ") + std::string(l);
    return "{" + s + "}";
  }
  std::string org_set() {
    std::string s;
    for (int o = 1; o <= 3; ++o)
      if (pick(0, 1)) s += (s.empty() ? "" : ", ") + std::string("\"o") + std::to_string(o) + "\"";
    return "{" + s + "}";
  }

  struct Ctx {
    bool has_level_param = false;
    std::vector<std::string> persons = {"p", "r.owner"};
    std::vector<std::string> levels_vars;
    int fresh = 0;
  };

  std::string of(const std::vector<std::string>& v) { return v[static_cast<std::size_t>(pick(0, static_cast<int>(v.size()) - 1))]; }

  std::string person(Ctx& c) {
    std::vector<std::string> v = c.persons;
    v.push_back(of(c.persons) + ".manager");  // optional
    return of(v);
  }
  std::string org(Ctx& c) { return pick(0, 3) == 0 ? "r.org" : person(c) + ".org"; }
  std::string level_expr(Ctx& c) {
    std::vector<std::string> v = {"r.level", person(c) + ".level"};
    if (c.has_level_param) v.push_back("level");
    for (const auto& l : c.levels_vars) v.push_back(l);
    return of(v);
  }
  std::string int_expr(Ctx& c) { return pick(0, 2) == 0 ? std::to_string(pick(0, 3)) : org(c) + ".tier"; }

  std::string atom(Ctx& c) {
    switch (pick(0, 19)) {
      case 0: return person(c) + (pick(0, 1) ? " == " : " != ") + person(c);
      case 1: return org(c) + " == " + org(c);
      case 2: return level_expr(c) + " == " + (pick(0, 1) ? level() : level_expr(c));
      case 3: return int_expr(c) + std::vector<std::string>{" < ", " <= ", " > ", " >= "}[static_cast<std::size_t>(pick(0, 3))] + int_expr(c);
      case 4: return person(c) + ".name" + (pick(0, 1) ? " == \"a\"" : " < " + person(c) + ".name");
      case 5: return "r.secret";
      case 6: return level_expr(c) + " in " + std::vector<std::string>{"r.labels", org(c) + ".tags", level_set()}[static_cast<std::size_t>(pick(0, 2))];
      case 7: return org(c) + " in " + person(c) + ".orgs";
      case 8: return person(c) + ".orgs.contains_any({" + org(c) + ", " + org(c) + "})";
      case 9: return "r.labels.contains_all(" + level_set() + ")";
      case 10: return org(c) + ".tags.is_empty()";
      case 11: return person(c) + " is Person";
      case 12: return "senior(" + person(c) + ")";
      case 13: return "same_org(" + person(c) + ", r)";
      case 14: return person(c) + " == none";
      case 15: case 18: case 19: {  // weighted: probes are where the indexes are
        const std::string x = "x" + std::to_string(c.fresh++);
        Ctx inner = c;
        inner.persons.push_back(x);
        // Often of the shapes the compiler turns into an index probe: on one attribute, or on a
        // pair (a composite probe; `manager` is optional, so its key may be none).
        const std::string on_org = x + ".org == " + org(c) + " and ";
        const std::string on_level = level_expr(c) + " == " + x + ".level and ";
        const std::string on_manager = x + ".manager == " + person(c) + " and ";
        const std::string probe = std::vector<std::string>{
            "", on_org, on_org + on_level, on_manager + on_org, on_level + on_manager}[static_cast<std::size_t>(pick(0, 4))];
        return "(exists " + x + ": Person where " + probe + cond(inner, 1) + ")";
      }
      case 16: {
        const std::string l = "l" + std::to_string(c.fresh++);
        Ctx inner = c;
        inner.levels_vars.push_back(l);
        return "(exists " + l + " in r.labels where " + cond(inner, 1) + ")";
      }
      default: return "true";
    }
  }

  std::string cond(Ctx& c, int depth) {
    if (depth <= 0) return atom(c);
    switch (pick(0, 5)) {
      case 0: return "not (" + cond(c, depth - 1) + ")";
      case 1: return "(" + cond(c, depth - 1) + " and " + cond(c, depth - 1) + ")";
      case 2: return "(" + cond(c, depth - 1) + " or " + cond(c, depth - 1) + ")";
      default: return atom(c);
    }
  }

  std::string rule(int i) {
    Ctx c;
    std::string action;
    switch (pick(0, 4)) {
      case 0: action = "read"; break;
      case 1: action = "edit"; c.has_level_param = true; break;
      case 2: action = std::string("edit(level ") + (pick(0, 1) ? "== " + level() : "in " + level_set()) + ")";
        c.has_level_param = true;
        break;
      case 3: action = "{read, edit}"; break;
      default: action = "any"; break;
    }
    std::string s = std::string(pick(0, 2) == 0 ? "forbid" : "permit") + " rule" + std::to_string(i) +
                    " principal p: Person action " + action + " resource r: Doc";
    const int n = pick(0, 2);
    for (int k = 0; k < n; ++k) s += std::string(pick(0, 3) == 0 ? " unless " : " when ") + cond(c, 2);
    return s + ";\n";
  }

  std::mt19937_64 rng_;
};

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
