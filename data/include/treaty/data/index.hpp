// Indexes over the world's entities: the interface every index kind implements, and the one
// function that builds the kind an IndexSpec names. The kinds live in data/index_*.cpp, each in
// its own file over the shared key table of data/index_table.hpp.
//
// A new index kind: an IndexKind value (treaty/program.hpp), a class deriving from EntityIndex in
// data/index_KIND.cpp, a case in build_entity_index (data/index.cpp), its choice in
// compiler/indexes.cpp and its name in the `indexes` dump (compiler/dump.cpp). The bundle stores
// the spec with its kind; the engine probes every kind through EntityIndex::probe.
#pragma once

#include <cstddef>
#include <memory>

#include "treaty/program.hpp"

namespace treaty {

class World;

/// Entities of one index key: a run of ids, ascending.
struct EntityRange {
  const EntityId* first = nullptr;
  std::size_t count = 0;
  [[nodiscard]] const EntityId* begin() const { return first; }
  [[nodiscard]] const EntityId* end() const { return first + count; }
};

/// An index over the entities of one type (spec().type), built once from the world and read-only
/// afterwards (so shareable across threads). A probe may answer a superset of the entities whose
/// key matches: callers test the candidates themselves, as `exists` does by evaluating its whole
/// body on each.
class EntityIndex {
 public:
  explicit EntityIndex(const IndexSpec& s) : spec_(s) {}
  virtual ~EntityIndex() = default;
  EntityIndex(const EntityIndex&) = delete;
  EntityIndex& operator=(const EntityIndex&) = delete;

  [[nodiscard]] const IndexSpec& spec() const noexcept { return spec_; }
  /// The candidates for key `v`, or for the pair (v, v2) of a pair index (a column index ignores
  /// v2). The range points into the index.
  [[nodiscard]] virtual EntityRange probe(const Value& v, const Value& v2) const = 0;
  /// Bytes held, counted from the tables' sizes.
  [[nodiscard]] virtual std::size_t memory_bytes() const = 0;

 private:
  IndexSpec spec_;
};

/// Builds the index `s` describes over the entities of `w`: the one place a spec becomes an index
/// of its kind. `s` must name a type and columns of the world's schema (the compiler's specs and
/// a validated bundle's do).
[[nodiscard]] std::unique_ptr<EntityIndex> build_entity_index(const World& w, const IndexSpec& s);

}  // namespace treaty
