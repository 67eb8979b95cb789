// Pictures of the facts: the world and a decision as graphs, written as DOT, Mermaid or JSON
// (treaty/graph.hpp; docs/explain.md).
#include "treaty/graph.hpp"

#include <algorithm>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <tuple>
#include <unordered_map>

#include "treaty/diagnostics.hpp"

namespace treaty {

namespace {

/// The entities a graph draws, over the engine's facts (live writes included) and an overlay.
struct Facts {
  const Engine& engine;
  const Overlay* overlay;
  const Schema& schema;

  Facts(const Engine& e, const Overlay* o) : engine(e), overlay(o), schema(e.program().schema) {}

  [[nodiscard]] const Overlay::Entity* own(EntityId x) const {
    return x >= engine.entity_end() && overlay ? overlay->get(x) : nullptr;
  }
  [[nodiscard]] TypeId type(EntityId x) const {
    if (x < engine.entity_end()) return engine.type_of(x);
    const auto* oe = own(x);
    return oe ? oe->type : kNone32;
  }
  [[nodiscard]] std::string_view id(EntityId x) const {
    if (x < engine.entity_end()) return engine.id_of(x);
    const auto* oe = own(x);
    return oe ? std::string_view(*oe->id) : std::string_view();
  }
  [[nodiscard]] Value attr(EntityId x, std::uint32_t column) const {
    if (x < engine.entity_end()) return engine.attr_of(x, column);
    const auto* oe = own(x);
    return oe && column < oe->attrs.size() ? oe->attrs[column] : Value::none();
  }
  /// `Type::"id"`, the id quoted as every message quotes one (escapes, never a raw newline).
  [[nodiscard]] std::string name(EntityId x) const {
    const TypeId t = type(x);
    if (t == kNone32) return "<unknown entity>";
    return schema.entities[t].name + "::" + quote_string(id(x));
  }
  /// The entities a value names: itself, or the entity elements of a set.
  [[nodiscard]] std::vector<EntityId> targets(const Value& v) const {
    std::vector<EntityId> out;
    if (v.tag == Tag::entity) out.push_back(static_cast<EntityId>(v.i));
    set_any(v, [&](const Value& x) {
      if (x.tag == Tag::entity) out.push_back(static_cast<EntityId>(x.i));
      return false;
    });
    return out;
  }
  /// A value as the language writes it; a large set shows its first elements and a count.
  [[nodiscard]] std::string show(const Value& v) const {
    switch (v.tag) {
      case Tag::none: return "none";
      case Tag::bool_: return v.i ? "true" : "false";
      case Tag::int_: return std::to_string(v.i);
      case Tag::str: return quote_string(*v.s);
      case Tag::enum_: return schema.enums[v.aux].values[static_cast<std::size_t>(v.i)];
      case Tag::entity: return name(static_cast<EntityId>(v.i));
      case Tag::set:
      case Tag::enum_set: {
        constexpr std::size_t kShown = 6;
        std::string out = "{";
        std::size_t n = 0;
        set_any(v, [&](const Value& x) {
          if (n < kShown) out += (n ? ", " : "") + show(x);
          ++n;
          return false;
        });
        if (n > kShown) out += ", ... " + std::to_string(n - kShown) + " more";
        return out + "}";
      }
    }
    return "?";
  }
};

bool entity_typed(const Type& t) { return t.base == Base::entity; }

/// The two key columns of a link type, when `t` is one (see treaty/graph.hpp).
std::optional<std::pair<std::uint32_t, std::uint32_t>> link_key(const Schema& s, TypeId t) {
  if (t >= s.entities.size()) return std::nullopt;
  for (const auto& a : s.actions)
    if (std::binary_search(a.principals.begin(), a.principals.end(), t) ||
        std::binary_search(a.resources.begin(), a.resources.end(), t))
      return std::nullopt;  // something a request acts on is a thing, not a link
  for (const auto& et : s.entities)
    for (const auto& a : et.attrs)
      if (entity_typed(a.type) && std::find(a.type.entities.begin(), a.type.entities.end(), t) != a.type.entities.end())
        return std::nullopt;  // referred to: it must be a node to be pointed at
  const auto& et = s.entities[t];
  for (const auto& key : et.keys) {
    if (key.size() != 2) continue;
    const auto& a = et.attrs[key[0]].type;
    const auto& b = et.attrs[key[1]].type;
    if (entity_typed(a) && entity_typed(b) && !a.set && !b.set && !a.optional && !b.optional)
      return std::pair{key[0], key[1]};
  }
  return std::nullopt;
}

/// A link not in effect: one of its Bool attributes is false (a trust not `accepted`).
bool link_dashed(const Facts& f, EntityId l) {
  const auto& et = f.schema.entities[f.type(l)];
  for (std::uint32_t c = 0; c < et.attrs.size(); ++c)
    if (et.attrs[c].type.base == Base::bool_ && !et.attrs[c].type.set) {
      const Value v = f.attr(l, c);
      if (v.tag == Tag::bool_ && v.i == 0) return true;
    }
  return false;
}

/// Nodes and edges by key while a graph is built, so each is drawn once and the result is sorted.
struct Builder {
  std::map<std::string, GraphNode> nodes;
  /// By (from, to, what): `what` is the attribute's name, or the link's name.
  std::map<std::tuple<std::string, std::string, std::string>, GraphEdge> edges;

