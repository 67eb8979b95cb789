// `treaty graph`: the world of facts as a picture (treaty/graph.hpp draws it): entities as nodes,
// entity-typed attributes as edges, links (a 4me trust) as edges labelled with their options.
#include <iostream>

#include "common.hpp"
#include "treaty/check.hpp"
#include "treaty/convert.hpp"
#include "treaty/graph.hpp"
#include "treaty/parse.hpp"

namespace treaty::cli {

namespace {

struct GraphOptions {
  LoadOptions load;
  std::vector<std::string> types;
  std::string around;
  std::optional<std::uint32_t> depth;
  std::size_t max_nodes = 200;
  std::string format = "dot";
  std::string output;
};

/// `Type::"id"` read with the language's own expression parser, so --around quotes as a test does.
bool read_entity(Loaded& l, const std::string& text, TypeId& type, std::string& id, std::string& why) {
  Diagnostics d;
  syntax::Expr e;
  const auto file = l.sm.add("--around", text);
  if (!parse_expression(l.sm, file, e, d) || e.kind != syntax::Expr::Kind::entity_ref) {
    why = "--around takes an entity, as in --around 'Account::\"globex\"', not `" + text + "`";
    return false;
  }
  const auto& s = l.engine->program().schema;
  const auto t = s.find_entity(e.name);
  if (!t) {
    std::vector<std::string> names;
    for (const auto& et : s.entities) names.push_back(et.name);
    why = "--around: unknown entity type `" + e.name + "`";
    if (auto c = closest_name(e.name, names)) why += "; did you mean `" + *c + "`?";
    return false;
  }
  type = *t;
  id = e.str();
  return true;
}

int run_graph(const GraphOptions& o) {
  if (o.load.paths.empty() == o.load.bundle.empty()) {
    std::cerr << "treaty: error: give either policy PATHs or --bundle FILE\n";
    return kUsage;
  }
  if (o.depth && o.around.empty()) {
    std::cerr << "treaty: error: --depth goes with --around TYPE::\"id\"\n";
    return kUsage;
  }
  Loaded l;
  if (!load_or_report(l, o.load)) return exit_for(l.diags);
  const auto& s = l.engine->program().schema;
  WorldGraphOptions wo;
  wo.max_nodes = o.max_nodes;
  wo.depth = o.depth.value_or(1);
  std::vector<std::string> names;
  for (const auto& et : s.entities) names.push_back(et.name);
  for (const auto& t : o.types) {
    const auto id = s.find_entity(t);
    if (!id) {
      std::cerr << "treaty: error: --types: unknown entity type `" << t << "`";
      if (auto c = closest_name(t, names)) std::cerr << "; did you mean `" << *c << "`?";
      std::cerr << "\n  the types: ";
      for (std::size_t i = 0; i < names.size(); ++i) std::cerr << (i ? ", " : "") << names[i];
      std::cerr << "\n";
      return kUsage;
    }
    wo.types.push_back(*id);
  }
  if (!o.around.empty()) {
    TypeId t = 0;
    std::string id, why;
    if (!read_entity(l, o.around, t, id, why)) {
      std::cerr << "treaty: error: " << why << "\n";
      return kUsage;
    }
    const auto e = l.engine->find(t, id);
    if (!e) {
      std::cerr << "treaty: error: --around: no entity " << s.entities[t].name << "::" << quote_string(id)
                << " in the facts\n";
      return kUsage;
    }
    wo.around = *e;
  }
  Graph g;
  std::string error;
  if (!world_graph(*l.engine, wo, g, error)) {
    std::cerr << "treaty: error: " << error
              << ": narrow it with --types T1,T2 (only those types; a link type brings its two ends), "
                 "--around TYPE::\"id\" [--depth N] (one entity's neighbourhood), or raise --max-nodes (0: no "
                 "limit)\n";
    return kUsage;
  }
  std::string text;
  if (!render_picture(g, o.format, text, error) || !write_output(o.output, text, error)) {
    std::cerr << "treaty: error: " << error << "\n";
    return kUsage;
  }
  return kOk;
}

}  // namespace

std::function<int()> setup_graph(CLI::App& app) {
  auto o = std::make_shared<GraphOptions>();
  app.add_option("paths", o->load.paths, "Files or directories (or --bundle)");
  app.add_option("--bundle", o->load.bundle, "A bundle written by `treaty compile`, instead of PATHs");
  app.add_option("--data", o->load.data, "JSON facts file (repeatable)");
  app.add_option("--types", o->types,
                 "Only entities of these types, comma-separated (a link type, as Trust, brings its two ends)")
      ->delimiter(',');
  app.add_option("--around", o->around, "Only the neighbourhood of one entity, as `Account::\"globex\"`");
  app.add_option("--depth", o->depth, "With --around: how many steps out (default 1; a link is one step)")
      ->check(CLI::Range(0, 20));
  app.add_option("--max-nodes", o->max_nodes, "Refuse a larger graph (default 200; 0: no limit)");
  app.add_option("--format", o->format, "Output format: dot (default), svg (through Graphviz's `dot`), mermaid or json")
      ->check(CLI::IsMember({"dot", "svg", "mermaid", "json"}));
  app.add_option("-o,--output", o->output, "Write to FILE (atomically) instead of stdout");
  return [o] { return run_graph(*o); };
}

}  // namespace treaty::cli
