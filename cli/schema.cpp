// `treaty schema sql PATH...`: the PostgreSQL DDL of a package's schema, for `treaty serve
// --facts postgresql://...` (docs/scale.md): a table per entity type, the change table the
// replicas follow and the triggers that fill it.
#include <iostream>

#include "common.hpp"
#include "server/pg.hpp"
#include "treaty/compile.hpp"
#include "treaty/program.hpp"

namespace treaty::cli {

std::function<int()> setup_schema(CLI::App& app) {
  struct Opts {
    std::vector<std::string> paths;
    std::string out;
  };
  auto o = std::make_shared<Opts>();
  app.require_subcommand(1, 1);
  auto* sql = app.add_subcommand("sql", "The PostgreSQL DDL of the package's schema and of the change table (docs/scale.md)");
  sql->add_option("paths", o->paths, "Policy files or directories")->required();
  sql->add_option("-o,--output", o->out, "Write the DDL to FILE (atomically) instead of stdout");
  return [o]() -> int {
    SourceManager sm;
    Diagnostics diags;
    CompileOptions co;
    co.check.lints = false;
    co.last = Step::lints;  // the schema is all it reads: no facts loaded, no requirements
    Compiled checked = compile(sm, Sources::from_paths(o->paths), diags, co);
    if (diags.has_errors() || !checked.program) {
      print_errors(sm, diags);
      std::cerr << "treaty: error: schema sql needs a package without errors; run `treaty check`\n";
      return diags.has_errors() ? exit_for(diags) : kProblems;
    }
    std::string ddl, error;
    if (!server::postgres_ddl(checked.program->schema, ddl, error)) {
      std::cerr << "treaty: error: " << error << "\n";
      return kProblems;
    }
    if (!write_output(o->out, ddl, error)) {
      std::cerr << "treaty: error: " << error << "\n";
      return kUsage;
    }
    return kOk;
  };
}

}  // namespace treaty::cli