  GraphNode& node(const std::string& key) {
    auto [it, fresh] = nodes.try_emplace(key);
    if (fresh) it->second.key = key;
    return it->second;
  }
  GraphNode& entity(const Facts& f, EntityId x) {
    GraphNode& n = node(f.name(x));
    n.kind = GraphNode::Kind::entity;
    n.entity = x;
    if (n.title.empty()) n.title = n.key;
    return n;
  }
  GraphEdge& edge(const std::string& from, const std::string& to, const std::string& what) {
    auto [it, fresh] = edges.try_emplace({from, to, what});
    if (fresh) {
      it->second.from = from;
      it->second.to = to;
    }
    return it->second;
  }
  Graph finish(std::string name, std::string title) {
    Graph g;
    g.name = std::move(name);
    g.title = std::move(title);
    for (auto& [k, n] : nodes) g.nodes.push_back(std::move(n));
    for (auto& [k, e] : edges) g.edges.push_back(std::move(e));
    std::sort(g.edges.begin(), g.edges.end(), [](const GraphEdge& a, const GraphEdge& b) {
      return std::tie(a.from, a.to, a.label) < std::tie(b.from, b.to, b.label);
    });
    return g;
  }
};

void add_line(GraphNode& n, const std::string& line) {
  if (std::find(n.lines.begin(), n.lines.end(), line) == n.lines.end()) n.lines.push_back(line);
}

/// The link edge of `l` (its key's ends drawn), labelled with its name and other attributes.
void draw_link(Builder& b, const Facts& f, EntityId l, std::pair<std::uint32_t, std::uint32_t> key, bool all_attrs) {
  const auto& et = f.schema.entities[f.type(l)];
  const auto ta = f.targets(f.attr(l, key.first)), tb = f.targets(f.attr(l, key.second));
  if (ta.size() != 1 || tb.size() != 1) return;
  GraphEdge& e = b.edge(f.name(ta[0]), f.name(tb[0]), f.name(l));
  e.kind = GraphEdge::Kind::fact;
  e.attribute = et.attrs[key.first].name + ", " + et.attrs[key.second].name;
  if (e.label.empty()) e.label = f.name(l);
  e.facts = {{l, key.first, ta[0]}, {l, key.second, tb[0]}};
  e.dashed = link_dashed(f, l);
  if (all_attrs)
    for (std::uint32_t c = 0; c < et.attrs.size(); ++c)
      if (c != key.first && c != key.second) e.label += "\n" + et.attrs[c].name + ": " + f.show(f.attr(l, c));
}

/// Every live entity of the engine and the overlay, ascending.
std::vector<EntityId> all_entities(const Facts& f) {
  std::vector<EntityId> out;
  for (TypeId t = 0; t < f.schema.entities.size(); ++t) f.engine.for_each_entity(t, [&](EntityId x) { out.push_back(x); });
  if (f.overlay)
    for (std::size_t i = 0; i < f.overlay->entities().size(); ++i)
      out.push_back(f.overlay->base() + static_cast<EntityId>(i));
  std::sort(out.begin(), out.end());
  return out;
}

/// A condition's text on one line, shortened: what a label quotes of it.
std::string condition_text(const SourceManager* sm, const Span& s) {
  if (!sm || !s.valid()) return "condition";
  std::string out;
  for (char ch : sm->text(s)) {
    if (ch == '\n' || ch == '\t' || ch == '\r') ch = ' ';
    if (!(ch == ' ' && (out.empty() || out.back() == ' '))) out += ch;
  }
  constexpr std::size_t kMax = 60;
  if (out.size() > kMax) {
    std::size_t cut = kMax;
    while (cut > 0 && (static_cast<unsigned char>(out[cut]) & 0xC0) == 0x80) --cut;  // not inside a UTF-8 character
    out = out.substr(0, cut) + "...";
  }
  return out;
}

}  // namespace

const GraphNode* Graph::find(std::string_view key) const {
  for (const auto& n : nodes)
    if (n.key == key) return &n;
  return nullptr;
}

bool is_link_type(const Schema& schema, TypeId t) { return link_key(schema, t).has_value(); }

// ---------------------------------------------------------------------------------------------
// The world
// ---------------------------------------------------------------------------------------------
bool world_graph(const Engine& engine, const WorldGraphOptions& o, Graph& out, std::string& error) {
  const Facts f(engine, o.overlay);
  const Schema& s = f.schema;
  std::vector<std::optional<std::pair<std::uint32_t, std::uint32_t>>> links(s.entities.size());
  for (TypeId t = 0; t < s.entities.size(); ++t) links[t] = link_key(s, t);
  auto listed = [&](TypeId t) { return o.types.empty() || std::find(o.types.begin(), o.types.end(), t) != o.types.end(); };
  // A link's two ends, when both name an entity.
  auto ends = [&](EntityId l) -> std::optional<std::pair<EntityId, EntityId>> {
    const auto& key = *links[f.type(l)];
    const auto a = f.targets(f.attr(l, key.first)), b = f.targets(f.attr(l, key.second));
    if (a.size() != 1 || b.size() != 1) return std::nullopt;
    return std::pair{a[0], b[0]};
  };
  const std::vector<EntityId> all = all_entities(f);
  std::set<EntityId> drawn;
  std::vector<EntityId> drawn_links;
  if (o.around) {
    // Breadth first over references in both directions; a link is one step between its ends.
    std::unordered_map<EntityId, std::vector<EntityId>> adj;
    for (EntityId x : all) {
      const TypeId t = f.type(x);
      if (links[t]) {
        if (auto e = ends(x)) {
          adj[e->first].push_back(e->second);
          adj[e->second].push_back(e->first);
        }
        continue;
      }
      const auto& et = s.entities[t];
      for (std::uint32_t c = 0; c < et.attrs.size(); ++c)
        if (entity_typed(et.attrs[c].type))
          for (EntityId y : f.targets(f.attr(x, c))) {
            adj[x].push_back(y);
            adj[y].push_back(x);
          }
    }
    const EntityId center = *o.around;
    std::vector<EntityId> frontier;
    std::set<EntityId> reached;
    const bool center_link = links[f.type(center)].has_value();
    if (center_link) {
      if (auto e = ends(center)) frontier = {e->first, e->second};
      drawn_links.push_back(center);
    } else {
      frontier = {center};
    }
    reached.insert(frontier.begin(), frontier.end());
    for (std::uint32_t d = 0; d < o.depth && !frontier.empty(); ++d) {
      std::vector<EntityId> next;
      for (EntityId x : frontier)
        for (EntityId y : adj[x])
          if (reached.insert(y).second) next.push_back(y);
      frontier = std::move(next);
    }
    for (EntityId x : reached)
      if (listed(f.type(x)) || x == center) drawn.insert(x);
    if (center_link)
      if (auto e = ends(center)) drawn.insert({e->first, e->second});
    for (EntityId x : all)
      if (links[f.type(x)] && listed(f.type(x)) && x != center)
        if (auto e = ends(x); e && drawn.count(e->first) && drawn.count(e->second)) drawn_links.push_back(x);
  } else {
    for (EntityId x : all) {
      const TypeId t = f.type(x);
      if (!listed(t)) continue;
      if (!links[t]) {
        drawn.insert(x);
      } else if (auto e = ends(x)) {
        drawn_links.push_back(x);
        drawn.insert({e->first, e->second});
      }
    }
  }
  if (o.max_nodes != 0 && drawn.size() > o.max_nodes) {
    std::map<std::string, std::size_t> by_type;
    for (EntityId x : drawn) ++by_type[s.entities[f.type(x)].name];
    std::vector<std::pair<std::size_t, std::string>> counts;
    for (const auto& [name, n] : by_type) counts.emplace_back(n, name);
    std::sort(counts.begin(), counts.end(), [](const auto& a, const auto& b) { return a.first > b.first || (a.first == b.first && a.second < b.second); });
    std::string list;
    for (std::size_t i = 0; i < counts.size() && i < 5; ++i)
      list += (i ? ", " : "") + counts[i].second + " " + std::to_string(counts[i].first);
    if (counts.size() > 5) list += ", ...";
    error = "the graph has " + std::to_string(drawn.size()) + " nodes (" + list + "), more than the limit of " +
            std::to_string(o.max_nodes);
    return false;
  }
  Builder b;
  for (EntityId x : drawn) {
    GraphNode& n = b.entity(f, x);
    n.emphasis = o.around && x == *o.around;
    const auto& et = s.entities[f.type(x)];
    for (std::uint32_t c = 0; c < et.attrs.size(); ++c) {
      const Value v = f.attr(x, c);
      if (!entity_typed(et.attrs[c].type)) {
        add_line(n, et.attrs[c].name + ": " + f.show(v));
        continue;
      }
      bool outside = false;
      for (EntityId y : f.targets(v)) {
        if (!drawn.count(y)) {
          outside = true;
          continue;
        }
        GraphEdge& e = b.edge(n.key, f.name(y), et.attrs[c].name);
        e.kind = GraphEdge::Kind::fact;
        e.label = e.attribute = et.attrs[c].name;
        e.facts.push_back({x, c, y});
      }
      // What it names that is not drawn stays readable in the label.
      if (outside) add_line(n, et.attrs[c].name + ": " + f.show(v));
    }
  }
  for (EntityId l : drawn_links) draw_link(b, f, l, *links[f.type(l)], true);
  std::string title;
  if (o.around)
    title = "around " + f.name(*o.around) + ", depth " + std::to_string(o.depth);
  out = b.finish("world", title);
  return true;
}

// ---------------------------------------------------------------------------------------------
// A decision
// ---------------------------------------------------------------------------------------------
Graph decision_graph(const Engine& engine, const Decision& d, const Request& r, const SourceManager* sm,
                     const DecisionGraphOptions& o) {
  const Facts f(engine, r.overlay);
  const Program& p = engine.program();
  const Schema& s = p.schema;
  Builder b;
  const bool ok = d.errors.empty();

  // The decision and what it was asked.
  GraphNode& dn = b.node("decision");
  dn.kind = GraphNode::Kind::decision;
  dn.title = d.allow ? "ALLOW" : "DENY";
  dn.allowed = d.allow;
  dn.failed = !d.allow;
  std::string action = r.action < s.actions.size() ? s.actions[r.action].name : "?";
  if (r.action < s.actions.size() && !r.args.empty()) {
    const auto& act = s.actions[r.action];
    std::string args;
    for (std::size_t i = 0; i < act.params.size() && i < r.args.size(); ++i)
      if (!r.args[i].is_none()) args += (args.empty() ? "" : ", ") + act.params[i].name + ": " + f.show(r.args[i]);
    if (!args.empty()) action += "(" + args + ")";
  }
  dn.lines.push_back(f.name(r.principal) + " " + action + " " + f.name(r.resource));
  for (const auto& e : d.errors) dn.lines.push_back("error: " + e);
  if (ok && !d.allow && d.determining.empty())
    dn.lines.push_back(d.misses.empty() ? "no permit of this action applies to these types (default deny)"
                                        : "no permit applied (default deny); closest misses:");
  const std::string decision_key = dn.key;
  const std::string principal_key = b.entity(f, r.principal).key;
  const std::string resource_key = b.entity(f, r.resource).key;
  b.node(principal_key).emphasis = b.node(resource_key).emphasis = true;
  auto request_edge = [&](const std::string& to, const std::string& label) {
    GraphEdge& e = b.edge(decision_key, to, label);
    e.kind = GraphEdge::Kind::request;
    e.label = label;
  };
  request_edge(principal_key, "principal");
  request_edge(resource_key, "resource");
  if (r.action < s.actions.size()) {
    const auto& act = s.actions[r.action];
    for (std::size_t i = 0; i < act.params.size() && i < r.args.size(); ++i)
      for (EntityId y : f.targets(r.args[i])) request_edge(b.entity(f, y).key, act.params[i].name);
  }

  // The rules, and everything their conditions read.
  const DecisionFacts facts = engine.decision_facts(d, r, o.max_rules);
  if (facts.more_rules) dn.lines.push_back("... and " + std::to_string(facts.more_rules) + " more rules, not drawn");
  struct Read {
    EntityId entity;
    std::uint32_t column;
    Value value;
    bool failed = false;
    bool near = true;
    std::vector<std::string> why;  ///< the failed conditions, quoted
  };
  std::vector<Read> reads;  // in the order first read
  for (const auto& rf : facts.rules) {
    const RuleInfo& rule = p.rules[rf.rule];
    GraphNode& rn = b.node("rule:" + rule.name);
    rn.kind = GraphNode::Kind::rule;
    rn.title = std::string(rule.forbid ? "forbid " : "permit ") + rule.name;
    if (sm && rule.span.valid())
      rn.lines.push_back(sm->file(rule.span.file).path + ":" +
                         std::to_string(sm->line_col(rule.span.file, rule.span.begin).line));
    std::string failed_text;
    if (rf.miss) {
      failed_text = std::string(rf.miss->unless ? "unless " : "when ") + condition_text(sm, rf.miss->condition) +
                    (rf.miss->unless ? " holds" : " is false");
      rn.lines.push_back("✗ " + failed_text);
      for (const auto& w : rf.miss->within)
        rn.lines.push_back("  in " + p.predicates[w.predicate].name + ": " + condition_text(sm, w.conjunct));
      rn.failed = true;
    } else {
      rn.allowed = !rule.forbid;
      rn.failed = rule.forbid;
    }
    GraphEdge& re = b.edge(decision_key, rn.key, "rule");
    re.kind = GraphEdge::Kind::rule;
    re.label = rf.miss ? "closest miss" : rule.forbid ? "denied by" : "allowed by";
    for (const auto& fr : rf.reads) {
      const TypeId t = f.type(fr.entity);
      if (t == kNone32) continue;
      const int col = s.entities[t].column(fr.attr);
      if (col < 0) continue;
      auto it = std::find_if(reads.begin(), reads.end(), [&](const Read& x) {
        return x.entity == fr.entity && x.column == static_cast<std::uint32_t>(col);
      });
      if (it == reads.end()) {
        reads.push_back({fr.entity, static_cast<std::uint32_t>(col), fr.value, false, true, {}});
        it = reads.end() - 1;
      }
      it->near = it->near && fr.near;
      if (fr.failed) {
        it->failed = true;
        if (std::find(it->why.begin(), it->why.end(), failed_text) == it->why.end()) it->why.push_back(failed_text);
      }
    }
  }
  auto read_of = [&](EntityId x, std::uint32_t c) -> const Read* {
    for (const auto& rd : reads)
      if (rd.entity == x && rd.column == c) return &rd;
    return nullptr;
  };
  // A link whose two key attributes were read is drawn as its edge; any other entity as a node.
  auto as_link = [&](EntityId x) -> std::optional<std::pair<std::uint32_t, std::uint32_t>> {
    auto key = link_key(s, f.type(x));
    if (!key || x == r.principal || x == r.resource || !read_of(x, key->first) || !read_of(x, key->second))
      return std::nullopt;
    if (f.targets(read_of(x, key->first)->value).size() != 1 || f.targets(read_of(x, key->second)->value).size() != 1)
      return std::nullopt;
    return key;
  };
  auto style = [&](GraphEdge& e, const Read& rd) {
    e.read = true;
    e.failed = e.failed || rd.failed;
    e.near = rd.near && !rd.failed;
    e.allowed = d.allow && !rd.near;
  };
  constexpr std::size_t kMaxTargets = 8;
  for (const auto& rd : reads) {
    const auto& attr = s.entities[f.type(rd.entity)].attrs[rd.column];
    std::string suffix;
    for (const auto& w : rd.why) suffix += "\n✗ " + w;
    if (auto key = as_link(rd.entity)) {
      if (rd.column == key->first || rd.column == key->second) {
        if (rd.column == key->first) {
          draw_link(b, f, rd.entity, *key, false);
          const auto ta = f.targets(rd.value), tb = f.targets(read_of(rd.entity, key->second)->value);
          b.entity(f, ta[0]);
          b.entity(f, tb[0]);
          GraphEdge& e = b.edge(f.name(ta[0]), f.name(tb[0]), f.name(rd.entity));
          style(e, rd);
          const Read& other = *read_of(rd.entity, key->second);
          e.failed = e.failed || other.failed;
          e.near = e.near && other.near && !e.failed;
          e.label += suffix;
          if (other.failed)
            for (const auto& w : other.why)
              if (suffix.find(w) == std::string::npos) e.label += "\n✗ " + w;
        }
      } else {
        // Another attribute of a link drawn as an edge: a line of its label.
        const auto key_a = f.targets(read_of(rd.entity, key->first)->value);
        const auto key_b = f.targets(read_of(rd.entity, key->second)->value);
        GraphEdge& e = b.edge(f.name(key_a[0]), f.name(key_b[0]), f.name(rd.entity));
        e.label += std::string("\n") + (rd.failed ? "✗ " : "") + attr.name + ": " + f.show(rd.value);
        e.failed = e.failed || rd.failed;
        if (e.failed) e.near = false;
      }
      continue;
    }
    GraphNode& n = b.entity(f, rd.entity);
    if (!entity_typed(attr.type) || f.targets(rd.value).empty()) {
      add_line(n, std::string(rd.failed ? "✗ " : "") + attr.name + ": " + f.show(rd.value));
      n.failed = n.failed || rd.failed;
      continue;
    }
    const std::string from = n.key;
    const auto ts = f.targets(rd.value);
    for (std::size_t i = 0; i < ts.size() && i < kMaxTargets; ++i) {
      const std::string to = b.entity(f, ts[i]).key;
      GraphEdge& e = b.edge(from, to, attr.name);
      e.kind = GraphEdge::Kind::fact;
      e.attribute = attr.name;
      if (e.label.empty()) e.label = attr.name + suffix;
      e.facts = {{rd.entity, rd.column, ts[i]}};
      style(e, rd);
    }
    if (ts.size() > kMaxTargets)
      add_line(b.node(from), attr.name + ": ... and " + std::to_string(ts.size() - kMaxTargets) + " more, not drawn");
  }

  if (o.whole_overlay && r.overlay) {
    // The world the decision was made in (a counterexample's): what the decision did not read
    // is drawn grey around what it did.
    WorldGraphOptions wo;
    wo.overlay = r.overlay;
    wo.max_nodes = 0;
    Graph world;
    std::string error;
    if (world_graph(engine, wo, world, error)) {
      for (auto& n : world.nodes) {
        GraphNode& mine = b.node(n.key);
        if (mine.title.empty()) {
          const bool emphasis = mine.emphasis;
          mine = n;
          mine.emphasis = emphasis;
          continue;
        }
        // Its attributes the decision did not read, after those it did.
        for (const auto& line : n.lines) {
          const auto colon = line.find(':');
          bool shown = false;
          for (const auto& have : mine.lines) {
            const std::string bare = have.rfind("✗ ", 0) == 0 ? have.substr(std::string("✗ ").size()) : have;
            shown = shown || bare.substr(0, bare.find(':')) == line.substr(0, colon);
          }
          if (!shown) mine.lines.push_back(line);
        }
      }
      for (auto& e : world.edges) {
        std::string what = e.attribute;
        if (e.facts.size() == 2) what = e.label.substr(0, e.label.find('\n'));  // a link: by its name
        auto it = b.edges.find({e.from, e.to, what});
        if (it == b.edges.end()) b.edges.emplace(std::tuple{e.from, e.to, what}, std::move(e));
      }
    }
  }
  return b.finish("decision", o.title);
}

// ---------------------------------------------------------------------------------------------
// Writers
// ---------------------------------------------------------------------------------------------
namespace {

/// Text for a DOT double-quoted string: quotes and backslashes escaped, control characters
/// dropped (a newline becomes a space: line breaks are the writer's, `\n` and `\l`). UTF-8
/// passes through.
std::string dot_escape(std::string_view s) {
  std::string out;
  for (char c : s) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) {
      out += ' ';
    } else {
      out += c;
    }
  }
  return out;
}

