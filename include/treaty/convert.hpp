// The one way in for facts and requests (data layer): values from JSON and from constants
// written in source, entities from facts files, source facts, a test's `given` facts and a
// request's inline entities, and requests from JSON, test expectations and command-line flags.
//
// Values: convert_json_value and convert_constant. Entities: EntityLoader, in two phases (every
// entity is created first, so references resolve in any order; then attributes are converted),
// into an EntityStore (the world, or an overlay). Requests: RequestConverter. Every problem is a
// Diagnostic with a code and, where the input has one, a place; a caller that answers a single
// request takes the first one's message.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <nlohmann/json_fwd.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "treaty/diagnostics.hpp"
#include "treaty/program.hpp"
#include "treaty/source.hpp"

namespace treaty {

/// The constant as the formatter writes it (`{Kind.a, b}`, `Person::"ann"`, `-3`): for dumps.
[[nodiscard]] std::string constant_source(const Constant& c);

/// Most elements of one set value, in facts, data, requests and set literals (E0801).
inline constexpr std::size_t kMaxSetSize = 100'000;
/// Most inline entities of one request.
inline constexpr std::size_t kMaxInlineEntities = 10'000;

/// Where converted values find entities and keep new strings and sets.
struct ConstantResolver {
  virtual ~ConstantResolver() = default;
  virtual std::optional<EntityId> find(TypeId type, std::string_view id) const = 0;
  virtual const std::string* intern(std::string_view s) = 0;
  virtual Value make_set(std::vector<Value> items) = 0;  ///< a set value
};

/// Converts a constant written in source (a fact's attribute value, a request argument) to a
/// value of type `t`. Entity references are looked up with `r`. Returns false with a message and
/// `where` the offending part.
bool convert_constant(const Schema& schema, const Constant& c, const Type& t, ConstantResolver& r, Value& out,
                      std::string& error, Span& where);

/// Converts a JSON value (LANGUAGE.md section 10: entities as id strings or {"type","id"}, enums as
/// strings, sets as arrays, null for none) to a value of type `t`. Returns false with a message.
bool convert_json_value(const Schema& schema, const nlohmann::json& j, const Type& t, ConstantResolver& r, Value& out,
                        std::string& error);

/// The code of a value-conversion error message (convert_constant, convert_json_value): a set
/// over the limit, a reference to no entity, a non-constant in a fact, or a wrong type.
[[nodiscard]] DiagId value_error_code(const std::string& error);

/// Why a text is not one JSON document, and where: the byte offset of the problem (where a
/// syntax error was found; the first character of a number too large for a double) and the
/// parser's reason without its exception prefix ("syntax error while parsing value - ...",
/// "number overflow parsing '1e999'").
struct JsonError {
  std::size_t offset = 0;
  std::string message;
};
/// The deepest nesting of arrays and objects json_error() and parse_json() accept (as simdjson's
/// default, which the request hot path uses): deeper documents are refused where they go past it.
inline constexpr std::size_t kMaxJsonDepth = 1024;

/// Checks `text` as one JSON document (RFC 8259, as the facts and request readers parse it)
/// without building it: nullopt when it is valid. A key given twice in one object is an error at
/// that key, as in parse_json().
[[nodiscard]] std::optional<JsonError> json_error(std::string_view text);

/// Parses `text` into `out` in one pass, strictly: a syntax error, an out-of-range number, a key
/// given twice in one object (which nlohmann would take the last of) or nesting deeper than
/// kMaxJsonDepth is returned with its offset,
/// and `out` is left null. For requests, whose every key must mean one thing.
[[nodiscard]] std::optional<JsonError> parse_json(std::string_view text, nlohmann::json& out);

/// Reads a facts document `{"entities": [...]}` fast (simdjson), handing each element of
/// "entities" to `each` in order with its index, as the nlohmann value parse_json() would have
/// built (equal, integers and floats alike; only `-0` is unsigned here). False, before handing
/// anything on, when the text is not exactly what the strict reader accepts as such a document (a
/// syntax error, a key given twice, an integer past 64 bits, a byte-order mark, another shape;
/// a text over 1 GB, where memory matters more than time): the caller then reads it with
/// json_error() and nlohmann, which say what is wrong and where. In place (no copy) when `text`
/// has simdjson's 64 bytes of padding allocated past its end, as read_file() leaves.
[[nodiscard]] bool read_entities_fast(const std::string& text,
                                      const std::function<void(nlohmann::json&, std::size_t)>& each);

/// Edit distance, for "did you mean" suggestions.
[[nodiscard]] std::size_t edit_distance(std::string_view a, std::string_view b);
/// The closest of `candidates` to `name`, when close enough to be a likely typo.
[[nodiscard]] std::optional<std::string> closest_name(std::string_view name, const std::vector<std::string>& candidates);
/// Adds "did you mean `x`?" (and its fix at `span`) to `diag` when a candidate is close to `name`.
void suggest(Diagnostic& diag, std::string_view name, const std::vector<std::string>& candidates, Span span);

/// The entity type a fact names, or an error at the name (with a suggestion).
[[nodiscard]] std::optional<TypeId> fact_type(const Schema& s, std::string_view type, Span type_span, Diagnostics& d);

/// Converts each field of the fact `f`, of entity type `t`, and calls `set(column, value)`.
/// Reports an unknown attribute (with a suggestion), an attribute given twice, an ill-typed or
/// dangling value, and a missing attribute, each at its place. Returns false on any problem.
/// (EntityLoader's second phase for facts in source; the checker also uses it to check a test's
/// `given` facts.)
bool convert_fact_fields(const Schema& s, const FactSpec& f, TypeId t, ConstantResolver& r, Diagnostics& d,
                         const std::function<void(std::uint32_t, Value)>& set);

// ---------------------------------------------------------------------------------------------
// Entities
// ---------------------------------------------------------------------------------------------
/// Where EntityLoader puts entities: a package's world, or the overlay of a request or a test.
class EntityStore : public ConstantResolver {
 public:
  /// Creates entity (type, id) with every attribute none; nullopt when that entity exists.
  virtual std::optional<EntityId> create(TypeId type, std::string_view id, Span span) = 0;
  virtual void set_attr(EntityId e, std::uint32_t column, Value v) = 0;
  /// The number of entities it holds; a store's next entity gets this id.
  [[nodiscard]] virtual std::size_t size() const = 0;
  /// The id of an entity of the store.
  [[nodiscard]] virtual std::string_view id_of(EntityId e) const = 0;
};

struct EntityLoadOptions {
  /// Entities over a world: a request's inline entities or a test's `given` facts. Only types declared
  /// `inline entity` may come from JSON, an entity object has no other fields than "type", "id"
  /// and "attrs", an id taken is "already exists", and messages name the JSON path without "at".
  bool overlay = false;
  /// Most entities the store may hold (E0800, reported once).
  std::size_t max_entities = static_cast<std::size_t>(-1);
};

/// Converts entities into a store in two phases: add_fact and add_json create each entity (so
/// references among them resolve in any order), finish() converts the attributes still waiting,
/// in the order the entities were added. Problems are diagnostics with their places (a JSON
/// entity from a file is located in it); none stops the load.
class EntityLoader {
 public:
  EntityLoader(const Schema& s, SourceManager* sm, EntityStore& store, Diagnostics& d, EntityLoadOptions o = {});
  ~EntityLoader();
  EntityLoader(const EntityLoader&) = delete;
  EntityLoader& operator=(const EntityLoader&) = delete;

