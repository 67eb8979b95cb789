// The checked program: what the checker makes of a parsed package, and what the runtime runs.
//
// Schema (enums, entity types, actions), the world of facts (entities interned to dense ids,
// attributes stored by column in one array, strings interned, sets as sorted flat arrays), and
// the rules, predicates, requirements, tests and properties lowered to a typed expression IR whose
// names are all resolved to slots, columns and ids. Plain data: a Program can be copied, written
// to a bundle and read back without the source.
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <deque>
#include <initializer_list>
#include <iterator>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <unordered_map>
#include <vector>

#include "treaty/source.hpp"

namespace treaty {

using TypeId = std::uint32_t;    ///< index of an entity type or an enum in the schema
using EntityId = std::uint32_t;  ///< dense id of an entity in the world
using StrId = std::uint32_t;     ///< interned string
inline constexpr std::uint32_t kNone32 = 0xffffffffu;

/// A vector of ids that holds up to N of them in place, without a heap block: most IR nodes have
/// at most two children and one type, and 100,000 rules make half a million nodes, so a
/// `std::vector` (24 bytes and a heap block each) was a fifth of the program's memory. The
/// interface is the part of `std::vector` the compiler, the bundle codec and the engine use.
template <typename T, std::uint32_t N>
class SmallIds {
  static_assert(std::is_trivially_copyable_v<T> && N >= 1);

 public:
  using value_type = T;
  using iterator = T*;
  using const_iterator = const T*;

  SmallIds() noexcept {}
  SmallIds(std::initializer_list<T> l) { assign(l.begin(), l.end()); }
  SmallIds(const std::vector<T>& v) { assign(v.begin(), v.end()); }  // NOLINT: implicit, as a vector is
  SmallIds(const SmallIds& o) { assign(o.begin(), o.end()); }
  SmallIds(SmallIds&& o) noexcept { take(o); }
  SmallIds& operator=(const SmallIds& o) {
    if (this != &o) assign(o.begin(), o.end());
    return *this;
  }
  SmallIds& operator=(SmallIds&& o) noexcept {
    if (this != &o) {
      release();
      take(o);
    }
    return *this;
  }
  SmallIds& operator=(const std::vector<T>& v) {
    assign(v.begin(), v.end());
    return *this;
  }
  SmallIds& operator=(std::initializer_list<T> l) {
    assign(l.begin(), l.end());
    return *this;
  }
  ~SmallIds() { release(); }

  template <typename It>
  void assign(It b, It e) {
    clear();
    for (; b != e; ++b) push_back(*b);
  }
  void clear() noexcept { size_ = 0; }
  void reserve(std::size_t n) {
    if (n <= cap_) return;
    T* fresh = new T[n];
    const std::uint32_t size = size_;
    if (size) std::memcpy(fresh, data(), size * sizeof(T));
    release();
    heap_ = fresh;
    cap_ = static_cast<std::uint32_t>(n);
    size_ = size;
  }
  void push_back(T v) {
    if (size_ == cap_) reserve(std::size_t{cap_} * 2);
    data()[size_++] = v;
  }
  void pop_back() noexcept { --size_; }

  [[nodiscard]] T* data() noexcept { return cap_ > N ? heap_ : inline_; }
  [[nodiscard]] const T* data() const noexcept { return cap_ > N ? heap_ : inline_; }
  [[nodiscard]] std::size_t size() const noexcept { return size_; }
  [[nodiscard]] bool empty() const noexcept { return size_ == 0; }
  T& operator[](std::size_t i) noexcept { return data()[i]; }
  const T& operator[](std::size_t i) const noexcept { return data()[i]; }
  T& front() noexcept { return data()[0]; }
  const T& front() const noexcept { return data()[0]; }
  T& back() noexcept { return data()[size_ - 1]; }
  const T& back() const noexcept { return data()[size_ - 1]; }
  T* begin() noexcept { return data(); }
  T* end() noexcept { return data() + size_; }
  const T* begin() const noexcept { return data(); }
  const T* end() const noexcept { return data() + size_; }
  auto rbegin() const noexcept { return std::reverse_iterator<const T*>(end()); }
  auto rend() const noexcept { return std::reverse_iterator<const T*>(begin()); }
  [[nodiscard]] std::vector<T> to_vector() const { return std::vector<T>(begin(), end()); }

