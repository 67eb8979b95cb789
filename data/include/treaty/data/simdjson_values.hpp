// simdjson DOM values read as Treaty's strict reader (parse_json, convert_json_value) reads them:
// one copy for every simdjson reader (the facts reader in data/json_fast.cpp, the request reader
// of `treaty eval --requests`, the server's AuthZEN and native handlers). Not public API: only a
// target that links simdjson itself may include it.
#pragma once

#include <nlohmann/json.hpp>
#include <simdjson.h>
#include <string>

#include "treaty/convert.hpp"

namespace treaty {

/// The nlohmann value of `e`, as nlohmann's parser builds it from the same text: a non-negative
/// integer is number_unsigned, a negative one number_integer, anything with a fraction or
/// exponent a float (simdjson reads numbers exactly, as nlohmann does; only `-0` differs: the
/// integer 0, which nlohmann alone calls signed). A repeated key keeps its first value, so call
/// duplicate_key() first wherever a repeated key must be refused.
[[nodiscard]] nlohmann::json to_nlohmann(simdjson::dom::element e);

/// Whether an object anywhere in `e` gives a key twice (simdjson keeps every member and finds
/// the first; nlohmann keeps the last; the strict reader refuses it). When one does and `where`
/// is given, it says which and where: `the key "k" is given twice in a.b[2]` (`in the body` at
/// the top). Iterative (documents may be deep); the place is worked out only when there is one.
[[nodiscard]] bool duplicate_key(simdjson::dom::element e, std::string* where = nullptr);

/// A JSON scalar as a value of a Bool, Int or enum type, exactly as convert_json_value reads it,
/// without allocating; false for anything else (a set, an entity, a string, a float, an integer
/// past 64 bits, a name the enum lacks), which the caller then gives to the converter.
[[nodiscard]] bool simple_value(const Schema& schema, const Type& t, simdjson::dom::element v, Value& out);

}  // namespace treaty
