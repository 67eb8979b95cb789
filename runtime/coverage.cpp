// Test coverage from the traced decisions of a test run: for each rule, whether it decided and
// whether it failed; for each of its conditions, whether it was the first to fail; for each
// `exists`, whether a failure narrowed to it.
#include "treaty/coverage.hpp"

#include <algorithm>
#include <map>
#include <set>
#include <tuple>

namespace treaty {

namespace {
bool inside(const Span& inner, const Span& outer) {
  return inner.file == outer.file && inner.begin >= outer.begin && inner.end <= outer.end;
}
using SpanKey = std::tuple<std::uint32_t, std::uint32_t, std::uint32_t>;
SpanKey key(const Span& s) { return {s.file, s.begin, s.end}; }

/// Visits each node under `root` once, depth first; visit(node, stack) may push more roots and
/// returns whether to go into the node's children.
template <typename Visit>
void walk(const Program& p, NodeId root, Visit&& visit) {
  std::vector<NodeId> stack{root};
  std::set<NodeId> visited;
  while (!stack.empty()) {
    const NodeId n = stack.back();
    stack.pop_back();
    if (n >= p.nodes.size() || !visited.insert(n).second) continue;
    if (visit(p.nodes[n], stack))
      for (NodeId k : p.nodes[n].kids) stack.push_back(k);
  }
}

/// The `exists` written in the source reachable from the rules, and how the IR's copies map back
/// to them.
struct ExistsIndex {
  std::vector<CoverageItem> items;
  std::set<SpanKey> seen;
  /// An inlined call's root node has the call's span; a failure narrowed to it is a failure of the
  /// predicate's body, whose own span is the key here.
  std::map<SpanKey, SpanKey> alias;
  std::vector<bool> predicate_used;

  /// Marks the predicates `root` calls or inlines, and maps inlined calls to the bodies.
  void mark(const Program& p, NodeId root) {
    walk(p, root, [&](const Node& nd, std::vector<NodeId>& stack) {
      const std::uint32_t called = nd.inlined != kNone32 ? nd.inlined : nd.op == Op::call ? nd.a : kNone32;
      if (called < p.predicates.size()) {
        if (nd.inlined != kNone32 && p.predicates[called].body < p.nodes.size())
          alias.emplace(key(nd.span), key(p.nodes[p.predicates[called].body].span));
        if (!predicate_used[called]) {
          predicate_used[called] = true;
          stack.push_back(p.predicates[called].body);
        }
      }
      return true;
    });
  }

  /// Lists every `exists` under `root` once, skipping inlined copies (their nodes have the
  /// predicate's spans, listed with the predicate; their root has the call's).
  void collect(const Program& p, NodeId root, const std::string& owner) {
    walk(p, root, [&](const Node& nd, std::vector<NodeId>&) {
      if (nd.inlined != kNone32) return false;
      if ((nd.op == Op::exists_type || nd.op == Op::exists_set) && nd.span.end > nd.span.begin &&
          seen.insert(key(nd.span)).second)
        items.push_back({CoverageItem::Kind::exists_fails, owner, nd.span, 0});
      return true;
    });
  }

  /// `k` and what it stands for through inlined calls.
  void expand(SpanKey k, std::set<SpanKey>& out) const {
    for (int depth = 0; depth < 16 && out.insert(k).second; ++depth) {
      auto it = alias.find(k);
      if (it == alias.end()) break;
      k = it->second;
    }
  }
};
}  // namespace

const char* coverage_kind_name(CoverageItem::Kind k) {
  switch (k) {
    case CoverageItem::Kind::rule_decides: return "rule decides";
    case CoverageItem::Kind::rule_fails: return "rule fails";
    case CoverageItem::Kind::condition_fails: return "condition fails first";
    case CoverageItem::Kind::exists_fails: return "exists fails first";
  }
  return "?";
}

std::size_t CoverageReport::covered() const {
  return static_cast<std::size_t>(std::count_if(items.begin(), items.end(), [](const auto& i) { return i.hits > 0; }));
}

double CoverageReport::percent() const {
  return items.empty() ? 100.0 : 100.0 * static_cast<double>(covered()) / static_cast<double>(items.size());
}

CoverageReport coverage_of(const Program& p, const TestReport& report) {
  ExistsIndex ex;
  ex.predicate_used.assign(p.predicates.size(), false);
  for (const auto& rule : p.rules)
    for (const auto& c : rule.conditions) ex.mark(p, c.expr);
  for (std::uint32_t i = 0; i < p.predicates.size(); ++i)
    if (ex.predicate_used[i]) ex.collect(p, p.predicates[i].body, p.predicates[i].name);
  for (const auto& rule : p.rules)
    for (const auto& c : rule.conditions) ex.collect(p, c.expr, rule.name);

  std::vector<std::size_t> decided(p.rules.size(), 0), failed(p.rules.size(), 0);
  // Where each failure narrowed to: by rule, the conjunct; over all, every span it narrowed
  // through (the conjunct, the conjuncts inside predicates, and the bodies of inlined calls).
  std::vector<std::vector<Span>> first_fail(p.rules.size());
  std::map<SpanKey, std::size_t> narrowed;
  for (const auto& r : report.results) {
    for (auto ri : r.decision.determining)
      if (ri < decided.size()) ++decided[ri];
    std::set<SpanKey> this_time;  // one hit per expectation, however many rules narrowed to it
    for (const auto& o : r.outcomes) {
      if (o.rule >= p.rules.size() || o.applied) continue;
      ++failed[o.rule];
      first_fail[o.rule].push_back(o.miss.condition);
      ex.expand(key(o.miss.condition), this_time);
      for (const auto& w : o.miss.within) ex.expand(key(w.conjunct), this_time);
    }
    for (const auto& k : this_time) ++narrowed[k];
  }
  CoverageReport out;
  std::vector<CoverageItem> conditions;
  for (std::uint32_t ri = 0; ri < p.rules.size(); ++ri) {
    const RuleInfo& rule = p.rules[ri];
    out.items.push_back({CoverageItem::Kind::rule_decides, rule.name, rule.span, decided[ri]});
    // A rule without conditions applies whenever its action and types match: it cannot fail.
    if (!rule.conditions.empty())
      out.items.push_back({CoverageItem::Kind::rule_fails, rule.name, rule.span, failed[ri]});
    for (const auto& c : rule.conditions) {
      std::size_t hits = 0;
      for (const auto& s : first_fail[ri]) hits += inside(s, c.span) ? 1 : 0;
      conditions.push_back({CoverageItem::Kind::condition_fails, rule.name, c.span, hits});
    }
  }
  for (auto& e : ex.items) {
    auto it = narrowed.find(key(e.span));
    e.hits = it == narrowed.end() ? 0 : it->second;
  }
  auto by_place = [](const CoverageItem& a, const CoverageItem& b) {
    return std::tie(a.span.file, a.span.begin, a.span.end) < std::tie(b.span.file, b.span.begin, b.span.end);
  };
  std::stable_sort(ex.items.begin(), ex.items.end(), by_place);
  out.items.insert(out.items.end(), conditions.begin(), conditions.end());
  out.items.insert(out.items.end(), ex.items.begin(), ex.items.end());
  return out;
}

}  // namespace treaty
