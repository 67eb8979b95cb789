// `treaty explain PATH... NAME`: what a name of a package declares, its `///` documentation, its
// declaration and every place it is used.
//
// The package is checked first (explain runs only on a package without errors); the name index
// (name_index.hpp) resolves every use.
#include <iostream>

#include "common.hpp"
#include "name_index.hpp"
#include "treaty/compile.hpp"
#include "treaty/parse.hpp"
#include "treaty/program.hpp"

namespace treaty::cli {

namespace {

struct ExplainOptions {
  std::vector<std::string> args;  ///< PATH... NAME
  std::vector<std::string> data;
  std::string format = "text";
};

int run_explain(const ExplainOptions& o) {
  if (o.args.size() < 2) {
    std::cerr << "treaty: error: explain needs PATH... and a NAME, as in `treaty explain policies has_role`\n";
    return kUsage;
  }
  const std::string name = o.args.back();
  SourceManager sm;
  Diagnostics diags;
  // The checked program is all explain reads: no lints, no engine, no requirements.
  CompileOptions co;
  co.check.data_files = o.data;
  co.check.lints = false;
  co.last = Step::lints;
  Compiled checked = compile(sm, Sources::from_paths({o.args.begin(), o.args.end() - 1}), diags, co);
  if (diags.has_errors()) {
    print_errors(sm, diags);
    std::cerr << "treaty: error: explain needs a package without errors; run `treaty check`\n";
    return exit_for(diags);
  }
  const NameIndex ix = index_names(sm, checked.pkg, *checked.program);

  std::vector<const Declared*> found;
  const bool qualified = name.find('.') != std::string::npos;
  for (const auto& d : ix.decls)
    if (d.qualified == name || (!qualified && d.bare == name)) found.push_back(&d);
  if (found.empty()) {
    std::vector<std::string> cands;
    for (const auto& d : ix.decls) {
      cands.push_back(d.qualified);
      if (d.bare != d.qualified) cands.push_back(d.bare);
    }
    std::cerr << "treaty: error: nothing named " << tick(name) << " is declared in the package";
    if (auto c = closest_name(name, cands)) std::cerr << "; did you mean " << tick(*c) << "?";
    std::cerr << "\n";
    return kProblems;
  }

  static const std::vector<NameUse> kNoUses;
  std::vector<ExplainMatch> matches;
  for (const auto* d : found) {
    auto it = ix.uses.find(d->key);
    ExplainMatch& m = matches.emplace_back();
    m.kind = d->kind;
    m.name = d->qualified;
    m.doc = d->doc;
    m.location = d->loc;
    m.text = d->text;
    for (const auto& u : it == ix.uses.end() ? kNoUses : it->second) m.uses.push_back({u.span, u.what, u.in});
  }
  write_explain_report(std::cout, sm, name, matches, o.format);
  return kOk;
}

}  // namespace

std::function<int()> setup_explain(CLI::App& app) {
  auto o = std::make_shared<ExplainOptions>();
  app.add_option("args", o->args, "PATH... (files or directories, searched for .treaty files) and then the NAME")
      ->required();
  app.add_option("--data", o->data, "JSON facts file (repeatable)");
  add_format_option(app, o->format, {"text", "json"});
  return [o] { return run_explain(*o); };
}

}  // namespace treaty::cli
