// The world's layout: the data layer's storage of facts, for the layers above it (compiler,
// runtime, server, the command and the tests). Not part of the public API in include/treaty/: a
// Program there holds a World without showing its layout.
#pragma once

#include <algorithm>
#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "treaty/convert.hpp"
#include "treaty/data/index.hpp"
#include "treaty/program.hpp"

namespace treaty {

/// The value a column of a sealed world holds in its 8-byte cells: the tag and enum id its
/// declared type gives every value, so a cell keeps only the payload (an entity id, an enum
/// index, an enum set's mask, a string or set pointer). Values of another form (none, a
/// negative integer, an empty set of an enum-set column) are kept aside, the cell naming them.
struct ColumnKind {
  Tag tag = Tag::none;
  std::uint32_t aux = 0;
  bool operator==(const ColumnKind&) const = default;
};
/// The column kinds of every entity type of `s`, by type and column.
[[nodiscard]] std::vector<std::vector<ColumnKind>> column_kinds(const Schema& s);

struct EntityRecord {
  TypeId type = 0;
  std::uint32_t first_attr = 0;  ///< index into World::attrs of its first column
  std::uint32_t id_off = 0;      ///< the id's text: World's id arena [id_off, id_off + id_len)
  std::uint32_t id_len = 0;
};

/// Memory for the world's large tables. Blocks of 4 MiB or more are mapped separately and
/// marked for transparent huge pages: decisions read attributes and index slots at random across
/// hundreds of megabytes, and 2 MiB pages save most of the page-table walks that 4 KiB pages
/// would cost on each of those reads. Smaller blocks come from the usual allocator.
void* big_allocate(std::size_t bytes);
void big_deallocate(void* p, std::size_t bytes) noexcept;
template <typename T>
struct BigAllocator {
  using value_type = T;
  BigAllocator() = default;
  template <typename U>
  BigAllocator(const BigAllocator<U>&) {}  // NOLINT: allocators convert implicitly
  T* allocate(std::size_t n) { return static_cast<T*>(big_allocate(n * sizeof(T))); }
  void deallocate(T* p, std::size_t n) noexcept { big_deallocate(p, n * sizeof(T)); }
  template <typename U>
  bool operator==(const BigAllocator<U>&) const { return true; }
};
template <typename T>
using BigVector = std::vector<T, BigAllocator<T>>;

/// A slot of an open-addressing hash table: an item index (kNone32 when empty) and 32 bits of
/// its hash, so a probe compares items only when the hashes agree.
struct HashSlot {
  std::uint32_t item = kNone32;
  std::uint32_t hash = 0;
};

/// Every entity of a package and its loaded data. Append-only while building; read-only (and so
/// shareable across threads) afterwards.
///
/// Memory per entity: a 16-byte record, 8 bytes per attribute once sealed (16 while building),
/// the id's text in one arena, and an 8-byte slot (at most 3/4 full) of the (type, id) lookup
/// table. Strings are interned once per world; sets of enum values are inline in their Value;
/// other sets are shared when equal.
///
/// Building appends entities with attributes as 16-byte Values; group_by_type then seals the
/// world: entities of a type become contiguous and their attributes move into 8-byte cells
/// whose tag follows from the column (ColumnKind). Halving the rows matters because decisions
/// read rows at random among millions of entities: more of them stay in cache.
class World {
 public:
  World() = default;
  World(const World&) = delete;
  World& operator=(const World&) = delete;
  World(World&&) = default;
  World& operator=(World&&) = default;

  const std::string* intern(std::string_view s);
  Value make_set(std::vector<Value> items);  ///< sorts and deduplicates; a set value

