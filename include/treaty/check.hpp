// Parsed package -> checked program (names, types, facts, lints).
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "treaty/diagnostics.hpp"
#include "treaty/package.hpp"
#include "treaty/program.hpp"

namespace treaty {

struct CheckOptions {
  /// JSON facts files (LANGUAGE.md section 10) loaded beside the package's own facts.
  std::vector<std::string> data_files;
  /// JSON facts given as text (name, text), after the files; for embedding and fuzzing.
  std::vector<std::pair<std::string, std::string>> data_texts;
  /// Report lints (warnings W06xx).
  bool lints = true;
  /// Load the package's facts and data. `treaty verify` turns this off: it checks properties
  /// over generated worlds only.
  bool facts = true;
  /// Most facts a package and its data may hold (E0800).
  std::size_t max_facts = 50'000'000;
};

/// Most elements of one set value, in facts, data, requests and set literals (E0801).
inline constexpr std::size_t kMaxSetSize = 100'000;
/// Most inline entities of one request.
inline constexpr std::size_t kMaxInlineEntities = 10'000;

/// Resolves every name, checks every type, builds the world of facts and lowers rules,
/// predicates, requirements, tests and properties to the IR. Every problem goes to `diags`; the
/// program is complete only when no error was reported. Requirements are evaluated by the runtime
/// (`check_requirements`), which needs the evaluator.
[[nodiscard]] std::unique_ptr<Program> check_package(SourceManager& sm, const Package& pkg, Diagnostics& diags,
                                                     const CheckOptions& opts = {});

/// Converts a constant written in source (a fact's attribute value, a request argument) to a
/// value of type `t`. Entity references are looked up with `find`. Returns false with a message.
struct ConstantResolver {
  virtual ~ConstantResolver() = default;
  virtual std::optional<EntityId> find(TypeId type, std::string_view id) const = 0;
  virtual const std::string* intern(std::string_view s) = 0;
  virtual Value make_set(std::vector<Value> items) = 0;  ///< a set value
};
bool convert_constant(const Schema& schema, const syntax::Expr& e, const Type& t, ConstantResolver& r, Value& out,
                      std::string& error, Span& where);

/// Converts a JSON value (LANGUAGE.md section 10: entities as id strings or {"type","id"}, enums as
/// strings, sets as arrays, null for none) to a value of type `t`. Returns false with a message.
bool convert_json_value(const Schema& schema, const nlohmann::json& j, const Type& t, ConstantResolver& r, Value& out,
                        std::string& error);

/// Why a text is not one JSON document, and where: the byte offset of the problem (where a
/// syntax error was found; the first character of a number too large for a double) and the
/// parser's reason without its exception prefix ("syntax error while parsing value - ...",
/// "number overflow parsing '1e999'").
struct JsonError {
  std::size_t offset = 0;
  std::string message;
};
/// Checks `text` as one JSON document (RFC 8259, as the facts and request readers parse it)
/// without building it: nullopt when it is valid. A key given twice in one object is an error at
/// that key, as in parse_json().
[[nodiscard]] std::optional<JsonError> json_error(std::string_view text);

/// Parses `text` into `out` in one pass, strictly: a syntax error, an out-of-range number or a key
/// given twice in one object (which nlohmann would take the last of) is returned with its offset,
/// and `out` is left null. For requests, whose every key must mean one thing.
[[nodiscard]] std::optional<JsonError> parse_json(std::string_view text, nlohmann::json& out);

/// Edit distance, for "did you mean" suggestions.
[[nodiscard]] std::size_t edit_distance(std::string_view a, std::string_view b);
/// The closest of `candidates` to `name`, when close enough to be a likely typo.
/// Adds "did you mean `x`?" (and its fix at `span`) to `diag` when a candidate is close to `name`.
void suggest(Diagnostic& diag, std::string_view name, const std::vector<std::string>& candidates, Span span);

/// The entity type a fact names, or an error at the name (with a suggestion).
[[nodiscard]] std::optional<TypeId> fact_type(const Schema& s, const syntax::Ident& type, Diagnostics& d);

/// The one converter for facts written in source (the package's facts, a test's `given` facts):
/// converts each field of `f`, of entity type `t`, and calls `set(column, value)`. Reports an
/// unknown attribute (with a suggestion), an attribute given twice, an ill-typed or dangling
/// value, and a missing attribute, each at its place. Returns false on any problem.
bool convert_fact_fields(const Schema& s, const syntax::FactDecl& f, TypeId t, ConstantResolver& r, Diagnostics& d,
                         const std::function<void(std::uint32_t, Value)>& set);

[[nodiscard]] std::optional<std::string> closest_name(std::string_view name, const std::vector<std::string>& candidates);

}  // namespace treaty
