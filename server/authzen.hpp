// Internal to server/: AuthZEN 1.0 requests mapped to Treaty requests, and decisions to JSON.
#pragma once

#include <nlohmann/json.hpp>

#include "treaty/convert.hpp"
#include "treaty/data/simdjson_values.hpp"

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

/// The entities of one AuthZEN request, resolved against a snapshot's engine (the one mapping,
/// shared by evaluations and searches): an entity that exists in the facts keeps its facts (each
/// of its attribute-named `properties` must equal the fact's value), any other is supplied
/// inline for this request through `overlay()`, its attribute-named properties as its attributes.
class RequestEntities {
 public:
  RequestEntities(const Engine& eng, const Names& names);
  RequestEntities(const RequestEntities&) = delete;
  RequestEntities& operator=(const RequestEntities&) = delete;
  /// Maps `e` (of type `t`, in role `role`: "subject", "resource") and sets `id`; false with the
  /// problem, `malformed` when it is the payload's shape (an entity of facts without an id).
  bool map(const EntityRef& e, TypeId t, const char* role, std::string& id, std::string& error, bool& malformed);
  /// Adds the inline entities mapped so far to the overlay and checks the policy's keys and
  /// requirements over them; false with the problem.
  bool commit(std::string& error);
  /// Sets `action` and its arguments (from `a.properties`) in `conv`; false with the problem.
  bool action(std::uint32_t action, const ActionRef& a, RequestConverter& conv, std::string& error);
  [[nodiscard]] Overlay& overlay() { return overlay_; }
  [[nodiscard]] OverlayResolver& resolver() { return res_; }

 private:
  const Engine& eng_;
  const Names& names_;
  Overlay overlay_;
  OverlayResolver res_;
  nlohmann::json inline_;
};

/// The three AuthZEN Search APIs: the side each one searches.
enum class SearchKind { subject, resource, action };

/// An AuthZEN search request as the endpoint read it (its shape already checked: the inputs
/// carry ids).
struct SearchAsk {
  SearchKind kind = SearchKind::subject;
  std::string_view type;        ///< the searched type as the request wrote it (subject, resource)
  EntityRef subject, resource;  ///< the inputs; of the searched side only `type` is read
  ActionRef action;             ///< subject and resource searches
  std::size_t limit = 0;        ///< page.limit; 0 when not given
  std::size_t max_limit = 1000;  ///< the server's page size (--max-search-results)
  std::string_view token;       ///< page.token; empty for the first page
  std::uint64_t request_hash = 0;  ///< of subject, action, resource and context: a token's request
};

struct SearchOutcome {
  /// 200, or the refusal: 400 for a token that is not one or belongs to another request, 409 for
  /// a token of another revision of the facts.
  unsigned status = 200;
  /// With 200: why the results are empty (an unknown type, entity or action, properties that
  /// disagree with the facts), as an evaluation's context.error; else the refusal's message.
  std::string error;
  std::vector<std::string> ids;       ///< subject and resource searches, in the engine's order
  std::vector<ActionMatch> actions;   ///< the action search's page
  std::vector<std::uint32_t> skipped;  ///< actions whose parameters cannot be enumerated
  std::string next_token;             ///< empty on the last page
  SearchStats stats;
};

/// THE mapping of an AuthZEN search onto the engine's reverse queries (Engine::search_*), over
/// one engine, so one revision of the live facts: the input entities as in evaluate(), the
/// searched type through the same names, each page at most `limit` (at most `max_limit`)
/// results, and `next_token` tied to the request and the revision.
void search(const Snapshot& snap, const Names& names, const SearchAsk& ask, SearchOutcome& out);

/// Appends the Search API response: `{"page":{"next_token","count"},"results":[..]}` and, when
/// there is something to say, `"context"` (`error`, `skipped`, and with `explain` the search's
/// plan and costs).
void write_search(const Snapshot& snap, const Names& names, const SearchAsk& ask, const SearchOutcome& o, bool explain,
                  std::string& out);

/// Appends `{"decision":..,"context":{..}}` for an outcome.
void write_decision(const Snapshot& snap, const Outcome& o, bool explain, std::string& out);

/// Appends `s` as a JSON string.
void json_string(std::string& out, std::string_view s);
}  // namespace treaty::server::internal
