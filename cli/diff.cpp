// `treaty diff OLD NEW`: every decision that differs between two versions of a package over
// their facts (treaty/diff.hpp), as text, JSON or markdown for a pull-request comment; with
// `--expect FILE`, a gate on an approved impact (docs/ci.md, "diff").
//
// Exit status: 0 when no decision differs (with --expect: when the impact is the approved one),
// 1 when some do (with --expect: when it is not), 2 on a usage or I/O error, or a version that
// does not load.
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <future>
#include <iostream>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>

#include "common.hpp"
#include "treaty/convert.hpp"
#include "treaty/diff.hpp"
#include "treaty/log.hpp"

namespace treaty::cli {

namespace {

struct DiffCliOptions {
  std::string before, after;
  std::vector<std::string> data, old_data, new_data;
  std::string format = "text";
  std::string expect;
  std::size_t examples = 3;
  bool brute_force = false;
};

/// Whether `path` is a bundle: a regular file that starts with the bundle's magic.
bool is_bundle(const std::string& path) {
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec)) return false;
  std::ifstream in(path, std::ios::binary);
  char magic[8] = {};
  in.read(magic, 8);
  return in.gcount() == 8 && std::string_view(magic, 8) == std::string_view("TREATYB\0", 8);
}

/// Loads one version; false with its problems on stderr.
bool load_version(Loaded& l, const std::string& what, const std::string& path, const std::vector<std::string>& data,
                  std::string& messages) {
  LoadOptions lo;
  if (is_bundle(path)) lo.bundle = path;
  else lo.paths = {path};
  lo.data = data;
  load(l, lo);
  if (l.engine && !l.diags.has_errors()) return true;
  std::ostringstream err;
  err << render_human(l.sm, l.diags.all());
  err << "treaty: error: the " << what << " version `" << path << "` does not load"
      << (l.pkg.files.empty() && lo.bundle.empty() ? "" : "; run `treaty check` on it for details") << "\n";
  messages = err.str();
  return false;
}

/// Compares the impact with an approved one (a `--format json` report): the number of differing
/// decisions and, per group (action, value, the outcome before and after), the count and the
/// digest of its requests. Returns what differs, one line each; empty when they match.
std::vector<std::string> compare_impact(const nlohmann::json& approved, const nlohmann::json& now) {
  std::vector<std::string> out;
  auto key = [](const nlohmann::json& g) {
    nlohmann::json k{{"action", g.value("action", "")}, {"before", g.value("before", nlohmann::json())},
                     {"after", g.value("after", nlohmann::json())}};
    if (g.contains("args")) k["args"] = g["args"];
    return k.dump();
  };
  std::map<std::string, const nlohmann::json*> a, b;
  for (const auto& g : approved.at("groups")) a[key(g)] = &g;
  for (const auto& g : now.at("groups")) b[key(g)] = &g;
  if (approved.at("changed") != now.at("changed"))
    out.push_back("changed decisions: " + approved.at("changed").dump() + " approved, " + now.at("changed").dump() + " now");
  for (const auto& [k, g] : a) {
    auto it = b.find(k);
    if (it == b.end()) {
      out.push_back("approved group no longer differs: " + k + " (" + g->at("count").dump() + " decisions)");
    } else if (g->at("count") != it->second->at("count") || g->value("digest", "") != it->second->value("digest", "")) {
      out.push_back("group " + k + ": " + g->at("count").dump() + " decisions approved, " +
                    it->second->at("count").dump() + " now" +
                    (g->at("count") == it->second->at("count") ? " (other requests: the digests differ)" : ""));
    }
  }
  for (const auto& [k, g] : b)
    if (!a.count(k)) out.push_back("new group: " + k + " (" + g->at("count").dump() + " decisions)");
  return out;
}

/// Reads and validates an approved impact file; false with the reason.
bool read_expect(const std::string& path, nlohmann::json& out, std::string& error) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    error = "cannot read the approved impact `" + path + "`: " + std::strerror(errno);
    return false;
  }
  std::stringstream ss;
  ss << in.rdbuf();
  if (const auto bad = parse_json(ss.str(), out)) {
    error = path + ": not JSON (at byte " + std::to_string(bad->offset) + ": " + bad->message +
            "); write it with `treaty diff OLD NEW --format json > " + path + "`";
    return false;
  }
  if (!out.is_object() || !out.contains("changed") || !out["changed"].is_number_unsigned() || !out.contains("groups") ||
      !out["groups"].is_array()) {
    error = path + ": not an impact report (an object with `changed` and `groups`); write it with `treaty diff OLD NEW --format json > " +
            path + "`";
    return false;
  }
  for (const auto& g : out["groups"])
    if (!g.is_object() || !g.contains("action") || !g.contains("count") || !g.contains("before") || !g.contains("after")) {
      error = path + ": a group lacks `action`, `count`, `before` or `after`";
      return false;
    }
  return true;
}

