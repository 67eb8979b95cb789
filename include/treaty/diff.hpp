// The impact of a policy change: every (principal, action, resource) decision that differs
// between two versions of a package over their facts (`treaty diff`, docs/ci.md).
//
// Exact: the report is what deciding every request in both versions would give (an action with
// one enum parameter is asked once per value, as field masks are; one whose parameters cannot be
// enumerated is listed as skipped). Fast: only the actions whose rules differ (compared
// structurally, by their typed IR, not by their text) or read facts that differ are looked at,
// and their candidates come from the plans of reverse queries (Engine::rule_candidates): the
// entities a changed rule can allow, in either version, from the other side; for facts that
// differ, the entities whose decisions can read them (Engine::plan_seeded). Every candidate is
// then decided in both versions. A changed rule no plan can drive is scanned, and the report
// says so.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "treaty/runtime.hpp"

namespace treaty {

struct DiffOptions {
  /// Examples kept per group.
  std::size_t examples = 3;
  /// Decide every request of every action in both versions instead (the tests' oracle).
  bool brute_force = false;
};

/// An entity by name: the same in both versions when type and id are.
struct DiffEntity {
  std::string type, id;
  friend bool operator==(const DiffEntity&, const DiffEntity&) = default;
};

/// One side of a group: the decision of a version and the rules that determined it (the permits
/// that allowed, or the forbids that denied; none for a default deny). `error` when deciding
/// failed (denied), and `missing` when the version cannot form the request (the action, a value,
/// a type or an entity does not exist in it): denied.
struct DiffOutcome {
  bool allow = false;
  std::vector<std::string> rules;
  bool error = false;
  bool missing = false;
  friend bool operator==(const DiffOutcome&, const DiffOutcome&) = default;
};

/// The decisions that changed in the same way: same action (and enum value), same outcome in
/// the old version and in the new one.
struct DiffGroup {
  std::string action;
  std::string param;  ///< the enum parameter, when the action is asked per value
  std::string value;  ///< its value
  DiffOutcome before, after;
  std::size_t count = 0;
  /// A digest of the exact set of (principal, resource) pairs (order-independent, 16 hex
  /// digits): two impacts with the same counts but other people differ here.
  std::string digest;
  std::vector<std::pair<DiffEntity, DiffEntity>> examples;  ///< (principal, resource)
};

/// A rule whose structure differs, or that exists in one version only.
struct DiffRuleChange {
  std::string rule;
  std::string change;  ///< "added", "removed" or "modified"
  bool forbid = false;
};

/// How the candidates of one action (and enum value, and pair of types) were found.
struct DiffActionStats {
  std::string action, param, value;
  std::string principal_type, resource_type;
  std::size_t candidates = 0;  ///< distinct requests decided or checked
  std::size_t decisions = 0;   ///< decide() calls, both versions together
  bool scan = false;           ///< some changed rule scanned every entity of a type
  std::vector<std::string> how;
};

struct DiffReport {
  std::size_t changed = 0;  ///< differing decisions
  std::size_t gained = 0;   ///< denied before, allowed after
  std::size_t lost = 0;     ///< allowed before, denied after
  std::vector<DiffGroup> groups;  ///< by action, value, then outcomes
  std::vector<DiffRuleChange> rules;
  std::size_t facts_added = 0, facts_removed = 0, facts_modified = 0;
  std::vector<DiffActionStats> actions;  ///< the actions looked at
  std::vector<std::string> skipped;       ///< actions whose parameters cannot be enumerated
  bool brute_force = false;
};

/// The decisions that differ between `before` and `after` over their own facts.
[[nodiscard]] DiffReport diff(const Engine& before, const Engine& after, const DiffOptions& opts = {});

}  // namespace treaty
