// `treaty test`: run every `test` block; text, JSON or JUnit output; with --coverage, what the
// expectations exercised of the rules.
#include <cstdio>
#include <fstream>
#include <optional>
#include <iostream>
#include <sstream>

#include "common.hpp"
#include "treaty/coverage.hpp"
#include "treaty/log.hpp"
#include "treaty/test_runner.hpp"

namespace treaty::cli {

namespace {
struct TestOptions {
  LoadOptions load;
  std::string format = "text";
  std::string filter;
  std::optional<std::string> coverage;  ///< --coverage[=FILE]: "-" or empty is stderr
  std::string coverage_format = "text";
  std::optional<double> min_coverage;
  std::string pictures;  ///< --pictures DIR: each failed expectation's decision drawn there
  std::string picture_format = "dot";
};

int run_test(const TestOptions& o) {
  Loaded l;
  if (!load_or_report(l, o.load)) return exit_for(l.diags);
  const bool coverage = o.coverage || o.min_coverage;
  TestReport report;
  {
    StageTimer t("evaluate");
    RunTestsOptions ro;
    ro.filter = o.filter;
    ro.coverage = coverage;
    ro.pictures = !o.pictures.empty();
    report = run_tests(*l.engine, l.sm, ro);
    t.set_result(std::to_string(report.results.size()) + " expectations");
  }
  write_test_report(std::cout, report, *l.engine, l.sm, o.format);
  if (!o.filter.empty() && report.results.empty()) {
    std::cerr << "treaty: error: --filter `" << o.filter << "` matches no test\n";
    return kProblems;
  }
  int rc = report.failed ? kProblems : kOk;
  if (!o.pictures.empty()) {
    std::vector<std::pair<std::string, const Graph*>> pics;
    for (const auto& r : report.results)
      if (r.picture) {
        const auto lc = l.sm.line_col(r.span.file, r.span.begin);
        pics.emplace_back(r.test + "_line" + std::to_string(lc.line), &*r.picture);
      }
    if (!draw_pictures(o.pictures, pics, o.picture_format, "a failed expectation")) return kUsage;
  }
  if (!coverage) return rc;
  const CoverageReport c = coverage_of(l.engine->program(), report);
  if (o.coverage) {
    std::ostringstream text;
    write_coverage_report(text, c, l.sm, o.coverage_format);
    const std::string& file = *o.coverage;
    if (file.empty() || file == "-") {
      std::cerr << text.str();
    } else {
      // Written whole to a temporary next to it, then renamed: never a half-written report.
      const std::string tmp = file + ".tmp";
      {
        std::ofstream f(tmp, std::ios::binary | std::ios::trunc);
        f << text.str();
        f.flush();
        if (!f) {
          std::cerr << "treaty: error: cannot write the coverage report to " << tmp << "\n";
          std::remove(tmp.c_str());
          return kUsage;
        }
      }
      if (std::rename(tmp.c_str(), file.c_str()) != 0) {
        std::cerr << "treaty: error: cannot write the coverage report to " << file << "\n";
        std::remove(tmp.c_str());
        return kUsage;
      }
    }
  }
  if (o.min_coverage && c.percent() + 1e-9 < *o.min_coverage) {
    std::cerr << "treaty: error: coverage " << c.covered() << " of " << c.items.size() << " is below --min-coverage "
              << *o.min_coverage << "%\n";
    rc = kProblems;
  }
  return rc;
}
}  // namespace

std::function<int()> setup_test(CLI::App& app) {
  auto o = std::make_shared<TestOptions>();
  app.add_option("paths", o->load.paths, "Files or directories")->required();
  app.add_option("--data", o->load.data, "JSON facts file (repeatable)");
  add_format_option(app, o->format, {"text", "json", "junit"});
  app.add_option("--filter", o->filter, "Run only tests whose name contains TEXT (exit 1 if none does)");
  app.add_option("--coverage", o->coverage,
                 "Report what the tests exercise: each rule deciding and failing, each condition and `exists` "
                 "failing first; to FILE, or to stderr without one")
      ->expected(0, 1)
      ->default_str("-");
  app.add_option("--coverage-format", o->coverage_format, "Coverage report format: text, json, lcov, cobertura")
      ->check(CLI::IsMember({"text", "json", "lcov", "cobertura"}));
  app.add_option("--min-coverage", o->min_coverage, "Exit 1 when coverage is below N percent (0-100)")
      ->check(CLI::Range(0.0, 100.0));
  app.add_option("--pictures", o->pictures,
                 "Draw each failed expectation's decision (the facts it read, the condition that failed) into DIR");
  app.add_option("--picture-format", o->picture_format, "Format of --pictures: dot (default), svg or mermaid")
      ->check(CLI::IsMember({"dot", "svg", "mermaid"}));
  return [o] { return run_test(*o); };
}

}  // namespace treaty::cli