  [[nodiscard]] std::optional<EntityId> find(TypeId type, std::string_view id) const;
  [[nodiscard]] const EntityRecord& entity(EntityId e) const { return entities_[e]; }
  [[nodiscard]] std::string_view id(EntityId e) const {
    return {ids_.data() + entities_[e].id_off, entities_[e].id_len};
  }
  /// Where the fact was written; invalid for facts from JSON data.
  [[nodiscard]] Span span(EntityId e) const { return e < spans_.size() ? spans_[e] : Span{}; }
  [[nodiscard]] std::size_t size() const { return entities_.size(); }
  [[nodiscard]] Value attr(EntityId e, std::uint32_t column) const {
    if (!sealed()) return attrs_[entities_[e].first_attr + column];
    const TypeId t = type_of(e);
    return sealed_attr(first_attr(e, t) + column, t, column);
  }
  /// A writable attribute; unseals a sealed world first (group_by_type seals it again).
  Value& attr_mut(EntityId e, std::uint32_t column) {
    unseal();
    return attrs_[entities_[e].first_attr + column];
  }
  [[nodiscard]] const std::vector<EntityId>& of_type(TypeId t) const;
  /// The type of entity `e` and the index of its first attribute. Once the world is grouped by
  /// type this reads no per-entity record: both follow from a small per-type table, so an
  /// attribute read costs one random memory access instead of two.
  [[nodiscard]] TypeId type_of(EntityId e) const {
    if (type_first_.empty()) return entities_[e].type;
    return static_cast<TypeId>(std::upper_bound(type_first_.begin(), type_first_.end(), e) - type_first_.begin() - 1);
  }
  [[nodiscard]] std::uint32_t first_attr(EntityId e, TypeId t) const {
    if (type_first_.empty()) return entities_[e].first_attr;
    return type_attr_base_[t] + (e - type_first_[t]) * type_ncols_[t];
  }
  /// Attribute `column` of an entity of type `t` in a sealed world, whose attributes start at
  /// `index` (first_attr): one cell read, and a read aside only for values of another form.
  [[nodiscard, gnu::always_inline]] Value sealed_attr(std::uint32_t index, TypeId t, std::uint32_t column) const {
    return decode(cells_[index], kinds_[type_kind_base_[t] + column]);
  }
  /// Where column `column` of the entities of type `t` lives in a sealed world: resolved once
  /// by a reader (the evaluator, per attribute instruction), so a read is one range check and
  /// one cell load with no per-type table lookups in between.
  struct ColumnRef {
    EntityId first = 0;      ///< the type's first entity
    std::uint32_t count = 0; ///< how many it has
    std::uint32_t base = 0, ncols = 0, column = 0;
    ColumnKind kind;
  };
  /// nullopt unless the world is sealed and `column` is a column of `t`.
  [[nodiscard]] std::optional<ColumnRef> column_ref(TypeId t, std::uint32_t column) const {
    if (!sealed() || t + 1 >= type_first_.size() || column >= type_ncols_[t]) return std::nullopt;
    return ColumnRef{type_first_[t], type_first_[t + 1] - type_first_[t], type_attr_base_[t], type_ncols_[t], column,
                     kinds_[type_kind_base_[t] + column]};
  }
  /// Reads `e`'s attribute through `r` into `out`; false (out untouched) when `e` is not an
  /// entity of r's type.
  [[nodiscard, gnu::always_inline]] bool read(const ColumnRef& r, EntityId e, Value& out) const {
    const std::uint32_t k = e - r.first;
    if (k >= r.count) return false;
    out = decode(cells_[r.base + k * r.ncols + r.column], r.kind);
    return true;
  }
  /// The address of an entity's first attribute cell in a sealed world, to prefetch it.
  /// (Arithmetic on data(), not `&cells_[i]`: a world whose types have no attributes has no cells.)
  [[nodiscard]] const void* row_address(EntityId e, TypeId t) const { return cells_.data() + first_attr(e, t); }
  /// True once group_by_type (or a bundle) grouped the entities by type and stored their
  /// attributes in cells; type_of and first_attr then use the per-type tables.
  [[nodiscard]] bool sealed() const { return !type_first_.empty(); }
  /// True when `e` is an entity of type `t` of a world grouped by type.
  [[nodiscard]] bool in_type(EntityId e, TypeId t) const {
    return t + 1 < type_first_.size() && e >= type_first_[t] && e < type_first_[t + 1];
  }
  /// Renumbers the entities so that each type's are contiguous, in type order, keeping their
  /// relative order, rewrites every entity reference in attributes and sets to match, and seals
  /// the world (attributes in cells of the kinds given by type and column). Called once the
  /// world is complete (ids given out before are invalid afterwards).
  void group_by_type(const std::vector<std::vector<ColumnKind>>& kinds_by_type);
  /// Adds an entity with `ncols` none attributes (unsealing a sealed world). Fails (nullopt)
  /// when (type, id) exists.
  std::optional<EntityId> add(TypeId type, std::string_view id, std::uint32_t ncols, Span span = {});

  using EntityRange = treaty::EntityRange;
  /// Builds the index `s` describes over the entities of its type (nothing when it is built).
  void build_index(const IndexSpec& s);
  [[nodiscard]] bool has_index(const IndexSpec& s) const { return index_number(s) >= 0; }
  /// The number of index `s` for index(), or -1 when it is not built.
  [[nodiscard]] std::int32_t index_number(const IndexSpec& s) const;
  /// How many indexes are built (their numbers are 0 .. index_count() - 1).
  [[nodiscard]] std::size_t index_count() const { return indexes_.size(); }
  /// Index `number` (from index_number).
  [[nodiscard]] const EntityIndex& index(std::int32_t number) const { return *indexes_[static_cast<std::size_t>(number)]; }
  /// The candidates index `s` gives for the key `v` (the pair (v, v2) for a pair index); nullopt
  /// when it is not built.
  [[nodiscard]] std::optional<EntityRange> probe(const IndexSpec& s, const Value& v, const Value& v2) const;
  [[nodiscard]] std::size_t string_count() const { return string_store_.size(); }
  /// Bytes held by the world's tables (records, attributes, ids, strings, sets, lookups,
  /// indexes), counted from their sizes; for reports and benchmarks.
  [[nodiscard]] std::size_t memory_bytes() const;