  friend bool operator==(const SmallIds& a, const SmallIds& b) noexcept {
    return a.size_ == b.size_ && std::equal(a.begin(), a.end(), b.begin());
  }

 private:
  void release() noexcept {
    if (cap_ > N) delete[] heap_;
    cap_ = N;
    size_ = 0;
  }
  void take(SmallIds& o) noexcept {
    size_ = o.size_;
    cap_ = o.cap_;
    if (o.cap_ > N) heap_ = o.heap_;
    else std::memcpy(inline_, o.inline_, sizeof(inline_));
    o.cap_ = N;
    o.size_ = 0;
  }

  std::uint32_t size_ = 0;
  std::uint32_t cap_ = N;  ///< N: in place; more: in heap_
  union {
    T inline_[N];
    T* heap_;
  };
};

// ---------------------------------------------------------------------------------------------
// Types
// ---------------------------------------------------------------------------------------------
enum class Base : std::uint8_t { bool_, int_, string, enum_, entity, none, empty_set };

/// A static type. Entity types are unions (`Person | Employee`), sorted; a set is `Set<elem>`;
/// `optional` marks `T?` and the result of reading through an optional.
struct Type {
  Base base = Base::none;
  bool set = false;
  bool optional = false;
  TypeId enum_id = kNone32;         ///< for enum
  std::vector<TypeId> entities;     ///< for entity: the union's members, sorted
  bool operator==(const Type&) const = default;

  static Type of(Base b) { Type t; t.base = b; return t; }
  static Type boolean() { return of(Base::bool_); }
  static Type integer() { return of(Base::int_); }
  static Type string() { return of(Base::string); }
  static Type none_type() { return of(Base::none); }
  static Type enumeration(TypeId id) { Type t = of(Base::enum_); t.enum_id = id; return t; }
  static Type entity(std::vector<TypeId> ids) { Type t = of(Base::entity); t.entities = std::move(ids); return t; }
  [[nodiscard]] Type element() const { Type t = *this; t.set = false; t.optional = false; return t; }
  [[nodiscard]] Type as_set() const { Type t = *this; t.set = true; t.optional = false; return t; }
  [[nodiscard]] Type as_optional(bool o = true) const { Type t = *this; t.optional = o; return t; }
};

// ---------------------------------------------------------------------------------------------
// Schema
// ---------------------------------------------------------------------------------------------
struct EnumInfo {
  std::string name;
  std::vector<std::string> values;
  std::vector<Span> value_spans;
  Span span;
};

struct AttrInfo {
  std::string name;
  std::uint32_t name_id = 0;  ///< global attribute-name id
  Type type;
  Span span;
};

struct EntityTypeInfo {
  std::string name;
  std::vector<AttrInfo> attrs;                      ///< column order
  std::vector<std::vector<std::uint32_t>> keys;     ///< column indexes of each `key (...)`
  std::vector<std::int32_t> column_of;              ///< by attribute-name id; -1 when absent
  Span span;
  std::string doc;
  /// Declared `inline entity`: a request may bring entities of this type inline.
  bool request_supplied = false;
  [[nodiscard]] int column(std::uint32_t name_id) const {
    return name_id < column_of.size() ? column_of[name_id] : -1;
  }
  /// The column of the attribute called `attr_name`, or -1.
  [[nodiscard]] int column_named(std::string_view attr_name) const {
    for (std::size_t c = 0; c < attrs.size(); ++c)
      if (attrs[c].name == attr_name) return static_cast<int>(c);
    return -1;
  }
};

struct ParamInfo {
  std::string name;
  Type type;
  Span span;
};

struct ActionInfo {
  std::string name;
  std::vector<ParamInfo> params;
  std::vector<std::uint32_t> param_ids;  ///< global parameter-name id of each parameter (slot 2 + id)
  std::vector<TypeId> principals;  ///< accepted principal entity types (sorted); empty: any
  std::vector<TypeId> resources;
  Span span;
};

struct Schema {
  std::vector<EnumInfo> enums;
  std::vector<EntityTypeInfo> entities;
  std::vector<ActionInfo> actions;
  std::vector<std::string> attr_names;  ///< by global attribute-name id

