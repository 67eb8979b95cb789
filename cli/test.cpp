// `treaty test`: run every `test` block; text, JSON or JUnit output.
#include <iostream>
#include <nlohmann/json.hpp>

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
  auto where = [&](Span s) {
    const auto lc = l.sm.line_col(s.file, s.begin);
    return l.sm.file(s.file).path + ":" + std::to_string(lc.line) + ":" + std::to_string(lc.column);
  };
  if (o.format == "json") {
    nlohmann::json j;
    j["passed"] = report.passed;
    j["failed"] = report.failed;
    j["results"] = nlohmann::json::array();
    for (const auto& r : report.results) {
      j["results"].push_back({{"test", r.test},
                              {"request", r.request},
                              {"location", where(r.span)},
                              {"passed", r.passed},
                              {"expected", r.expected_violation ? "violation" : r.expected_allow ? "allow" : "deny"},
                              {"decision", l.engine->to_json(r.decision, &l.sm)},
                              {"failure", r.failure}});
    }
    std::cout << j.dump(2) << "\n";
  } else if (o.format == "junit") {
    std::cout << "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n";
    std::cout << "<testsuites tests=\"" << report.results.size() << "\" failures=\"" << report.failed << "\">\n";
    std::cout << "  <testsuite name=\"treaty\" tests=\"" << report.results.size() << "\" failures=\"" << report.failed
              << "\">\n";
    for (const auto& r : report.results) {
      std::cout << "    <testcase classname=\"" << xml_escape(r.test) << "\" name=\"" << xml_escape(r.request)
                << "\" file=\"" << xml_escape(l.sm.file(r.span.file).path) << "\" line=\""
                << l.sm.line_col(r.span.file, r.span.begin).line << "\"";
      if (r.passed) {
        std::cout << "/>\n";
      } else {
        std::cout << ">\n      <failure message=\"" << xml_escape(r.failure) << "\">" << xml_escape(r.explanation)
                  << "</failure>\n    </testcase>\n";
      }
    }
    std::cout << "  </testsuite>\n</testsuites>\n";
  } else {
    for (const auto& r : report.results) {
      if (r.passed) continue;
      std::cout << where(r.span) << ": FAIL in test \"" << r.test << "\"\n  " << r.request << "\n  " << r.failure
                << "\n";
      if (!r.explanation.empty()) std::cout << "  " << indent_lines(r.explanation, "  ");
      std::cout << "\n";
    }
    std::cout << report.passed << " passed, " << report.failed << " failed\n";
  }
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
  app.add_option("--format", o->format, "Output format: text, json or junit (JUnit XML)")
      ->check(CLI::IsMember({"text", "json", "junit"}));
  app.add_option("--filter", o->filter, "Run only tests whose name contains TEXT (exit 1 if none does)");
  return [o] { return run_test(*o); };
}

}  // namespace treaty::cli
