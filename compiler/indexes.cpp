// Index choice: which equality conjuncts of an `exists` body a hash index answers (chosen as
// each `exists` is lowered), the program's list of indexes, and the rules each action can meet.
#include <algorithm>

#include "internal/checker.hpp"
#include "internal/types.hpp"

namespace treaty::detail {

bool Checker::uses_slot(NodeId n, std::uint32_t slot) const {
  const Node& nd = p_.nodes[n];
  if (nd.op == Op::var && nd.slot == slot) return true;
  for (NodeId k : nd.kids)
    if (uses_slot(k, slot)) return true;
  return false;
}

/// Chooses equality conjuncts `x.a == key` (key free of x) to answer through a hash index: the
/// first two on distinct attributes become a composite probe (`t.grantor == c and t.grantee ==
/// p` finds the pair's trust in one step), a single one a probe on its column. The conjuncts
/// stay in the body, which the runtime evaluates for every candidate the probe returns.
///
/// Called as each `exists` is lowered, not in the indexes pass: a call to a small predicate
/// inlines a copy of its lowered body, probes and probe keys included, and the size that decides
/// whether to inline counts those keys; choosing later would change what is inlined.
void Checker::choose_probe(NodeId ex, TypeId type, std::uint32_t slot) {
  const NodeId body = p_.nodes[ex].kids[0];
  std::vector<NodeId> conj;
  if (p_.nodes[body].op == Op::and_) conj = p_.nodes[body].kids.to_vector(); else conj = {body};
  struct Found {
    std::uint32_t attr;
    NodeId key;
  };
  std::vector<Found> found;
  for (NodeId c : conj) {
    const Node& cn = p_.nodes[c];
    if (cn.op != Op::eq) continue;
    for (int side = 0; side < 2 && found.size() < 2; ++side) {
      const NodeId a = cn.kids[side], k = cn.kids[1 - side];
      const Node& an = p_.nodes[a];
      if (an.op != Op::attr) continue;
      const Node& base = p_.nodes[an.kids[0]];
      if (base.op != Op::var || base.slot != slot || uses_slot(k, slot)) continue;
      const int col = p_.schema.entities[type].column(an.a);
      if (col < 0 || (!found.empty() && found[0].attr == an.a)) continue;
      found.push_back({an.a, k});
      break;
    }
  }
  if (found.empty()) return;
  // One order per pair of attributes, so `a == x and b == y` and `b == y and a == x` share an index.
  if (found.size() == 2 && found[1].attr < found[0].attr) std::swap(found[0], found[1]);
  Node& n = p_.nodes[ex];
  n.probe_attr = static_cast<std::int32_t>(found[0].attr);
  n.kids.push_back(found[0].key);
  if (found.size() == 2) {
    n.probe_attr2 = static_cast<std::int32_t>(found[1].attr);
    n.kids.push_back(found[1].key);
  }
}

/// The indexes pass: Program::indexes, one per (type, columns) that an `exists` probes, in the
/// order of first use. Node order is the order the probes were chosen in (each as its `exists`
/// was made), and an inlined copy probes what its original, made before it, does. Then the rules
/// each action can meet.
void Checker::choose_indexes() {
  for (const Node& n : p_.nodes) {
    if (n.op != Op::exists_type || n.probe_attr < 0 || n.types.empty()) continue;
    const auto& et = p_.schema.entities[n.types[0]];
    const auto col = static_cast<std::uint32_t>(et.column(static_cast<std::uint32_t>(n.probe_attr)));
    const IndexSpec spec =
        IndexSpec::on(n.types[0], col, n.probe_attr2 >= 0 ? et.column(static_cast<std::uint32_t>(n.probe_attr2)) : -1);
    if (std::find(p_.indexes.begin(), p_.indexes.end(), spec) == p_.indexes.end()) p_.indexes.push_back(spec);
  }
  index_rules();
}

void Checker::index_rules() {
  p_.rules_by_action.assign(p_.schema.actions.size(), {});
  for (std::uint32_t i = 0; i < p_.rules.size(); ++i) {
    const auto& r = p_.rules[i];
    if (r.any_action) {
      for (auto& v : p_.rules_by_action) v.push_back(i);
    } else {
      for (auto a : r.actions) p_.rules_by_action[a].push_back(i);
    }
  }
}

}  // namespace treaty::detail