  [[nodiscard]] std::optional<TypeId> find_entity(std::string_view name) const;
  [[nodiscard]] std::optional<TypeId> find_enum(std::string_view name) const;
  [[nodiscard]] std::optional<std::uint32_t> find_action(std::string_view name) const;
  [[nodiscard]] std::optional<std::uint32_t> find_attr_name(std::string_view name) const;
  [[nodiscard]] std::string type_name(const Type& t) const;
};

// ---------------------------------------------------------------------------------------------
// Values
// ---------------------------------------------------------------------------------------------
enum class Tag : std::uint8_t { none, bool_, int_, str, enum_, entity, set, enum_set };

struct SetValue;

/// A runtime value in 16 bytes. Strings point into a string pool (interned within one world, so
/// equal strings of one world share a pointer; comparison falls back to the text). A non-empty set
/// of values of one enum whose indexes are all below 64 (roles, options, modules: almost every set
/// of a trust policy) is stored inline as a bit mask (`Tag::enum_set`, `aux` the enum, `bits`);
/// any other set points to a sorted, duplicate-free array (`Tag::set`). The choice depends only on
/// the elements, so each set has exactly one representation and equality stays a tag-and-payload
/// comparison.
struct Value {
  Tag tag = Tag::none;
  std::uint32_t aux = 0;  ///< enum id for enums
  union {
    std::int64_t i;
    const std::string* s;
    std::uint64_t bits;
    const SetValue* set;
  };
  Value() : i(0) {}
  static Value none() { return {}; }
  static Value boolean(bool b) { Value v; v.tag = Tag::bool_; v.i = b; return v; }
  static Value integer(std::int64_t n) { Value v; v.tag = Tag::int_; v.i = n; return v; }
  static Value str(const std::string* p) { Value v; v.tag = Tag::str; v.s = p; return v; }
  static Value enumv(TypeId e, std::uint32_t idx) { Value v; v.tag = Tag::enum_; v.aux = e; v.i = idx; return v; }
  static Value entity(EntityId id) { Value v; v.tag = Tag::entity; v.i = id; return v; }
  static Value setv(const SetValue* p) { Value v; v.tag = Tag::set; v.set = p; return v; }
  static Value enum_set(TypeId e, std::uint64_t mask) { Value v; v.tag = Tag::enum_set; v.aux = e; v.bits = mask; return v; }
  [[nodiscard]] bool is_none() const { return tag == Tag::none; }
  [[nodiscard]] bool is_set() const { return tag == Tag::set || tag == Tag::enum_set; }
};

struct SetValue {
  std::vector<Value> items;  ///< sorted by value_less, no duplicates
};

/// Total order used for set storage: by tag, then payload (strings by text, sets elementwise).
[[nodiscard]] bool value_less(const Value& a, const Value& b);
/// Language equality (`==`): none == none; a value never equals none.
[[nodiscard]] bool value_equal(const Value& a, const Value& b);
[[nodiscard]] std::size_t value_hash(const Value& v);
/// True when `v` is an element of `s` (binary search).
[[nodiscard]] bool set_contains(const SetValue& s, const Value& v);
/// True when `v` is an element of the set value `s` (either representation); false for non-sets.
[[nodiscard]] inline bool set_contains(const Value& s, const Value& v) {
  if (s.tag == Tag::enum_set)
    return v.tag == Tag::enum_ && v.aux == s.aux && v.i >= 0 && v.i < 64 && ((s.bits >> v.i) & 1u) != 0;
  return s.tag == Tag::set && set_contains(*s.set, v);
}
/// Number of elements of a set value (0 for non-sets).
[[nodiscard]] std::size_t set_size(const Value& s);
/// Calls `f(element)` for each element of a set value in order, until `f` returns true; returns
/// whether it did.
template <typename F>
bool set_any(const Value& s, F&& f) {
  if (s.tag == Tag::enum_set) {
    for (std::uint64_t m = s.bits; m != 0; m &= m - 1)
      if (f(Value::enumv(s.aux, static_cast<std::uint32_t>(__builtin_ctzll(m))))) return true;
    return false;
  }
  if (s.tag == Tag::set)
    for (const auto& x : s.set->items)
      if (f(x)) return true;
  return false;
}
/// Sorts and deduplicates `items`; when they are a non-empty set of values of one enum below 64,
/// returns its inline mask value (the canonical representation), otherwise nullopt and the set
/// must be stored as a SetValue of the sorted `items`.
[[nodiscard]] std::optional<Value> normalize_set(std::vector<Value>& items);

// ---------------------------------------------------------------------------------------------
// World: the facts
// ---------------------------------------------------------------------------------------------
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

/// An index over the entities of `type`: by `column`, or by the pair (column, column2) when
/// column2 >= 0.
struct IndexSpec {
  TypeId type = 0;
  std::uint32_t column = 0;
  std::int32_t column2 = -1;
  bool operator==(const IndexSpec&) const = default;
};

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
  [[nodiscard]] const void* row_address(EntityId e, TypeId t) const { return &cells_[first_attr(e, t)]; }
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