/// A label of several lines: each `\n`-separated part on a line of its own.
std::string dot_lines(std::string_view s, const char* brk) {
  std::string out;
  std::size_t start = 0;
  while (true) {
    const auto nl = s.find('\n', start);
    out += dot_escape(s.substr(start, nl == std::string_view::npos ? std::string_view::npos : nl - start));
    if (nl == std::string_view::npos) break;
    out += brk;
    start = nl + 1;
  }
  return out;
}

constexpr const char* kRed = "#c62828";
constexpr const char* kGreen = "#2e7d32";
constexpr const char* kGrey = "#9e9e9e";
constexpr const char* kBlue = "#455a64";

}  // namespace

std::string to_dot(const Graph& g) {
  std::string out = "digraph \"" + dot_escape(g.name) + "\" {\n";
  out += "  graph [rankdir=LR, fontname=\"Helvetica\", fontsize=12, nodesep=0.3, ranksep=0.6";
  if (!g.title.empty()) out += ", label=\"" + dot_escape(g.title) + "\", labelloc=t";
  out += "];\n";
  out += "  node [shape=box, style=rounded, fontname=\"Helvetica\", fontsize=11];\n";
  out += "  edge [fontname=\"Helvetica\", fontsize=10];\n";
  for (const auto& n : g.nodes) {
    std::string label = dot_escape(n.title);
    if (!n.lines.empty()) {
      label += "\\n";
      for (const auto& l : n.lines) label += dot_escape(l) + "\\l";
    }
    out += "  \"" + dot_escape(n.key) + "\" [label=\"" + label + "\"";
    std::string st = "rounded";
    if (n.kind == GraphNode::Kind::decision) {
      out += ", shape=box, penwidth=2";
      st += ",filled";
      out += std::string(", fillcolor=\"") + (n.allowed ? "#e8f5e9" : "#ffebee") + "\"";
    } else if (n.kind == GraphNode::Kind::rule) {
      out += ", shape=note";
      st = "solid";
    }
    if (n.dashed) st += ",dashed";
    if (n.emphasis) out += ", penwidth=2";
    if (n.failed) out += std::string(", color=\"") + kRed + "\"";
    else if (n.allowed) out += std::string(", color=\"") + kGreen + "\"";
    out += ", style=\"" + st + "\"];\n";
  }
  for (const auto& e : g.edges) {
    out += "  \"" + dot_escape(e.from) + "\" -> \"" + dot_escape(e.to) + "\" [label=\"" + dot_lines(e.label, "\\n") + "\"";
    std::string st;
    const char* color = nullptr;
    if (e.kind == GraphEdge::Kind::request) {
      color = kBlue;
      st = "bold";
    } else if (e.kind == GraphEdge::Kind::rule) {
      color = kGrey;
      st = "dotted";
    } else {
      if (e.dashed) st = "dashed";
      if (e.near) st = "dotted";
      if (e.failed) color = kRed;
      else if (e.allowed) color = kGreen;
      else if (e.near || (!e.read && g.name == "decision")) color = kGrey;
    }
    if (!st.empty()) out += ", style=" + st;
    if (color) out += std::string(", color=\"") + color + "\", fontcolor=\"" + color + "\"";
    if (e.failed) out += ", penwidth=2";
    out += "];\n";
  }
  out += "}\n";
  return out;
}