 private:
  friend class BundleCodec;
  /// Records `e` as the entity (type, id); false, recording nothing, when that pair is taken.
  bool claim_entity_slot(TypeId type, std::string_view id, EntityId e);

  std::deque<std::string> string_store_;
  std::vector<HashSlot> string_slots_;  ///< text -> index into string_store_
  std::vector<std::unique_ptr<SetValue>> sets_;
  std::vector<HashSlot> set_slots_;     ///< content -> index into sets_ (sets are shared)
  BigVector<EntityRecord> entities_;
  std::string ids_;                     ///< every entity id's text, concatenated
  BigVector<HashSlot> entity_slots_;  ///< (type, id) -> entity
  std::vector<Span> spans_;             ///< by entity, up to the last one written in source
  BigVector<Value> attrs_;  ///< while building (unsealed); empty once sealed
  /// Once sealed: one cell per attribute, a payload of the column's kind or, with kAsideBit
  /// set, an index into aside_ (aside_[0] is none).
  static constexpr std::uint64_t kAsideBit = std::uint64_t{1} << 63;
  BigVector<std::uint64_t> cells_;
  std::vector<Value> aside_;
  std::vector<ColumnKind> kinds_;  ///< type t's columns at [type_kind_base_[t], ...)
  std::vector<std::uint32_t> type_kind_base_;
  std::vector<std::vector<EntityId>> by_type_;
  /// When grouped by type (else empty): type t's entities are [type_first_[t], type_first_[t+1])
  /// and their attributes start at type_attr_base_[t], type_ncols_[t] each.
  std::vector<EntityId> type_first_;
  std::vector<std::uint32_t> type_attr_base_, type_ncols_;
  /// Fills the per-type tables when entities are contiguous by type, in type order, with
  /// contiguous attributes, `nattrs` of them in all; false (leaving the world unsealed)
  /// otherwise.
  bool compute_type_ranges(const std::vector<std::vector<ColumnKind>>& kinds_by_type, std::size_t nattrs);
  /// The cell of `v` in a column of kind `k`, setting `v` aside when it has another form.
  std::uint64_t encode(const Value& v, const ColumnKind& k);
  /// The value of a cell of a column of kind `k`.
  [[nodiscard, gnu::always_inline]] Value decode(std::uint64_t cell, ColumnKind k) const {
    if (cell & kAsideBit) return aside_[cell & ~kAsideBit];
    Value v;
    v.tag = k.tag;
    v.aux = k.aux;
    v.bits = cell;
    return v;
  }
  /// Calls f(value) for every attribute, in entity and column order, sealed or not.
  template <typename F>
  void for_each_attr(F&& f) const {
    if (!sealed()) {
      for (const auto& v : attrs_) f(v);
      return;
    }
    for_each_cell([&](std::uint32_t i, TypeId t, std::uint32_t c) { f(sealed_attr(i, t, c)); });
  }
  [[nodiscard]] std::size_t attr_total() const { return sealed() ? cells_.size() : attrs_.size(); }
  /// Calls f(index, type, column) for each attribute of a world grouped by type, in order.
  template <typename F>
  void for_each_cell(F&& f) const {
    std::uint32_t i = 0;
    for (TypeId t = 0; t + 1 < type_first_.size(); ++t)
      for (EntityId e = type_first_[t]; e < type_first_[t + 1]; ++e)
        for (std::uint32_t c = 0; c < type_ncols_[t]; ++c, ++i) f(i, t, c);
  }
  /// Moves attrs_ into cells (after compute_type_ranges succeeded).
  void seal();
  /// Moves the cells back into attrs_ and forgets the per-type tables.
  void unseal();
  /// Built indexes, each of its kind; index_number finds one by its spec (when an engine is built,
  /// not per decision: the engine keeps the number).
  std::vector<std::unique_ptr<EntityIndex>> indexes_;
  static const std::vector<EntityId> kEmpty;
};

/// The world of a package as an EntityStore: entities are appended (unsealing a sealed world).
class WorldStore : public EntityStore {
 public:
  WorldStore(const Schema& s, World& w) : s_(s), w_(w) {}
  std::optional<EntityId> find(TypeId type, std::string_view id) const override { return w_.find(type, id); }
  const std::string* intern(std::string_view s) override { return w_.intern(s); }
  Value make_set(std::vector<Value> items) override { return w_.make_set(std::move(items)); }
  std::optional<EntityId> create(TypeId type, std::string_view id, Span span) override {
    return w_.add(type, id, static_cast<std::uint32_t>(s_.entities[type].attrs.size()), span);
  }
  void set_attr(EntityId e, std::uint32_t column, Value v) override { w_.attr_mut(e, column) = v; }
  [[nodiscard]] std::size_t size() const override { return w_.size(); }
  [[nodiscard]] std::string_view id_of(EntityId e) const override { return w_.id(e); }

 private:
  const Schema& s_;
  World& w_;
};

}  // namespace treaty