  /// Entities of one index key: a run of ids, ascending.
  struct EntityRange {
    const EntityId* first = nullptr;
    std::size_t count = 0;
    [[nodiscard]] const EntityId* begin() const { return first; }
    [[nodiscard]] const EntityId* end() const { return first + count; }
  };
  /// Hash index over (type, column): entities whose column equals a value.
  void build_index(TypeId type, std::uint32_t column);
  /// The entities of `type` whose `column` equals `v`; nullopt when that column has no index.
  [[nodiscard]] std::optional<EntityRange> probe(TypeId type, std::uint32_t column, const Value& v) const;
  [[nodiscard]] bool has_index(TypeId type, std::uint32_t column) const;
  /// Composite hash index over (type, column, column2), for `exists` bodies that fix two
  /// attributes: `t.grantor == c and t.grantee == p` finds the one trust of the pair.
  void build_index(TypeId type, std::uint32_t column, std::uint32_t column2);
  /// A superset of the entities of `type` whose `column` equals `v` and `column2` equals `v2`
  /// (pairs whose 64-bit hashes collide share a run; callers test the attributes themselves,
  /// as `exists` does by evaluating its whole body); nullopt when there is no such index.
  [[nodiscard]] std::optional<EntityRange> probe(TypeId type, std::uint32_t column, std::uint32_t column2,
                                                 const Value& v, const Value& v2) const;
  [[nodiscard]] bool has_index(const IndexSpec& s) const { return index_number(s) >= 0; }
  /// The number of index `s` for probe_index, or -1 when it is not built.
  [[nodiscard]] std::int32_t index_number(const IndexSpec& s) const;
  /// The probe of index `number` (from index_number) for `v`, or for the pair (v, v2) when the
  /// index is composite: what probe() answers, without looking the index up.
  [[nodiscard]] EntityRange probe_index(std::int32_t number, const Value& v, const Value& v2) const;
  void build_index(const IndexSpec& s) {
    if (s.column2 < 0) build_index(s.type, s.column);
    else build_index(s.type, s.column, static_cast<std::uint32_t>(s.column2));
  }
  [[nodiscard]] std::size_t string_count() const { return string_store_.size(); }
  /// Bytes held by the world's tables (records, attributes, ids, strings, sets, lookups,
  /// indexes), counted from their sizes; for reports and benchmarks.
  [[nodiscard]] std::size_t memory_bytes() const;

