// The syntax tree: what the parser produces from source text (LANGUAGE.md sections 1-9).
//
// Plain value types. Every node carries the Span of the text it came from; equality (==) ignores
// spans and comments, so a tree printed by the formatter and parsed again compares equal to the
// original. Names are not resolved here: `Role.specialist` is an attribute access on the name
// `Role` until the checker says otherwise.
#pragma once

#include <algorithm>
#include <cstdint>
#include <deque>
#include <initializer_list>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <variant>
#include <vector>

#include "treaty/source.hpp"

namespace treaty::syntax {

struct Ident {
  std::string name;
  Span span;
  bool operator==(const Ident& o) const { return name == o.name; }
};

/// A value kept in its own heap block, copied deeply and compared by value; empty when default
/// constructed or moved from. For parts of the tree that are large and rare (or, for Decl,
/// of very different sizes), so that the common nodes stay small.
template <typename T>
class Box {
 public:
  Box() = default;
  Box(T v) : p_(std::make_unique<T>(std::move(v))) {}  // NOLINT(google-explicit-constructor)
  Box(const Box& o) : p_(o.p_ ? std::make_unique<T>(*o.p_) : nullptr) {}
  Box(Box&&) noexcept = default;
  Box& operator=(const Box& o) {
    if (this != &o) p_ = o.p_ ? std::make_unique<T>(*o.p_) : nullptr;
    return *this;
  }
  Box& operator=(Box&&) noexcept = default;
  ~Box() = default;

  [[nodiscard]] explicit operator bool() const noexcept { return p_ != nullptr; }
  [[nodiscard]] T* get() noexcept { return p_.get(); }
  [[nodiscard]] const T* get() const noexcept { return p_.get(); }
  [[nodiscard]] T& operator*() noexcept { return *p_; }
  [[nodiscard]] const T& operator*() const noexcept { return *p_; }
  T* operator->() noexcept { return p_.get(); }
  const T* operator->() const noexcept { return p_.get(); }
  bool operator==(const Box& o) const { return p_ && o.p_ ? *p_ == *o.p_ : !p_ && !o.p_; }

 private:
  std::unique_ptr<T> p_;
};

/// A list that keeps one element in place and moves to a heap vector from the second on. Most
/// bindings name one type and most action patterns one action: with a std::vector each of them
/// took a heap block, three per rule (10 MB of a 100,000-rule package). The interface is the part
/// of std::vector the parser, the formatter and the checker use; the elements are contiguous.
template <typename T>
class SmallList {
 public:
  SmallList() noexcept {}
  SmallList(std::initializer_list<T> l) {
    for (const auto& x : l) push_back(x);
  }
  SmallList(const SmallList& o) {
    for (const auto& x : o) push_back(x);
  }
  SmallList(SmallList&& o) noexcept { steal(o); }
  SmallList& operator=(const SmallList& o) {
    if (this != &o) {
      clear();
      for (const auto& x : o) push_back(x);
    }
    return *this;
  }
  SmallList& operator=(SmallList&& o) noexcept {
    if (this != &o) {
      clear();
      steal(o);
    }
    return *this;
  }
  SmallList& operator=(std::vector<T> v) {
    clear();
    for (auto& x : v) push_back(std::move(x));
    return *this;
  }
  ~SmallList() { clear(); }

  void push_back(T v) {
    if (many_mode_) {
      many_->push_back(std::move(v));
    } else if (!has_one_) {
      ::new (static_cast<void*>(&one_)) T(std::move(v));
      has_one_ = true;
    } else {
      auto* m = new std::vector<T>;
      m->reserve(4);
      m->push_back(std::move(one_));
      m->push_back(std::move(v));
      one_.~T();
      has_one_ = false;
      many_ = m;
      many_mode_ = true;
    }
  }
  void clear() noexcept {
    if (many_mode_) delete many_;
    else if (has_one_) one_.~T();
    many_mode_ = has_one_ = false;
  }

  [[nodiscard]] std::size_t size() const noexcept { return many_mode_ ? many_->size() : has_one_ ? 1 : 0; }
  [[nodiscard]] bool empty() const noexcept { return size() == 0; }
  [[nodiscard]] T* data() noexcept { return many_mode_ ? many_->data() : &one_; }
  [[nodiscard]] const T* data() const noexcept { return many_mode_ ? many_->data() : &one_; }
  T* begin() noexcept { return data(); }
  T* end() noexcept { return data() + size(); }
  const T* begin() const noexcept { return data(); }
  const T* end() const noexcept { return data() + size(); }
  T& operator[](std::size_t i) noexcept { return data()[i]; }
  const T& operator[](std::size_t i) const noexcept { return data()[i]; }
  const T& at(std::size_t i) const {
    if (i >= size()) throw std::out_of_range("SmallList::at");
    return data()[i];
  }
  const T& front() const noexcept { return data()[0]; }
  const T& back() const noexcept { return data()[size() - 1]; }
  bool operator==(const SmallList& o) const {
    return size() == o.size() && std::equal(begin(), end(), o.begin());
  }