namespace {
/// Text inside a Mermaid `"..."` label: what Mermaid would read as markup becomes an entity
/// code (`#quot;`, `#lt;`, ...), a line break `<br/>`.
std::string mermaid_escape(std::string_view s) {
  std::string out;
  for (char c : s) {
    switch (c) {
      case '"': out += "#quot;"; break;
      case '<': out += "#lt;"; break;
      case '>': out += "#gt;"; break;
      case '&': out += "#amp;"; break;
      case '#': out += "#35;"; break;
      case '|': out += "#124;"; break;
      case '`': out += "#96;"; break;
      case '\n': out += "<br/>"; break;
      default:
        if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) out += ' ';
        else out += c;
    }
  }
  return out;
}
}  // namespace

std::string to_mermaid(const Graph& g) {
  std::string out;
  if (!g.title.empty()) out += "---\ntitle: \"" + mermaid_escape(g.title) + "\"\n---\n";
  out += "flowchart LR\n";
  // Mermaid ids must be plain words: n1, n2, ... in key order.
  std::map<std::string, std::string> ids;
  for (std::size_t i = 0; i < g.nodes.size(); ++i) ids[g.nodes[i].key] = "n" + std::to_string(i + 1);
  std::vector<std::pair<std::string, std::string>> classes;
  for (const auto& n : g.nodes) {
    std::string label = mermaid_escape(n.title);
    for (const auto& l : n.lines) label += "<br/>" + mermaid_escape(l);
    const std::string& id = ids[n.key];
    if (n.kind == GraphNode::Kind::decision) out += "  " + id + "[[\"" + label + "\"]]\n";
    else if (n.kind == GraphNode::Kind::rule) out += "  " + id + "[\"" + label + "\"]\n";
    else out += "  " + id + "(\"" + label + "\")\n";
    if (n.failed) classes.emplace_back(id, "failed");
    else if (n.allowed) classes.emplace_back(id, "allowed");
    else if (n.emphasis) classes.emplace_back(id, "asked");
  }
  std::vector<std::string> styles;
  for (std::size_t i = 0; i < g.edges.size(); ++i) {
    const auto& e = g.edges[i];
    const auto from = ids.find(e.from), to = ids.find(e.to);
    if (from == ids.end() || to == ids.end()) continue;
    const bool dotted = e.dashed || e.near || e.kind == GraphEdge::Kind::rule;
    const std::string arrow = e.kind == GraphEdge::Kind::request ? "==>" : dotted ? "-.->" : "-->";
    out += "  " + from->second + " " + arrow + "|\"" + mermaid_escape(e.label) + "\"| " + to->second + "\n";
    const char* color = nullptr;
    if (e.kind == GraphEdge::Kind::fact) {
      if (e.failed) color = kRed;
      else if (e.allowed) color = kGreen;
      else if (e.near || (!e.read && g.name == "decision")) color = kGrey;
    }
    if (color) styles.push_back("  linkStyle " + std::to_string(i) + " stroke:" + color + ",color:" + color + "\n");
  }
  if (!classes.empty()) {
    out += "  classDef failed stroke:#c62828,stroke-width:2px\n";
    out += "  classDef allowed stroke:#2e7d32,stroke-width:2px\n";
    out += "  classDef asked stroke-width:3px\n";
    for (const auto& [id, cls] : classes) out += "  class " + id + " " + cls + "\n";
  }
  for (const auto& s : styles) out += s;
  return out;
}