 private:
  friend class BundleCodec;
  /// An index of one column: an open-addressing table of distinct keys (at most 3/4 full), each
  /// with the run of its entities in `entities`; a key held by one entity keeps it in the slot
  /// itself, so most probes touch one cache line.
  struct IndexSlot {
    Value key;
    std::uint32_t begin = 0;  ///< offset into entities, or the entity itself when count == 1
    std::uint32_t count = 0;  ///< 0: empty slot
  };
  struct Index {
    BigVector<IndexSlot> slots;
    BigVector<EntityId> entities;
    /// For a column of entity references: one bit per entity of the world, set when some key
    /// refers to it. Small enough to stay in cache, it answers most probes that find nothing
    /// ("does this person hold any role assignment?") without touching the table.
    std::vector<std::uint64_t> referenced;
    /// For a composite index: a one-bit-per-key filter of the pairs' hashes, 4 to 8 bits per key
    /// (a power of two), so most probes for a pair that holds no entity (an untrusted pair of
    /// accounts) end in cache; a larger filter misses less often but crowds the cache more (16
    /// bits per key measured slower at the median). Keys are the 64-bit hashes of the pairs.
    std::vector<std::uint64_t> filter;
  };
  /// Pass 1 and 2 of building an index whose key of entity `e` is key(e).
  template <typename KeyOf>
  static Index build_index_by(const std::vector<EntityId>& ents, KeyOf key);
  /// The run of key `v` in `idx` (empty when absent).
  static EntityRange find_run(const Index& idx, const Value& v);
  struct CompositeIndex {
    TypeId type;
    std::uint32_t column, column2;
    std::size_t index;  ///< into indexes_
  };
  std::vector<CompositeIndex> composite_;
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
  std::vector<Index> indexes_;
  std::vector<std::vector<std::int32_t>> index_at_;  ///< [type][column] -> indexes_, or -1
  static const std::vector<EntityId> kEmpty;
};

// ---------------------------------------------------------------------------------------------
// Expression IR
// ---------------------------------------------------------------------------------------------
enum class Op : std::uint8_t {
  lit,          ///< value
  var,          ///< slot
  attr,         ///< kids[0].attr (a = attribute-name id); with one type in `types`, slot is its column
  call,         ///< predicate a (kids: arguments)
  contains_any, contains_all, is_empty,
  not_, and_, or_,
  eq, ne, lt, le, gt, ge,
  in,           ///< kids[0] in kids[1]
  is,           ///< kids[0] is one of `types`
  exists_type,  ///< slot; types; kids[0] body; probe: kids[1] key of probe_attr, kids[2] of probe_attr2
  exists_set,   ///< slot; kids[0] set; kids[1] body
  make_set,     ///< kids: elements
};

struct Node {
  Value value;                  ///< lit
  SmallIds<TypeId, 2> types;    ///< is, exists_type
  SmallIds<std::uint32_t, 2> kids;
  Span span;
  std::uint32_t slot = 0;       ///< var, exists_*
  std::uint32_t a = 0;          ///< attr name id; predicate id
  std::int32_t probe_attr = -1; ///< exists_type: attribute-name id probed through an index, or -1
  std::int32_t probe_attr2 = -1;  ///< exists_type: a second attribute of a composite probe, or -1
  /// The root of a predicate body inlined at a call: that predicate (and `span` is the call's),
  /// so an explanation can still name the call and the conjunct of the body that failed.
  std::uint32_t inlined = 0xFFFFFFFFu;
  Op op = Op::lit;
};

/// A typed expression: an index into Program::nodes.
using NodeId = std::uint32_t;

struct PredicateInfo {
  std::string name;
  std::vector<ParamInfo> params;
  NodeId body = 0;
  std::uint32_t frame = 0;  ///< slots used (params first)
  Span span;
  std::string doc;
};

struct ConditionInfo {
  bool is_when = true;
  NodeId expr = 0;
  Span span;
};

/// A rule. Its type and action lists keep two ids in place (SmallIds): most rules name one of
/// each, and a heap block apiece was 10 MB of 100,000 rules.
struct RuleInfo {
  std::string name;
  std::string doc;
  SmallIds<TypeId, 2> principals;  ///< empty: any
  SmallIds<TypeId, 2> resources;
  SmallIds<std::uint32_t, 2> actions;  ///< when not any_action
  std::vector<ConditionInfo> conditions;  ///< action constraints first, then when/unless
  Span span;
  std::uint32_t frame = 0;  ///< slot 0 principal, 1 resource, 2 + parameter-name id, then locals
  std::uint32_t file_line = 0;
  bool forbid = false;
  bool any_action = false;
};