 private:
  void steal(SmallList& o) noexcept {
    if (o.many_mode_) {
      many_ = o.many_;
      many_mode_ = true;
      o.many_mode_ = false;
    } else if (o.has_one_) {
      ::new (static_cast<void*>(&one_)) T(std::move(o.one_));
      has_one_ = true;
      o.one_.~T();
      o.has_one_ = false;
    }
  }
  union {
    T one_;
    std::vector<T>* many_;
  };
  bool has_one_ = false;
  bool many_mode_ = false;
};

/// `Bool`, `Int`, `String`, an enum or entity name, `Set<T>` or `T?`.
struct TypeRef {
  enum class Kind : std::uint8_t { named, set, optional };
  Kind kind = Kind::named;
  std::string name;            ///< for named
  std::vector<TypeRef> args;   ///< one element for set and optional
  Span span;
  bool operator==(const TypeRef& o) const { return kind == o.kind && name == o.name && args == o.args; }
};

enum class CmpOp : std::uint8_t { eq, ne, lt, le, gt, ge };

struct Expr {
  enum class Kind : std::uint8_t {
    bool_lit,    ///< bool_value
    int_lit,     ///< int_value
    string_lit,  ///< str (unescaped)
    none_lit,
    set_lit,     ///< kids: elements
    entity_ref,  ///< name: type, str: id
    name,        ///< name: variable, parameter, bare enum value or enum type (before `.`)
    attr,        ///< kids[0].name
    call,        ///< name(kids...): predicate call
    method,      ///< kids[0].name(kids[1..])
    not_,        ///< not kids[0]
    and_,        ///< kids[0] and kids[1] and ...  (a flat chain, in source order)
    or_,         ///< kids[0] or kids[1] or ...
    cmp,         ///< kids[0] op kids[1]
    in,          ///< kids[0] in kids[1]
    is,          ///< kids[0] is name
    exists,      ///< exists var: name where kids[0]
    exists_in,   ///< exists var in kids[0] where kids[1]
  };
  Kind kind = Kind::none_lit;
  CmpOp op = CmpOp::eq;
  bool bool_value = false;
  Span span;
  Span name_span;     ///< span of `name` (attribute, method, type or callee)
  std::int64_t int_value = 0;
  std::string name;
  std::vector<Expr> kids;

  /// string_lit: the text (unescaped); entity_ref: the id. Empty for other kinds.
  [[nodiscard]] const std::string& str() const noexcept { return rare_ ? rare_->str : kNoRare.str; }
  void set_str(std::string s) { rare().str = std::move(s); }
  /// exists / exists_in: the variable. Empty for other kinds.
  [[nodiscard]] const Ident& var() const noexcept { return rare_ ? rare_->var : kNoRare.var; }
  void set_var(Ident v) { rare().var = std::move(v); }
  /// The variable, for rewriting its span in place; nullptr when the node has none.
  [[nodiscard]] Ident* var_if() noexcept { return rare_ ? &rare_->var : nullptr; }

  bool operator==(const Expr& o) const;

