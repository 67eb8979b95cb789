// Every report the `treaty` command writes, in each of its formats, in one place: diagnostics
// (text, JSON, SARIF 2.1.0), test reports (text, JSON, JUnit XML), verify reports (text, JSON)
// decisions (text, JSON) and explain's declarations and uses (text, JSON). A verb computes its
// result and hands it here, so a format and its `--format` option read the same in every verb.
#pragma once

#include <CLI/CLI.hpp>
#include <nlohmann/json_fwd.hpp>
#include <iosfwd>
#include <string>
#include <vector>

#include "treaty/coverage.hpp"
#include "treaty/diagnostics.hpp"
#include "treaty/graph.hpp"
#include "treaty/diff.hpp"
#include "treaty/request_reader.hpp"
#include "treaty/runtime.hpp"
#include "treaty/source.hpp"
#include "treaty/test_runner.hpp"
#include "treaty/verify.hpp"

namespace treaty::cli {

/// Declares `--format` on a verb: `allowed` lists its formats, `text` first (the default); the
/// help names each (text, json, sarif, junit) the same way everywhere.
CLI::Option* add_format_option(CLI::App& app, std::string& target, const std::vector<std::string>& allowed);

/// Colour on a terminal unless NO_COLOR is set.
bool use_color(bool to_stdout);

/// Prints diagnostics, sorted, in `format` (text, json or sarif): to stdout, or to stderr when
/// `to_stderr` (when stdout carries another output, as with `check --dump`).
void print_diagnostics(const SourceManager& sm, Diagnostics& diags, const std::string& format, bool to_stderr = false);

/// Prints diagnostics, sorted, to stderr as text.
void print_errors(const SourceManager& sm, Diagnostics& diags);

/// `treaty test`'s report in `format` (text, json or junit).
void write_test_report(std::ostream& out, const TestReport& report, const Engine& engine, const SourceManager& sm,
                       const std::string& format);

/// `treaty verify`'s report in `format` (text or json).
void write_verify_report(std::ostream& out, const VerifyReport& report, const SourceManager& sm,
                         const std::string& format);

/// One of `treaty eval`'s answers, appended to `out`: JSON is DecisionWriter's (Engine::to_json's
/// text); text is `allow`/`deny`, or the explanation when one was asked for.
void append_decision(std::string& out, const Engine& engine, const SourceManager& sm, const DecisionWriter& w,
                     const Decision& d, const Request& r, const std::string& format, bool explain);

/// A declaration `treaty explain` found for a name, and its uses.
struct ExplainMatch {
  struct Use {
    Span span;
    std::string what;  ///< "read", "call", ...
    std::string in;    ///< the declaration it is in: "rule `x`"
  };
  std::string kind;  ///< "attribute", "predicate", ...
  std::string name;  ///< qualified: "Person.account"
  std::string doc;
  Span location;     ///< the name
  Span text;         ///< the whole declaration
  std::vector<Use> uses;
};

/// `treaty explain`'s report for `name` in `format` (text or json).
void write_explain_report(std::ostream& out, const SourceManager& sm, const std::string& name,
                          const std::vector<ExplainMatch>& matches, const std::string& format);

/// `treaty test --coverage`'s report in `format`: text (a summary and what no test covers, with
/// locations), json, lcov (tracefile: rules as functions, a line's hits the fewest of the items
/// it starts) or cobertura (XML, lines as in lcov).
void write_coverage_report(std::ostream& out, const CoverageReport& c, const SourceManager& sm,
                           const std::string& format);

/// The picture formats of `graph` and `--explain`: dot, svg (Graphviz's `dot` run on the DOT),
/// mermaid and json.
bool is_picture_format(const std::string& format);

/// `g` in a picture format, whole into `out`; false with the reason in `error` (svg without
/// Graphviz's `dot` on PATH, or `dot` failing). Nothing is half-rendered: `out` is set only on
/// success.
bool render_picture(const Graph& g, const std::string& format, std::string& out, std::string& error);

/// Runs Graphviz's `dot -Tsvg` on `dot_text` (through temporary files, no shell); false with the
/// reason (how to install Graphviz when `dot` is missing).
bool dot_to_svg(const std::string& dot_text, std::string& svg, std::string& error);
/// `treaty diff`'s report as JSON (the format `--expect` reads: docs/ci.md, "diff").
nlohmann::json diff_json(const DiffReport& r);

/// `treaty diff`'s report in `format`: text, json or markdown (a pull-request comment).
void write_diff_report(std::ostream& out, const DiffReport& r, const std::string& format, const std::string& old_name,
                       const std::string& new_name);

/// Escapes text for XML attributes and bodies (JUnit).
std::string xml_escape(const std::string& s);

/// Indents every line after the first of `text` by `pad`.
std::string indent_lines(std::string text, const std::string& pad);

}  // namespace treaty::cli