  /// Phase 1 for a fact written in source: creates its entity; its fields wait for finish(), so
  /// `f` must live until then.
  void add_fact(const FactSpec& f);
  /// Phase 1 for a fact whose fields the caller hands over only in finish(): `f` (its type, id
  /// and spans; its fields are not read) need not be kept, and finish() calls `fields(tag, out)`
  /// to fill the whole fact just before converting it. For the package's facts, which exist as
  /// syntax anyway: a copy of every one kept until finish() was half again the memory of
  /// 100,000 facts.
  void add_fact(const FactSpec& f, std::size_t tag);
  void set_fields_source(std::function<void(std::size_t tag, FactSpec& out)> fields) { fields_ = std::move(fields); }
  /// Phase 1 for element `index` of a JSON "entities" array, from file `file` (kNoFile for a
  /// request). Attributes that convert cleanly at once (every reference already known, nothing
  /// missing, no error) are set now, so `en` need not be kept; any other are moved out of `en`
  /// for finish().
  void add_json(nlohmann::json& en, std::size_t index, FileId file);
  /// The same for an entity the caller keeps: attributes that must wait are copied.
  void add_json(const nlohmann::json& en, std::size_t index, FileId file);
  /// Phase 2: the attributes of every entity still waiting.
  void finish();
  /// True once the store is full (max_entities).
  [[nodiscard]] bool full() const { return full_; }

