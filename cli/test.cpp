// `treaty test`: run every `test` block; text, JSON or JUnit output.
#include <iostream>

#include "common.hpp"
#include "treaty/log.hpp"
#include "treaty/test_runner.hpp"

namespace treaty::cli {

namespace {
struct TestOptions {
  LoadOptions load;
  std::string format = "text";
  std::string filter;
};

int run_test(const TestOptions& o) {
  Loaded l;
  if (!load_or_report(l, o.load)) return exit_for(l.diags);
  TestReport report;
  {
    StageTimer t("evaluate");
    report = run_tests(*l.engine, l.sm, o.filter);
    t.set_result(std::to_string(report.results.size()) + " expectations");
  }
  write_test_report(std::cout, report, *l.engine, l.sm, o.format);
  if (!o.filter.empty() && report.results.empty()) {
    std::cerr << "treaty: error: --filter `" << o.filter << "` matches no test\n";
    return kProblems;
  }
  return report.failed ? kProblems : kOk;
}
}  // namespace

std::function<int()> setup_test(CLI::App& app) {
  auto o = std::make_shared<TestOptions>();
  app.add_option("paths", o->load.paths, "Files or directories")->required();
  app.add_option("--data", o->load.data, "JSON facts file (repeatable)");
  add_format_option(app, o->format, {"text", "json", "junit"});
  app.add_option("--filter", o->filter, "Run only tests whose name contains TEXT (exit 1 if none does)");
  return [o] { return run_test(*o); };
}

}  // namespace treaty::cli
