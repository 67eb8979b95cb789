// Pictures of the facts (docs/explain.md): the world as a graph of entities (`treaty graph`),
// and a decision as the facts it read (`treaty eval --explain --format dot`, a failed test, a
// verify counterexample, the native API's `"explain": "graph"`).
//
// Both are built as a plain Graph (nodes, edges, each edge naming the facts it stands for) and
// written as DOT, Mermaid or JSON, sorted, so the same facts always give the same text. The
// drawing is schema-driven, the same for every package:
// - every entity is a node labelled `Type::"id"` with its attributes of other types (Bool, Int,
//   String, enums and sets of them) as `name: value` lines;
// - every entity-typed attribute (one entity or a set of them) is an edge from the entity to
//   each entity it names, labelled with the attribute's name;
// - a *link type* (a type with a `key` of two required, single entity-typed attributes, which no
//   attribute of any type refers to: 4me's `Trust`, `key (grantor, grantee)`) is drawn as one
//   edge from its key's first entity to its second, labelled `Type::"id"` and its other
//   attributes (a trust's options and shared roles), not as a node;
// - a link with a Bool attribute that is false (a trust not `accepted`) is drawn dashed: the
//   link is on record but not in effect.
#pragma once

#include <cstddef>
#include <cstdint>
#include <nlohmann/json_fwd.hpp>
#include <optional>
#include <string>
#include <vector>

#include "treaty/program.hpp"
#include "treaty/runtime.hpp"
#include "treaty/source.hpp"

namespace treaty {

/// A fact an edge stands for: attribute `column` of `entity` names `target` (its value, or an
/// element of its set value).
struct GraphFact {
  EntityId entity = 0;
  std::uint32_t column = 0;
  EntityId target = 0;
  friend bool operator==(const GraphFact&, const GraphFact&) = default;
};

struct GraphNode {
  enum class Kind : std::uint8_t { entity, decision, rule };
  Kind kind = Kind::entity;
  std::string key;                 ///< unique and stable: `Type::"id"` for an entity, `rule:NAME`, `decision`
  std::string title;               ///< the first line of the label
  std::vector<std::string> lines;  ///< the label's other lines
  EntityId entity = kNone32;       ///< Kind::entity: the entity
  bool emphasis = false;           ///< the principal or resource of a decision
  bool failed = false;             ///< drawn red: a fact of a failed condition, a denying rule
  bool allowed = false;            ///< drawn green: an allow, a rule that decided one
  bool dashed = false;
};

struct GraphEdge {
  enum class Kind : std::uint8_t {
    fact,     ///< an entity-typed attribute (or a link's key): `facts` lists what it stands for
    request,  ///< a decision or rule to the principal or resource it was asked about
    rule,     ///< the decision to a rule that decided it or a closest miss
  };
  Kind kind = Kind::fact;
  std::string from, to;  ///< node keys
  std::string label;
  std::string attribute;  ///< Kind::fact: the attribute's name (a link: its key's two)
  std::vector<GraphFact> facts;  ///< Kind::fact: the attributes it draws (a link: its two keys)
  bool dashed = false;   ///< a link not in effect (a Bool attribute false)
  bool failed = false;   ///< drawn red: read by the condition that failed
  bool allowed = false;  ///< drawn green: read by a rule that allowed
  bool near = false;     ///< drawn dotted: read of the closest candidate of an `exists` that held for none
  bool read = false;     ///< a decision's graph: the decision read it (else it is context, grey)
};

struct Graph {
  std::string name;  ///< the graph's name in DOT (`world`, `decision`, ...)
  std::string title;
  std::vector<GraphNode> nodes;  ///< sorted by key
  std::vector<GraphEdge> edges;  ///< sorted by (from, to, label)
  [[nodiscard]] const GraphNode* find(std::string_view key) const;
};

struct WorldGraphOptions {
  /// Only entities of these types (all when empty); the endpoints of a link of a listed type
  /// are drawn with it.
  std::vector<TypeId> types;
  /// Only the neighbourhood of this entity: what it refers to and what refers to it, out to
  /// `depth` steps (a link counts as one step between its two ends).
  std::optional<EntityId> around;
  std::uint32_t depth = 1;
  /// More nodes than this is refused (0: no limit), with a message saying how to narrow.
  std::size_t max_nodes = 200;
  /// Entities of a request or a test's `given` (a verify counterexample's whole world).
  const Overlay* overlay = nullptr;
};

/// The world `engine` decides on (live writes included) and `o.overlay`, as a graph. False with
/// the reason in `error` when it has more than `max_nodes` nodes.
[[nodiscard]] bool world_graph(const Engine& engine, const WorldGraphOptions& o, Graph& out, std::string& error);

/// Whether type `t` is drawn as an edge (a link type; see the top of this header).
[[nodiscard]] bool is_link_type(const Schema& schema, TypeId t);

struct DecisionGraphOptions {
  std::size_t max_rules = 8;
  /// Draw this world around the decision too (a verify counterexample's shrunk world): every
  /// entity of the overlay, with its facts; the facts the decision read are drawn over it.
  bool whole_overlay = false;
  std::string title;  ///< a first line above the decision (a test's name, a property's)
};

/// The decision `d` for `r` (decided with an explanation) as a graph: the decision, the rules
/// that decided it or its closest misses, the principal and resource, and every fact the rules'
/// conditions read (Engine::decision_facts): an entity-typed attribute as an edge, others as
/// lines of their entity's label; what the failed condition read in red, labelled with it.
[[nodiscard]] Graph decision_graph(const Engine& engine, const Decision& d, const Request& r,
                                   const SourceManager* sm, const DecisionGraphOptions& o = {});

/// The graph in Graphviz DOT.
[[nodiscard]] std::string to_dot(const Graph& g);
/// The graph as a Mermaid flowchart (for markdown and pull requests).
[[nodiscard]] std::string to_mermaid(const Graph& g);
/// `{"name", "title", "nodes": [...], "edges": [...]}`.
[[nodiscard]] nlohmann::json to_json(const Graph& g);
/// to_dot or to_mermaid by name ("dot", "mermaid"); false for another name.
bool render_graph(const Graph& g, std::string_view format, std::string& out);

}  // namespace treaty
