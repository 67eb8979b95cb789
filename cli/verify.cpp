// `treaty verify`: search random worlds for counterexamples to every `property`.
#include <unistd.h>

#include <iostream>

#include "common.hpp"
#include "treaty/log.hpp"
#include "treaty/verify.hpp"

namespace treaty::cli {

namespace {
struct VerifyCliOptions {
  std::vector<std::string> paths;
  std::uint64_t runs = 1000;
  std::uint64_t seed = 0;
  std::uint32_t max_size = 20;
  std::string format = "text";
  std::string filter;
  bool facts = false;
  std::vector<std::string> data;
  std::uint64_t max_requests = 10'000'000;
  std::string pictures;  ///< --pictures DIR: each counterexample drawn there
  std::string picture_format = "dot";
};

int run_verify(const VerifyCliOptions& o) {
  Loaded l;
  LoadOptions lo;
  lo.paths = o.paths;
  lo.facts = o.facts;
  lo.data = o.data;
  load(l, lo);
  if (l.diags.has_errors()) {
    print_errors(l.sm, l.diags);
    if (o.facts) std::cerr << "treaty: the policy has errors; run `treaty check`\n";
    else std::cerr << "treaty: the policy has errors (verify checks it without its facts: rules may not name facts)\n";
    return exit_for(l.diags);
  }
  VerifyOptions opts;
  opts.runs = o.runs;
  opts.seed = o.seed;
  opts.max_size = o.max_size;
  opts.filter = o.filter;
  opts.facts = o.facts;
  opts.max_requests = o.max_requests;
  opts.pictures = !o.pictures.empty();
  const auto& props = l.engine->program().properties;
  const bool tty = isatty(2) != 0 && o.format == "text" && !o.facts;
  if (tty)
    opts.progress = [&](std::size_t i, std::uint64_t n) {
      if (n % 10 == 0 || n == o.runs)
        std::cerr << "\r\033[Kverify: " << props[i].name << ": " << n << "/" << o.runs << " worlds" << std::flush;
    };
  VerifyReport report;
  {
    StageTimer t("verify");
    report = verify(*l.engine, l.sm, opts);
    t.set_result(std::to_string(report.properties.size()) + " properties");
  }
  if (tty) std::cerr << "\r\033[K";
  if (!o.filter.empty() && report.properties.empty()) {
    std::cerr << "treaty: error: --filter `" << o.filter << "` matches no property\n";
    return kProblems;
  }
  write_verify_report(std::cout, report, l.sm, o.format);
  std::size_t failed = 0;
  for (const auto& p : report.properties) failed += !p.passed;
  if (!o.pictures.empty()) {
    std::vector<std::pair<std::string, const Graph*>> pics;
    for (const auto& p : report.properties)
      if (p.counterexample && p.counterexample->picture) pics.emplace_back(p.name, &*p.counterexample->picture);
    if (!draw_pictures(o.pictures, pics, o.picture_format, "a counterexample")) return kUsage;
  }
  return failed ? kProblems : kOk;
}
}  // namespace

std::function<int()> setup_verify(CLI::App& app) {
  auto o = std::make_shared<VerifyCliOptions>();
  app.add_option("paths", o->paths, "Files or directories")->required();
  app.add_option("--runs", o->runs, "Worlds to try per property (default 1000)")->check(CLI::Range(1, 10000000));
  app.add_option("--seed", o->seed, "Random seed, a whole number >= 0, to reproduce a run (default: from the clock, printed)")
      ->check(CLI::Validator(
          [](std::string& v) {
            return !v.empty() && v.find_first_not_of("0123456789") == std::string::npos
                       ? std::string()
                       : "the seed is a whole number >= 0, not `" + v + "`";
          },
          "UINT"));
  app.add_option("--max-size", o->max_size, "Most entities of one type in a world (default 20)")
      ->check(CLI::Range(1, 1000));
  add_format_option(app, o->format, {"text", "json"});
  app.add_option("--filter", o->filter, "Verify only properties whose name contains TEXT (exit 1 if none does)");
  app.add_flag("--facts", o->facts,
               "Check each property against the package's own facts (and --data), on every request it ranges "
               "over, instead of random worlds");
  app.add_option("--data", o->data, "JSON facts file (repeatable; with --facts)");
  app.add_option("--max-requests", o->max_requests,
                 "With --facts: most requests formed per property before stopping with a warning (default 10000000)")
      ->check(CLI::Range(std::uint64_t{1}, std::uint64_t{1} << 40));
  app.add_option("--pictures", o->pictures,
                 "Draw each counterexample (its shrunk world, the facts the wrong decision read) into DIR");
  app.add_option("--picture-format", o->picture_format, "Format of --pictures: dot (default), svg or mermaid")
      ->check(CLI::IsMember({"dot", "svg", "mermaid"}));
  return [o] { return run_verify(*o); };
}

}  // namespace treaty::cli