struct RequirementInfo {
  std::string name;
  std::optional<TypeId> forall_type;
  std::optional<NodeId> where;
  NodeId ensure = 0;
  std::string message;
  std::vector<std::pair<std::string, NodeId>> message_parts;  ///< literal text, then an expr (or kNone32)
  std::uint32_t frame = 0;
  Span span;
};

/// A constant as written in source (a fact's attribute value, a request argument), in the data
/// layer's own terms: what the converter needs of it and where each part is, without the syntax
/// tree. The compiler makes these from the parser's expressions (`to_constant` in
/// treaty/check.hpp); an expression that is no constant is kept as one of the last two kinds, so
/// the converter can say why it is refused.
struct Constant {
  enum class Kind : std::uint8_t {
    none,        ///< `none`
    bool_,       ///< bool_value
    int_,        ///< int_value
    string,      ///< text: the string (unescaped)
    entity,      ///< qualifier: the type's name, text: the id (`Person::"ann"`)
    enum_name,   ///< text: the value's name; qualifier: the enum's name in `Kind.approval`, empty when bare
    set,         ///< items: the elements (`{a, b}`)
    expression,  ///< a name, an attribute, a call, a comparison, `and`/`or`/`not` or `exists`: no constant
    other,       ///< any other expression (`in`, `is`, a method call): no constant
  };
  Kind kind = Kind::none;
  bool bool_value = false;
  std::int64_t int_value = 0;
  std::string text;
  std::string qualifier;
  std::vector<Constant> items;
  Span span;  ///< the whole constant as written
};

/// A fact written in source (a package's fact, a test's `given` fact): `Type::"id" { attr: v }`.
struct FactSpec {
  struct Field {
    std::string name;
    Span name_span;
    Constant value;
  };
  std::string type;
  Span type_span;
  std::string id;
  Span id_span;
  std::vector<Field> fields;
  Span span;  ///< the whole fact
};

/// A request as a test or property writes it; resolved against the schema.
struct RequestSpec {
  TypeId principal_type = 0;
  std::string principal_id;
  std::uint32_t action = 0;
  std::vector<Value> args;  ///< by parameter index
  TypeId resource_type = 0;
  std::string resource_id;
  Span span;
};

struct ExpectationInfo {
  bool allow = false;
  RequestSpec request;
  /// The arguments as written (parameter index, value), resolved again when the test runs so
  /// they may refer to the test's `given` facts.
  std::vector<std::pair<std::uint32_t, Constant>> arg_constants;
  std::vector<std::string> because;
  Span span;
};

struct TestInfo {
  std::string name;
  std::vector<FactSpec> given;  ///< facts that exist in this test only
  std::vector<ExpectationInfo> expects;
  /// `expect violation R`: the requirement's name and the expectation's span.
  std::vector<std::pair<std::string, Span>> violations;
  Span span;
};

struct PropertyInfo {
  std::string name;
  std::vector<TypeId> principals;
  std::vector<TypeId> resources;
  std::vector<std::uint32_t> actions;  ///< candidate actions
  std::optional<NodeId> where;
  std::vector<ConditionInfo> action_constraints;
  bool expect_allow = false;
  std::uint32_t frame = 0;
  Span span;
};

/// The static type of each IR node, interned: half a million nodes share a few dozen types, and
/// a `Type` (32 bytes, a heap block for a union of entity types) per node was 17 MB of a
/// 100,000-rule check.
class NodeTypes {
 public:
  [[nodiscard]] std::size_t size() const noexcept { return ids_.size(); }
  [[nodiscard]] bool empty() const noexcept { return ids_.empty(); }
  const Type& operator[](std::size_t node) const noexcept { return table_[ids_[node]]; }
  /// Appends the type of the next node (`none` until set).
  void push_back(const Type& t) { ids_.push_back(intern(t)); }
  void set(std::size_t node, const Type& t) { ids_[node] = intern(t); }
  void reserve(std::size_t n) { ids_.reserve(n); }
  /// Distinct types held.
  [[nodiscard]] std::size_t distinct() const noexcept { return table_.size(); }