nlohmann::json to_json(const Graph& g) {
  static const char* const node_kinds[] = {"entity", "decision", "rule"};
  static const char* const edge_kinds[] = {"fact", "request", "rule"};
  nlohmann::json j;
  j["name"] = g.name;
  j["title"] = g.title;
  j["nodes"] = nlohmann::json::array();
  for (const auto& n : g.nodes) {
    nlohmann::json x{{"key", n.key}, {"kind", node_kinds[static_cast<int>(n.kind)]}, {"title", n.title}, {"lines", n.lines}};
    if (n.emphasis) x["emphasis"] = true;
    if (n.failed) x["failed"] = true;
    if (n.allowed) x["allowed"] = true;
    j["nodes"].push_back(std::move(x));
  }
  j["edges"] = nlohmann::json::array();
  for (const auto& e : g.edges) {
    nlohmann::json x{{"from", e.from}, {"to", e.to}, {"kind", edge_kinds[static_cast<int>(e.kind)]}, {"label", e.label}};
    if (!e.attribute.empty()) x["attribute"] = e.attribute;
    if (e.dashed) x["dashed"] = true;
    if (e.failed) x["failed"] = true;
    if (e.near) x["closest_candidate"] = true;
    if (e.read) x["read"] = true;
    j["edges"].push_back(std::move(x));
  }
  return j;
}

bool render_graph(const Graph& g, std::string_view format, std::string& out) {
  if (format == "dot") out = to_dot(g);
  else if (format == "mermaid") out = to_mermaid(g);
  else if (format == "json") out = to_json(g).dump(2) + "\n";
  else return false;
  return true;
}

}  // namespace treaty
