// Internal to server/: AuthZEN 1.0 requests mapped to Treaty requests, and decisions to JSON.
#pragma once

#include <nlohmann/json_fwd.hpp>

#include "internal.hpp"

namespace treaty::server::internal {

/// An AuthZEN subject or resource as the request wrote it (views into the parsed document).
struct EntityRef {
  std::string_view type, id;
  bool has_id = false;
  simdjson::dom::object props;
  bool has_props = false;
};
struct ActionRef {
  std::string_view name;
  simdjson::dom::object props;
  bool has_props = false;
};

/// Reads a subject or resource object: null on success, else why it is malformed.
const char* read_entity(simdjson::dom::element e, EntityRef& out);
/// Reads an action object: null on success, else why it is malformed.
const char* read_action(simdjson::dom::element e, ActionRef& out);

struct Outcome {
  bool allow = false;
  std::string error;  ///< non-empty: the evaluation failed (decision false)
  bool malformed = false;  ///< the error is the payload's shape (a single evaluation answers 400)
  Decision d;
};

/// THE mapping of an AuthZEN evaluation onto the engine (kept in one place on purpose):
/// - `type` names an entity type (through `--authzen-type` aliases), `id` the entity, and
///   `action.name` the action; `action.properties` give the action's parameters by name
///   (properties that name no parameter are ignored).
/// - An entity that exists in the facts keeps its facts: each of its `properties` that names an
///   attribute must equal the fact's value, or the evaluation fails (decision false with the
///   disagreement as context.error); properties that name no attribute are ignored.
/// - An entity that does not exist in the facts is supplied inline for this request, through
///   Overlay::add_json (the engine's one way in for request entities), with the properties that
///   name attributes as its attributes. An entity of a type with no facts at all (a type the
///   request supplies) may omit its id: it is then anonymous (id ""), as the todo being created in
///   the Todo scenario.
/// Explanations (closest misses) are computed only when `explain` is set.
void evaluate(const Snapshot& snap, const Names& names, const EntityRef& subject, const ActionRef& action,
              const EntityRef& resource, bool explain, Outcome& out);

/// Appends `{"decision":..,"context":{..}}` for an outcome.
void write_decision(const Snapshot& snap, const Outcome& o, bool explain, std::string& out);

/// Appends `s` as a JSON string.
void json_string(std::string& out, std::string_view s);
/// A simdjson value as nlohmann JSON (for the converters of the checked program).
nlohmann::json to_nlohmann(simdjson::dom::element e);

/// The first key given twice in one object anywhere in `e`, with its path (`subject.properties`);
/// simdjson keeps every member and finds the first, nlohmann the last, so a body with a repeated
/// key would mean different things to different readers: it is refused instead.
bool duplicate_key(simdjson::dom::element e, std::string& where);

}  // namespace treaty::server::internal
