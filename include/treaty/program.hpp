// The checked program: what the checker makes of a parsed package, and what the runtime runs.
//
// Schema (enums, entity types, actions), the world of facts (held here, laid out by the data
// layer: treaty/data/world.hpp), and the rules, predicates, requirements, tests and properties
// lowered to a typed expression IR whose names are all resolved to slots, columns and ids. A
// Program can be moved, written to a bundle and read back without the source.
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
  // inline_ starts zeroed: moving a SmallIds copies all N slots, and g++ -O3 (the benchmarks'
  // Release build) refuses, under -Werror, to copy slots it can see were never written.
  union {
    T inline_[N]{};
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
/// The world of facts: entities interned to dense ids, their attributes by column, strings and
/// sets, and the indexes over them. Its layout is the data layer's (treaty/data/world.hpp, for the
/// layers above it); the contract here is only that a Program holds one.
class World;

/// The kinds of index over the entities of one type; each is built and probed by its own class in
/// data/ (treaty/data/index.hpp), and a bundle stores the kind with the spec.
enum class IndexKind : std::uint8_t {
  column,  ///< by one column: `x.a == key`
  pair,    ///< by two columns at once: `t.grantor == c and t.grantee == p`
};
inline constexpr std::uint8_t kIndexKinds = 2;

/// An index over the entities of `type`: by `column` (IndexKind::column), or by the pair
/// (column, column2) (IndexKind::pair, column2 >= 0).
/// The kind comes first, so `IndexSpec{type, column, column2}` does not compile: a spec is made
/// with on(), which gives the kind its columns call for.
struct IndexSpec {
  IndexKind kind = IndexKind::column;
  TypeId type = 0;
  std::uint32_t column = 0;
  std::int32_t column2 = -1;
  /// The index on `column`, or on (column, column2) when column2 >= 0.
  [[nodiscard]] static IndexSpec on(TypeId type, std::uint32_t column, std::int32_t column2 = -1) {
    return {column2 < 0 ? IndexKind::column : IndexKind::pair, type, column, column2};
  }
  bool operator==(const IndexSpec&) const = default;
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
  Program();
  ~Program();
  Program(Program&&) noexcept;
  Program& operator=(Program&&) noexcept;
  Program(const Program&) = delete;
  Program& operator=(const Program&) = delete;

  /// The facts, and the constants of the IR (never null).
  [[nodiscard]] World& world() noexcept { return *world_; }
  [[nodiscard]] const World& world() const noexcept { return *world_; }

  Schema schema;
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

 private:
  std::unique_ptr<World> world_;
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
