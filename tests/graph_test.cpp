// Pictures (treaty/graph.hpp): the world graph's schema-driven drawing (links, dashed links,
// --types, --around, the node limit), a decision's picture of the facts it read, and the
// escaping of DOT and Mermaid text.
#include <gtest/gtest.h>

#include <algorithm>
#include <set>

#include "support/engine_util.hpp"
#include "treaty/graph.hpp"

using namespace treaty;
using namespace treaty::testing;

namespace {

const GraphEdge* edge(const Graph& g, const std::string& from, const std::string& to) {
  for (const auto& e : g.edges)
    if (e.from == from && e.to == to) return &e;
  return nullptr;
}

std::size_t count(const std::string& text, const std::string& what) {
  std::size_t n = 0;
  for (auto at = text.find(what); at != std::string::npos; at = text.find(what, at + what.size())) ++n;
  return n;
}

TEST(Graph, LinkTypesFollowTheSchema) {
  auto four = engine_from_paths({"policies/4me/lib"});
  ASSERT_TRUE(four->engine) << render_human(four->sm, four->diags.all());
  const auto& s = four->engine->program().schema;
  // A key of two required entity attributes, referred to by nothing: drawn as an edge.
  EXPECT_TRUE(is_link_type(s, *s.find_entity("Trust")));
  // Three entity attributes and no key of two; no key at all; referred to by others.
  EXPECT_FALSE(is_link_type(s, *s.find_entity("Sla")));
  EXPECT_FALSE(is_link_type(s, *s.find_entity("RoleAssignment")));
  EXPECT_FALSE(is_link_type(s, *s.find_entity("Account")));
  EXPECT_FALSE(is_link_type(s, *s.find_entity("Person")));

  auto l = engine_from_texts({R"(
entity A {}
entity L { from: A, to: A, on: Bool, key (from, to) }
entity Referred { from: A, to: A, key (from, to) }
entity Holder { r: Referred }
entity Acted { from: A, to: A, key (from, to) }
entity Optional { from: A, to: A?, key (from, to) }
action act principal A resource Acted;
)"});
  ASSERT_TRUE(l->engine) << render_human(l->sm, l->diags.all());
  const auto& t = l->engine->program().schema;
  EXPECT_TRUE(is_link_type(t, *t.find_entity("L")));
  EXPECT_FALSE(is_link_type(t, *t.find_entity("Referred")));  // an attribute refers to it
  EXPECT_FALSE(is_link_type(t, *t.find_entity("Acted")));     // a request acts on it
  EXPECT_FALSE(is_link_type(t, *t.find_entity("Optional")));  // an end may be missing
}

TEST(Graph, TrustsAreEdgesAndAnUnacceptedOneIsDashed) {
  auto l = engine_from_paths({"policies/4me"});
  ASSERT_TRUE(l->engine) << render_human(l->sm, l->diags.all());
  const auto& s = l->engine->program().schema;
  WorldGraphOptions o;
  o.types = {*s.find_entity("Trust")};
  Graph g;
  std::string error;
  ASSERT_TRUE(world_graph(*l->engine, o, g, error)) << error;
  // --types Trust brings each trust's two accounts, and nothing else.
  for (const auto& n : g.nodes) EXPECT_EQ(n.key.rfind("Account::", 0), 0u) << n.key;
  const GraphEdge* pending = edge(g, "Account::\"t_other\"", "Account::\"t_msp\"");
  ASSERT_TRUE(pending);
  EXPECT_TRUE(pending->dashed);
  EXPECT_NE(pending->label.find("Trust::\"t_other_msp\""), std::string::npos);
  EXPECT_NE(pending->label.find("accepted: false"), std::string::npos);
  EXPECT_NE(pending->label.find("shared_roles: {service_desk_analyst}"), std::string::npos);
  ASSERT_EQ(pending->facts.size(), 2u);
  for (const auto& e : g.edges)
    if (&e != pending) {
      EXPECT_EQ(e.label.find("accepted: false") != std::string::npos, e.dashed) << e.label;
    }
  const std::string dot = to_dot(g);
  EXPECT_NE(dot.find("\"Account::\\\"t_other\\\"\" -> \"Account::\\\"t_msp\\\"\" [label=\"Trust::\\\"t_other_msp\\\"\\n"),
            std::string::npos)
      << dot;
  EXPECT_NE(to_mermaid(g).find("-.->|\"Trust::#quot;t_other_msp#quot;"), std::string::npos);
}

TEST(Graph, AroundDrawsTheNeighbourhoodToItsDepth) {
  auto l = engine_from_paths({"policies/4me/lib", "policies/examples/4me_enterprise_msp"});
  ASSERT_TRUE(l->engine) << render_human(l->sm, l->diags.all());
  const auto& s = l->engine->program().schema;
  WorldGraphOptions o;
  o.around = *l->engine->find(*s.find_entity("Person"), "ivan");
  o.depth = 1;
  Graph one;
  std::string error;
  ASSERT_TRUE(world_graph(*l->engine, o, one, error)) << error;
  std::set<std::string> keys;
  for (const auto& n : one.nodes) keys.insert(n.key);
  EXPECT_EQ(keys, (std::set<std::string>{"Account::\"initrode\"", "Person::\"ivan\""}));
  o.depth = 2;
  Graph two;
  ASSERT_TRUE(world_graph(*l->engine, o, two, error)) << error;
  // Two steps: initrode's people, team, service and the accounts it has trusts or SLAs with.
  EXPECT_TRUE(two.find("Person::\"ida\""));
  EXPECT_TRUE(two.find("Account::\"globex_it\""));  // through the trust, one step from initrode
  EXPECT_TRUE(two.find("Team::\"initrode_noc\""));
  EXPECT_FALSE(two.find("Person::\"gina\""));  // three steps
  EXPECT_TRUE(edge(two, "Account::\"globex_it\"", "Account::\"initrode\""));
}

TEST(Graph, TooManyNodesIsRefusedWithTheCounts) {
  auto l = engine_from_paths({"policies/4me"});
  ASSERT_TRUE(l->engine);
  WorldGraphOptions o;
  o.max_nodes = 10;
  Graph g;
  std::string error;
  EXPECT_FALSE(world_graph(*l->engine, o, g, error));
  EXPECT_NE(error.find("more than the limit of 10"), std::string::npos) << error;
  EXPECT_NE(error.find("Person "), std::string::npos) << error;
  o.max_nodes = 0;
  EXPECT_TRUE(world_graph(*l->engine, o, g, error));
  EXPECT_GT(g.nodes.size(), 10u);
}

TEST(Graph, EntityAttributesAreEdgesAndTheRestAreLines) {
  auto l = engine_from_texts({R"(
enum Color { red, blue }
entity Org { tier: Int }
entity User { org: Org, friends: Set<User>, colors: Set<Color>, name: String, boss: User? }
action see principal User resource User;
permit same_org principal p: User action see resource r: User when p.org == r.org;
User::"a" { org: "o", friends: {"b", "c"}, colors: {red}, name: "A", boss: none }
User::"b" { org: "o", friends: {}, colors: {}, name: "B", boss: "a" }
User::"c" { org: "o2", friends: {}, colors: {blue, red}, name: "C", boss: none }
Org::"o" { tier: 1 }
Org::"o2" { tier: 2 }
)"});
  ASSERT_TRUE(l->engine) << render_human(l->sm, l->diags.all());
  Graph g;
  std::string error;
  ASSERT_TRUE(world_graph(*l->engine, {}, g, error)) << error;
  EXPECT_EQ(g.nodes.size(), 5u);
  ASSERT_TRUE(edge(g, "User::\"a\"", "User::\"b\""));
  EXPECT_EQ(edge(g, "User::\"a\"", "User::\"b\"")->label, "friends");
  EXPECT_EQ(edge(g, "User::\"b\"", "User::\"a\"")->label, "boss");
  EXPECT_EQ(edge(g, "User::\"c\"", "Org::\"o2\"")->label, "org");
  const GraphNode* c = g.find("User::\"c\"");
  ASSERT_TRUE(c);
  EXPECT_EQ(c->lines, (std::vector<std::string>{"colors: {red, blue}", "name: \"C\""}));
  // Sorted: the same facts give the same text.
  EXPECT_TRUE(std::is_sorted(g.nodes.begin(), g.nodes.end(), [](auto& x, auto& y) { return x.key < y.key; }));
  EXPECT_EQ(to_dot(g), [&] {
    Graph again;
    EXPECT_TRUE(world_graph(*l->engine, {}, again, error));
    return to_dot(again);
  }());
  // --types User: the edges to organizations are not drawn; their names stay in the label.
  WorldGraphOptions o;
  o.types = {*l->engine->program().schema.find_entity("User")};
  Graph users;
  ASSERT_TRUE(world_graph(*l->engine, o, users, error));
  EXPECT_EQ(users.nodes.size(), 3u);
  EXPECT_FALSE(edge(users, "User::\"c\"", "Org::\"o2\""));
  EXPECT_NE(std::find(users.find("User::\"c\"")->lines.begin(), users.find("User::\"c\"")->lines.end(),
                      "org: Org::\"o2\""),
            users.find("User::\"c\"")->lines.end());
}

TEST(Graph, DotAndMermaidEscapeEverything) {
  auto l = engine_from_texts({R"(
entity Thing { next: Thing?, note: String }
Thing::"say \"hi\" \\ <b>|#&`" { next: "ünï ☃", note: "line\none" }
Thing::"ünï ☃" { next: none, note: "" }
)"});
  ASSERT_TRUE(l->engine) << render_human(l->sm, l->diags.all());
  Graph g;
  std::string error;
  ASSERT_TRUE(world_graph(*l->engine, {}, g, error)) << error;
  const std::string dot = to_dot(g);
  // The id quoted as Treaty quotes it (`\"`, `\\`, `\n`), then escaped again for DOT.
  EXPECT_NE(dot.find(R"("Thing::\"say \\\"hi\\\" \\\\ <b>|#&`\"" -> "Thing::\"ünï ☃\"")"), std::string::npos) << dot;
  EXPECT_NE(dot.find(R"(note: \"line\\none\"\l)"), std::string::npos) << dot;
  for (char c : dot) EXPECT_TRUE(c == '\n' || static_cast<unsigned char>(c) >= 0x20) << "a raw control character";
  const std::string mm = to_mermaid(g);
  EXPECT_NE(mm.find("Thing::#quot;say \\#quot;hi\\#quot; \\\\ #lt;b#gt;#124;#35;#amp;#96;#quot;"), std::string::npos)
      << mm;
  EXPECT_NE(mm.find("ünï ☃"), std::string::npos);
  EXPECT_EQ(mm.find("<b>"), std::string::npos);
  // Every line of the flowchart is one statement: no label breaks a line.
  EXPECT_EQ(count(mm, "\n"), 1 + g.nodes.size() + g.edges.size());
}

TEST(Graph, AnAllowDrawsTheTrustItsExistsFound) {
  auto l = engine_from_paths({"policies/4me/lib", "policies/examples/4me_enterprise_msp"});
  ASSERT_TRUE(l->engine) << render_human(l->sm, l->diags.all());
  const Engine& e = *l->engine;
  const Request r = request(e, "Person", "ivan", "assign_task", "Person", "ceo", {enum_value(e, "TaskKind", "approval")});
  const Decision d = e.decide(r, true);
  ASSERT_TRUE(d.allow);
  const Graph g = decision_graph(e, d, r, &l->sm);
  const GraphNode* dn = g.find("decision");
  ASSERT_TRUE(dn);
  EXPECT_EQ(dn->title, "ALLOW");
  EXPECT_EQ(dn->lines.at(0), "Person::\"ivan\" assign_task(kind: approval) Person::\"ceo\"");
  for (auto ri : d.determining) EXPECT_TRUE(g.find("rule:" + e.program().rules[ri].name));
  // The trust the `exists` found, drawn as the link between the two accounts, read by the rule.
  const GraphEdge* trust = edge(g, "Account::\"globex_it\"", "Account::\"initrode\"");
  ASSERT_TRUE(trust) << to_dot(g);
  EXPECT_TRUE(trust->read);
  EXPECT_FALSE(trust->failed);
  EXPECT_NE(trust->label.find("Trust::\"globex_it_initrode\""), std::string::npos);
  EXPECT_NE(trust->label.find("approval_tasks_to_anyone"), std::string::npos) << trust->label;
  EXPECT_TRUE(edge(g, "Person::\"ivan\"", "Account::\"initrode\""));
  EXPECT_TRUE(edge(g, "decision", "Person::\"ivan\""));
  EXPECT_TRUE(edge(g, "decision", "Person::\"ceo\""));
  // The rule looks for the customer's trust from the assignee's account directly first (an
  // `exists` that holds for none: globex trusts only the partner) and then through its directory
  // account. The trust that first `exists` read is drawn as its closest candidate: dotted, grey,
  // not part of the allow.
  const GraphEdge* partner = edge(g, "Account::\"globex\"", "Account::\"partnr\"");
  ASSERT_TRUE(partner) << to_dot(g);
  EXPECT_TRUE(partner->read);
  EXPECT_TRUE(partner->near);
  EXPECT_FALSE(partner->allowed);
  EXPECT_FALSE(trust->near);
  EXPECT_TRUE(trust->allowed);
  // Nothing the decision did not read: the partner's people are not drawn.
  EXPECT_FALSE(g.find("Person::\"pam\""));
}

TEST(Graph, ADenyMarksTheFailedConditionOnTheFactsItRead) {
  auto l = engine_from_paths({"policies/4me"});
  ASSERT_TRUE(l->engine) << render_human(l->sm, l->diags.all());
  const Engine& e = *l->engine;
  const Request r = request(e, "Person", "t_outsourced", "register_request", "Person", "t_ospec");
  const Decision d = e.decide(r, true);
  ASSERT_FALSE(d.allow);
  ASSERT_FALSE(d.misses.empty());
  const Graph g = decision_graph(e, d, r, &l->sm);
  EXPECT_EQ(g.find("decision")->title, "DENY");
  bool failed_fact = false, failed_rule = false;
  for (const auto& x : g.edges)
    if (x.kind == GraphEdge::Kind::fact && x.failed) {
      failed_fact = true;
      EXPECT_NE(x.label.find("✗ "), std::string::npos) << x.label;
    }
  for (const auto& n : g.nodes)
    if (n.kind == GraphNode::Kind::rule) {
      failed_rule = failed_rule || n.failed;
      EXPECT_TRUE(std::any_of(n.lines.begin(), n.lines.end(), [](const std::string& x) { return x.rfind("✗ ", 0) == 0; }))
          << n.key;
    }
  EXPECT_TRUE(failed_fact) << to_dot(g);
  EXPECT_TRUE(failed_rule);
  // The role assignment in t_other is read; the trust that would make it count is not accepted,
  // and the closest candidate of the `exists` that looked for an accepted one.
  const GraphEdge* pending = edge(g, "Account::\"t_other\"", "Account::\"t_msp\"");
  ASSERT_TRUE(pending) << to_dot(g);
  EXPECT_TRUE(pending->dashed);
  EXPECT_TRUE(pending->read);
  EXPECT_TRUE(pending->failed);
  EXPECT_NE(pending->label.find("accepted: false"), std::string::npos) << pending->label;
}

TEST(Graph, ErrorsAndNoRulesStillDraw) {
  auto l = engine_from_texts({R"(
entity U {}
action a principal U resource U;
U::"x" {}
)"});
  ASSERT_TRUE(l->engine) << render_human(l->sm, l->diags.all());
  const Request r = request(*l->engine, "U", "x", "a", "U", "x");
  const Decision d = l->engine->decide(r, true);
  const Graph g = decision_graph(*l->engine, d, r, &l->sm);
  EXPECT_EQ(g.find("decision")->lines.back(), "no permit of this action applies to these types (default deny)");
  EXPECT_EQ(g.nodes.size(), 2u);  // the decision and U::"x", both principal and resource
  Decision failed;
  failed.errors.push_back("evaluation limit exceeded");
  const Graph ge = decision_graph(*l->engine, failed, r, &l->sm);
  EXPECT_EQ(ge.find("decision")->lines.back(), "error: evaluation limit exceeded");
}

}  // namespace