 private:
  /// The fields only string literals, entity references and `exists` use, out of line: most
  /// nodes are names, attributes, numbers and operators, and a rule holds several of them
  /// (184 bytes a node with these inline, 104 without).
  struct Rare {
    std::string str;
    Ident var;
  };
  static inline const Rare kNoRare{};
  Rare& rare() {
    if (!rare_) rare_ = Rare{};
    return *rare_;
  }
  Box<Rare> rare_;
};

/// A `///` documentation comment, joined lines without the slashes.
using Doc = std::optional<std::string>;

struct AttrDecl {
  Ident name;
  TypeRef type;
  bool operator==(const AttrDecl&) const = default;
};

struct EnumDecl {
  Doc doc;
  Ident name;
  std::vector<Ident> values;
  Span span;
  bool operator==(const EnumDecl& o) const { return name == o.name && values == o.values && doc == o.doc; }
};

struct EntityDecl {
  Doc doc;
  Ident name;
  std::vector<AttrDecl> attrs;
  std::vector<std::vector<Ident>> keys;
  /// Attributes and keys in source order (true = key) so the formatter keeps the order.
  std::vector<bool> member_is_key;
  /// `inline entity T`: a request may bring entities of this type inline (LANGUAGE.md section 7).
  bool request_supplied = false;
  Span span;
  bool operator==(const EntityDecl& o) const {
    return name == o.name && attrs == o.attrs && keys == o.keys && member_is_key == o.member_is_key && doc == o.doc &&
           request_supplied == o.request_supplied;
  }
};

struct Param {
  Ident name;
  TypeRef type;
  bool operator==(const Param&) const = default;
};

struct ActionDecl {
  Doc doc;
  Ident name;
  std::vector<Param> params;
  bool has_params = false;  ///< `name()` vs `name`
  std::vector<Ident> principal_types;  ///< empty: no principal clause
  std::vector<Ident> resource_types;
  Span span;
  bool operator==(const ActionDecl& o) const {
    return name == o.name && params == o.params && has_params == o.has_params &&
           principal_types == o.principal_types && resource_types == o.resource_types && doc == o.doc;
  }
};

struct FieldInit {
  Ident name;
  Expr value;
  bool operator==(const FieldInit&) const = default;
};

/// `Type::"id" { attr: value, ... }`
struct FactDecl {
  Doc doc;
  Ident type;
  std::string id;
  Span id_span;
  std::vector<FieldInit> fields;
  Span span;
  bool operator==(const FactDecl& o) const { return type == o.type && id == o.id && fields == o.fields && doc == o.doc; }
};

struct PredicateDecl {
  Doc doc;
  Ident name;
  std::vector<Param> params;
  Expr body;
  Span span;
  bool operator==(const PredicateDecl& o) const { return name == o.name && params == o.params && body == o.body && doc == o.doc; }
};

/// `principal NAME: T1 | T2`, `principal NAME` or `principal` (any type).
struct Binding {
  std::optional<Ident> var;
  SmallList<Ident> types;  ///< empty: any type
  Span span;
  bool operator==(const Binding& o) const { return var == o.var && types == o.types; }
};

struct ActionPattern {
  enum class Kind : std::uint8_t { any, one, set };
  Kind kind = Kind::any;
  SmallList<Ident> names;          ///< one: a single name; set: the names
  std::vector<Expr> constraints;   ///< `name(param == v, param in S)`; only with kind one
  bool has_parens = false;
  Span span;
  bool operator==(const ActionPattern& o) const {
    return kind == o.kind && names == o.names && constraints == o.constraints && has_parens == o.has_parens;
  }
};

struct Condition {
  bool is_when = true;  ///< false: `unless`
  Expr expr;
  bool operator==(const Condition&) const = default;
};

enum class Effect : std::uint8_t { permit, forbid };

struct RuleDecl {
  Doc doc;
  Effect effect = Effect::permit;
  Ident name;
  std::optional<Binding> principal;  ///< nullopt: clause left out
  std::optional<ActionPattern> action;
  std::optional<Binding> resource;
  std::vector<Condition> conditions;
  Span span;
  bool operator==(const RuleDecl& o) const {
    return effect == o.effect && name == o.name && principal == o.principal && action == o.action &&
           resource == o.resource && conditions == o.conditions && doc == o.doc;
  }
};

struct RequireDecl {
  Doc doc;
  Ident name;
  std::optional<Ident> forall_var;
  std::optional<Ident> forall_type;
  std::optional<Expr> where;
  Expr ensure;
  std::string message;  ///< unescaped
  Span message_span;
  Span span;
  bool operator==(const RequireDecl& o) const {
    return name == o.name && forall_var == o.forall_var && forall_type == o.forall_type && where == o.where &&
           ensure == o.ensure && message == o.message && doc == o.doc;
  }
};

enum class Decision : std::uint8_t { allow, deny };

struct ActionArg {
  Ident name;
  Expr value;
  bool operator==(const ActionArg&) const = default;
};

/// A concrete request written in source: `principal T::"id" action a(x: v) resource T::"id"`.
struct RequestSyntax {
  Expr principal;  ///< entity_ref
  Ident action;
  std::vector<ActionArg> args;
  bool has_parens = false;
  Expr resource;   ///< entity_ref
  bool operator==(const RequestSyntax&) const = default;
};

struct Expectation {
  Decision decision = Decision::deny;
  RequestSyntax request;
  std::vector<Ident> because;
  Span span;
  bool operator==(const Expectation& o) const {
    return decision == o.decision && request == o.request && because == o.because;
  }
};

/// `expect violation REQUIREMENT;`
struct ViolationExpectation {
  Ident requirement;
  Span span;
  bool operator==(const ViolationExpectation& o) const { return requirement == o.requirement; }
};

struct TestDecl {
  Doc doc;
  std::string name;
  Span name_span;
  std::vector<FactDecl> given;
  bool has_given = false;
  std::vector<Expectation> expects;
  std::vector<ViolationExpectation> violations;
  Span span;
  bool operator==(const TestDecl& o) const {
    return name == o.name && given == o.given && has_given == o.has_given && expects == o.expects &&
           violations == o.violations && doc == o.doc;
  }
};

struct PropertyDecl {
  Doc doc;
  Ident name;
  Binding principal;
  ActionPattern action;
  Binding resource;
  std::optional<Expr> where;
  Decision expect = Decision::deny;
  Span span;
  bool operator==(const PropertyDecl& o) const {
    return name == o.name && principal == o.principal && action == o.action && resource == o.resource &&
           where == o.where && expect == o.expect && doc == o.doc;
  }
};

/// One declaration: an EnumDecl, EntityDecl, ... PropertyDecl, each in its own heap block. (As
/// a std::variant of the values every declaration took the size of the largest, 640 bytes, and
/// 100,000 rules held 64 MB of it.) Read it with syntax::get_if, syntax::get and syntax::visit,
/// which work like their std:: namesakes on the declaration types.
class Decl {
  template <typename T>
  static constexpr bool is_decl =
      std::is_same_v<T, EnumDecl> || std::is_same_v<T, EntityDecl> || std::is_same_v<T, ActionDecl> ||
      std::is_same_v<T, FactDecl> || std::is_same_v<T, PredicateDecl> || std::is_same_v<T, RuleDecl> ||
      std::is_same_v<T, RequireDecl> || std::is_same_v<T, TestDecl> || std::is_same_v<T, PropertyDecl>;