 private:
  struct Hash {
    std::size_t operator()(const Type& t) const noexcept {
      std::size_t h = static_cast<std::size_t>(t.base) * 0x9E3779B97F4A7C15ull ^ (t.set ? 0x100 : 0) ^
                      (t.optional ? 0x200 : 0) ^ (std::size_t{t.enum_id} << 12);
      for (TypeId e : t.entities) h = (h ^ e) * 0x100000001B3ull;
      return h;
    }
  };
  std::uint32_t intern(const Type& t) {
    auto [it, fresh] = index_.try_emplace(t, static_cast<std::uint32_t>(table_.size()));
    if (fresh) table_.push_back(t);
    return it->second;
  }
  std::vector<std::uint32_t> ids_;
  std::vector<Type> table_;
  std::unordered_map<Type, std::uint32_t, Hash> index_;
};

/// The whole checked program, with its facts.
struct Program {
  Schema schema;
  World world;                          ///< facts, and the constants of the IR
  std::vector<std::string> param_names; ///< global action-parameter names; slot = 2 + id
  std::vector<Node> nodes;
  /// By node: the static type the checker gave its value (`Bool` for a condition, the attribute's
  /// type for a read, ...), for `treaty check --dump` and other tools. The runtime never reads it
  /// and bundles do not store it: empty in a program read from a bundle (or shorter than `nodes`
  /// in one built by hand). A node the checker left untyped (the placeholder body of a predicate
  /// with errors) has Base::none, as the literal `none` does.
  NodeTypes node_types;
  std::vector<PredicateInfo> predicates;
  std::vector<RuleInfo> rules;
  std::vector<RequirementInfo> requirements;
  std::vector<TestInfo> tests;
  std::vector<PropertyInfo> properties;
  /// Rules by action: candidates[action] lists the rules whose action pattern can match it.
  std::vector<std::vector<std::uint32_t>> rules_by_action;
  /// The indexes the runtime should build for `exists` probes.
  std::vector<IndexSpec> indexes;

  [[nodiscard]] std::optional<std::uint32_t> find_rule(std::string_view name) const;
};


/// Writes a compiled program (schema, world, rules, predicates, requirements and the source text
/// its spans point into) as a versioned binary bundle: magic, format version, length, checksum.
[[nodiscard]] std::string write_bundle(const Program& p, const SourceManager& sm);

/// Reads a bundle. Any truncated, corrupted, foreign or internally inconsistent file is refused
/// with a message in `error`; a bundle is never partly loaded. Tests and properties are not part
/// of a bundle. Loading does not parse source.
[[nodiscard]] std::unique_ptr<Program> read_bundle(std::string_view bytes, SourceManager& sm, std::string& error);

/// A value as the language prints it: `"text"`, `42`, `approval`, `Person::"alice"`, `{a, b}`.
/// "a" or "an" for a noun (a type name) in a message: "an `Account`", "a `Person`".
/// By the first letter, with the common words whose `u` sounds like "you" ("a `user`", "a `Unit`").
[[nodiscard]] inline const char* article(std::string_view noun) {
  if (noun.empty() || std::string_view("AEIOUaeiou").find(noun[0]) == std::string_view::npos) return "a";
  if (noun[0] == 'u' || noun[0] == 'U')
    for (std::string_view you : {"us", "uni", "ur", "ut", "ub", "uk"})
      if (noun.size() >= you.size() &&
          std::equal(you.begin(), you.end(), noun.begin(), [](char a, char b) { return a == (b | 0x20); }))
        return "a";
  return "an";
}
[[nodiscard]] std::string format_value(const Schema& schema, const World& world, const Value& v);

}  // namespace treaty