 private:
  std::function<void(std::size_t, FactSpec&)> fields_;
  struct Pending;
  struct Locators;
  bool room(Span where);
  void report(DiagId id, Span where, const std::string& path, const std::string& message);
  void duplicate(TypeId t, std::string_view id, Span where, const std::string& path);
  bool convert_now(EntityId e, TypeId t, const nlohmann::json& attrs);
  void add_json_impl(const nlohmann::json& en, nlohmann::json* own, std::size_t index, FileId file);

  const Schema& s_;
  SourceManager* sm_;
  EntityStore& store_;
  Diagnostics& d_;
  EntityLoadOptions o_;
  std::size_t base_;  ///< entities the store held before this load
  bool full_ = false;
  std::vector<Pending> pending_;
  std::map<std::pair<TypeId, std::string>, Span> first_span_;  ///< facts in source, for the duplicate's note
  std::unique_ptr<Locators> locators_;
};

// ---------------------------------------------------------------------------------------------
// Requests
// ---------------------------------------------------------------------------------------------
/// A request with its names resolved and its arguments converted, before its entities are
/// looked up (Engine::make_request does that, in an overlay and then the world).
struct RequestParts {
  TypeId principal_type = 0;
  std::string principal_id;
  std::uint32_t action = 0;
  std::vector<Value> args;  ///< by the action's parameter index
  std::vector<bool> given;
  TypeId resource_type = 0;
  std::string resource_id;
};

/// Builds RequestParts from names and argument values, from JSON (a request document, an AuthZEN
/// body) or from source (command-line flags, a test's expectation). Each step returns false with
/// the message of what is wrong ("unknown entity type `Persn`; did you mean `Person`?").
class RequestConverter {
 public:
  RequestConverter(const Schema& s, ConstantResolver& r) : s_(s), r_(r) {}
  bool principal(std::string_view type, std::string_view id, std::string& error);
  bool resource(std::string_view type, std::string_view id, std::string& error);
  /// Sets the action (before any argument).
  bool action(std::string_view name, std::string& error);
  enum class ArgProblem { none, unknown_parameter, given_twice, bad_value };
  /// Converts argument `name`; on bad_value `error` is the value's problem alone, for the caller
  /// to prefix with the argument's place.
  ArgProblem arg(std::string_view name, const nlohmann::json& v, std::string& error);
  ArgProblem arg(std::string_view name, const Constant& v, std::string& error, Span& where);
  /// The index of parameter `name` of the action, or nullopt.
  [[nodiscard]] std::optional<std::size_t> param(std::string_view name) const;
  [[nodiscard]] RequestParts& parts() { return parts_; }

 private:
  bool entity_type(std::string_view type, TypeId& out, std::string& error) const;
  ArgProblem begin_arg(std::string_view name, std::size_t& idx, std::string& error) const;
  const Schema& s_;
  ConstantResolver& r_;
  RequestParts parts_;
};

}  // namespace treaty