 public:
  Decl() : Decl(EnumDecl{}) {}
  template <typename T, typename = std::enable_if_t<is_decl<std::decay_t<T>>>>
  Decl(T&& d) : v_(std::in_place_type<Box<std::decay_t<T>>>, std::forward<T>(d)) {}  // NOLINT

  template <typename T>
  [[nodiscard]] T* get_if() noexcept {
    auto* b = std::get_if<Box<T>>(&v_);
    return b ? b->get() : nullptr;
  }
  template <typename T>
  [[nodiscard]] const T* get_if() const noexcept {
    const auto* b = std::get_if<Box<T>>(&v_);
    return b ? b->get() : nullptr;
  }
  template <typename F>
  decltype(auto) visit(F&& f) {
    return std::visit([&](auto& b) -> decltype(auto) { return f(*b); }, v_);
  }
  template <typename F>
  decltype(auto) visit(F&& f) const {
    return std::visit([&](const auto& b) -> decltype(auto) { return f(*b); }, v_);
  }
  bool operator==(const Decl& o) const { return v_ == o.v_; }

 private:
  std::variant<Box<EnumDecl>, Box<EntityDecl>, Box<ActionDecl>, Box<FactDecl>, Box<PredicateDecl>, Box<RuleDecl>,
               Box<RequireDecl>, Box<TestDecl>, Box<PropertyDecl>>
      v_;
};

template <typename T>
[[nodiscard]] T* get_if(Decl* d) noexcept {
  return d ? d->get_if<T>() : nullptr;
}
template <typename T>
[[nodiscard]] const T* get_if(const Decl* d) noexcept {
  return d ? d->get_if<T>() : nullptr;
}
template <typename T>
[[nodiscard]] T& get(Decl& d) {
  if (T* p = d.get_if<T>()) return *p;
  throw std::bad_variant_access();
}
template <typename T>
[[nodiscard]] const T& get(const Decl& d) {
  if (const T* p = d.get_if<T>()) return *p;
  throw std::bad_variant_access();
}
template <typename F>
decltype(auto) visit(F&& f, Decl& d) {
  return d.visit(std::forward<F>(f));
}
template <typename F>
decltype(auto) visit(F&& f, const Decl& d) {
  return d.visit(std::forward<F>(f));
}

/// A comment as written, kept for the formatter.
struct Comment {
  Span span;
  std::string text;   ///< including the `//` or `/* */` markers
  bool is_doc = false;  ///< `///`
  bool own_line = false;  ///< nothing but whitespace before it on its line
};

/// One parsed file.
struct File {
  FileId file = kNoFile;
  /// A deque, not a vector: growing a vector moved every declaration again at each doubling.
  std::deque<Decl> decls;
  std::vector<Comment> comments;
  bool operator==(const File& o) const { return decls == o.decls; }
};

/// The span of any declaration.
[[nodiscard]] Span decl_span(const Decl& d);
/// The declaration's keyword ("enum", "permit", "fact", ...), for messages.
[[nodiscard]] const char* decl_kind(const Decl& d);

}  // namespace treaty::syntax
