// `treaty compile`: check a package with its data and write a bundle, atomically.
#include <iostream>

#include "common.hpp"
#include "treaty/data/world.hpp"
#include "treaty/check.hpp"
#include "treaty/log.hpp"

namespace treaty::cli {

namespace {
struct CompileOptions {
  LoadOptions load;
  std::string out;
};

int run_compile(const CompileOptions& o) {
  Loaded l;
  load(l, o.load);
  if (l.diags.has_errors()) {
    print_errors(l.sm, l.diags);
    std::cerr << "treaty: nothing written: the policy has errors\n";
    return exit_for(l.diags);
  }
  std::string bytes;
  {
    StageTimer t("compile");
    bytes = write_bundle(l.engine->program(), l.sm);
    t.set_result(std::to_string(bytes.size()) + " bytes");
  }
  std::string err;
  if (!write_atomically(o.out, bytes, err)) {
    std::cerr << "treaty: error: cannot write " << o.out << ": " << err << "\n";
    return kUsage;
  }
  std::cerr << "compiled " << l.engine->program().rules.size() << " rules and " << l.engine->program().world().size()
            << " facts into " << o.out << " (" << bytes.size() << " bytes)\n";
  return kOk;
}
}  // namespace

std::function<int()> setup_compile(CLI::App& app) {
  auto o = std::make_shared<CompileOptions>();
  app.add_option("paths", o->load.paths, "Files or directories")->required();
  app.add_option("--data", o->load.data, "JSON facts file (repeatable)");
  app.add_option("-o,--output", o->out, "The bundle to write (atomically)")->required();
  return [o] { return run_compile(*o); };
}

}  // namespace treaty::cli
