#include "treaty/test_runner.hpp"

#include "treaty/convert.hpp"

namespace treaty {


TestReport run_tests(const Engine& engine, const SourceManager& sm, std::string_view filter) {
  RunTestsOptions o;
  o.filter = std::string(filter);
  return run_tests(engine, sm, o);
}

TestReport run_tests(const Engine& engine, const SourceManager& sm, const RunTestsOptions& options) {
  const std::string_view filter = options.filter;
  TestReport report;
  const Program& p = engine.program();
  for (const auto& t : p.tests) {
    if (!filter.empty() && t.name.find(filter) == std::string::npos) continue;
    ++report.tests;
    Overlay overlay(p);
    Diagnostics given_diags;
    bool given_ok = overlay.add_facts(t.given, given_diags);
    // Keys and requirements hold for the world a test decides in, `given` facts included: a
    // broken world fails every allow and deny expectation, and is what `expect violation R`
    // expects.
    const auto broken = given_ok ? engine.overlay_violations(overlay, false) : std::vector<Engine::OverlayViolation>{};
    for (const auto& v : broken) given_diags.add(DiagId::requirement_violated, t.span, v.message);
    for (const auto& [name, span] : t.violations) {
      ExpectationResult r;
      r.test = t.name;
      r.expected_violation = true;
      r.span = span;
      r.request = std::string(sm.text(span));
      if (!given_ok) {
        r.failure = "the test's `given` facts are invalid:\n" + render_human(sm, given_diags.all());
      } else {
        bool found = false;
        for (const auto& v : broken) found = found || (v.requirement && p.requirements[*v.requirement].name == name);
        if (!found) r.failure = "expected requirement `" + name + "` to be violated, but the test's world keeps it";
      }
      r.passed = r.failure.empty();
      (r.passed ? report.passed : report.failed)++;
      report.results.push_back(std::move(r));
    }
    given_ok = given_ok && broken.empty();
    for (const auto& ex : t.expects) {
      ExpectationResult r;
      r.test = t.name;
      r.expected_allow = ex.allow;
      r.span = ex.span;
      r.request = std::string(sm.text(ex.span));
      if (!given_ok) {
        r.failure = "the test's `given` facts are invalid:\n" + render_human(sm, given_diags.all());
      } else {
        Request req;
        std::string error;
        std::vector<bool> given(ex.request.args.size(), true);
        std::vector<Value> args = ex.request.args;
        OverlayResolver res(overlay);
        const auto& params = p.schema.actions[ex.request.action].params;
        for (const auto& [idx, constant] : ex.arg_constants) {
          Span where;
          if (!convert_constant(p.schema, constant, params[idx].type, res, args[idx], error, where)) break;
        }
        if (!error.empty()) {
          r.failure = "invalid argument: " + error;
        } else if (!engine.make_request(ex.request.principal_type, ex.request.principal_id, ex.request.action,
                                        std::move(args), given, ex.request.resource_type, ex.request.resource_id,
                                        &overlay, req, error)) {
          r.failure = "invalid request: " + error;
        } else {
          r.decision = options.coverage ? engine.decide_traced(req, r.outcomes) : engine.decide(req, true);
          r.explanation = engine.explain(r.decision, req, &sm);
          if (!r.decision.errors.empty()) {
            r.failure = "the decision failed with an error";
          } else if (r.decision.allow != ex.allow) {
            r.failure = std::string("expected ") + (ex.allow ? "allow" : "deny") + ", got " +
                        (r.decision.allow ? "allow" : "deny");
          } else {
            for (const auto& b : ex.because) {
              bool found = false;
              for (auto ri : r.decision.determining) found = found || p.rules[ri].name == b;
              if (!found) {
                r.failure = "expected rule `" + b + "` to decide, but it did not";
                break;
              }
            }
          }
          if (options.pictures && !r.failure.empty()) {
            DecisionGraphOptions go;
            go.title = "test " + t.name + ": " + r.failure;
            r.picture = decision_graph(engine, r.decision, req, &sm, go);
          }
        }
      }
      r.passed = r.failure.empty();
      (r.passed ? report.passed : report.failed)++;
      report.results.push_back(std::move(r));
    }
  }
  return report;
}

}  // namespace treaty