int run_diff(const DiffCliOptions& o) {
  for (const auto* p : {&o.before, &o.after}) {
    std::error_code ec;
    if (!std::filesystem::exists(*p, ec)) {
      std::cerr << "treaty: error: cannot read `" << *p << "`: no such file or directory\n";
      return kUsage;
    }
  }
  if ((!o.data.empty() || !o.old_data.empty()) && is_bundle(o.before)) {
    std::cerr << "treaty: error: --data and --old-data add facts to packages; the bundle `" << o.before
              << "` carries its own (compile it with them)\n";
    return kUsage;
  }
  if ((!o.data.empty() || !o.new_data.empty()) && is_bundle(o.after)) {
    std::cerr << "treaty: error: --data and --new-data add facts to packages; the bundle `" << o.after
              << "` carries its own (compile it with them)\n";
    return kUsage;
  }
  std::vector<std::string> data_a = o.data, data_b = o.data;
  data_a.insert(data_a.end(), o.old_data.begin(), o.old_data.end());
  data_b.insert(data_b.end(), o.new_data.begin(), o.new_data.end());
  nlohmann::json approved;
  if (!o.expect.empty()) {
    std::string error;
    if (!read_expect(o.expect, approved, error)) {
      std::cerr << "treaty: error: " << error << "\n";
      return kUsage;
    }
  }
  Loaded a, b;
  std::string ea, eb;
  bool oka = false, okb = false;
  {
    StageTimer t("load");
    // The two versions load side by side: on a large world each is mostly reading its facts.
    auto other = std::async(std::launch::async, [&] { return load_version(b, "new", o.after, data_b, eb); });
    oka = load_version(a, "old", o.before, data_a, ea);
    okb = other.get();
  }
  if (!oka || !okb) {
    std::cerr << ea << eb;
    return kUsage;
  }
  DiffOptions opts;
  opts.examples = o.examples;
  opts.brute_force = o.brute_force;
  DiffReport report;
  {
    StageTimer t("diff");
    report = diff(*a.engine, *b.engine, opts);
    t.set_result(std::to_string(report.changed) + " decisions differ");
  }
  write_diff_report(std::cout, report, o.format, o.before, o.after);
  std::cout << std::flush;
  if (o.expect.empty()) return report.changed == 0 ? kOk : kProblems;
  const auto lines = compare_impact(approved, diff_json(report));
  if (lines.empty()) {
    std::cerr << "treaty: the impact is the approved one (" << o.expect << ")\n";
    return kOk;
  }
  std::cerr << "treaty: the impact differs from the approved one (" << o.expect << "):\n";
  for (const auto& l : lines) std::cerr << "  " << l << "\n";
  std::cerr << "If the new impact is intended, approve it: treaty diff " << o.before << " " << o.after
            << " --format json > " << o.expect << "\n";
  return kProblems;
}

}  // namespace

std::function<int()> setup_diff(CLI::App& app) {
  auto o = std::make_shared<DiffCliOptions>();
  app.add_option("old", o->before, "The old version: a package (directory or file) or a bundle")->required();
  app.add_option("new", o->after, "The new version: a package (directory or file) or a bundle")->required();
  app.add_option("--data", o->data, "JSON facts file added to both packages (repeatable)");
  app.add_option("--old-data", o->old_data, "JSON facts file added to the old package only (repeatable)");
  app.add_option("--new-data", o->new_data, "JSON facts file added to the new package only (repeatable)");
  add_format_option(app, o->format, {"text", "json", "markdown"});
  app.add_option("--expect", o->expect,
                 "An approved impact (a `--format json` report): exit 0 when the impact is this one, 1 with what "
                 "differs otherwise");
  app.add_option("--examples", o->examples, "Example requests shown per group (default 3)")->check(CLI::Range(0, 1000));
  app.add_flag("--brute-force", o->brute_force,
               "Decide every request of every action in both versions instead (slow; to check the fast path)");
  return [o] { return run_diff(*o); };
}

}  // namespace treaty::cli
