// The fast reader of facts documents: simdjson (about 10x nlohmann's lexer) builds the document,
// and each entity is handed on as the nlohmann value the strict reader would have built. Used
// only where it reads exactly what json_error() and parse_json() read; anything else is left to
// them (they say what is wrong and where).
#include <algorithm>
#include <vector>

#include "treaty/data/simdjson_values.hpp"

namespace treaty {

using simdjson::dom::element;
using simdjson::dom::element_type;

namespace {

bool is_container(element e) { return e.type() == element_type::ARRAY || e.type() == element_type::OBJECT; }

/// The place of the first repeated key in `e` (depth first, an object's own keys before its
/// members'), named from `path`; recursive, but only run once a repeated key is known to exist,
/// and simdjson's depth limit (1024) bounds it.
bool duplicate_key_at(element e, const std::string& path, std::string& where) {
  simdjson::dom::array arr;
  if (!e.get_array().get(arr)) {
    std::size_t i = 0;
    for (element item : arr)
      if (duplicate_key_at(item, path + "[" + std::to_string(i++) + "]", where)) return true;
    return false;
  }
  simdjson::dom::object obj;
  if (e.get_object().get(obj)) return false;
  std::vector<std::string_view> keys;
  keys.reserve(obj.size());
  for (auto [k, v] : obj) keys.push_back(k);
  std::sort(keys.begin(), keys.end());
  if (auto d = std::adjacent_find(keys.begin(), keys.end()); d != keys.end()) {
    where = "the key \"" + std::string(*d) + "\" is given twice in " + (path.empty() ? "the body" : path);
    return true;
  }
  for (auto [k, v] : obj)
    if (is_container(v) && duplicate_key_at(v, path.empty() ? std::string(k) : path + "." + std::string(k), where))
      return true;
  return false;
}

}  // namespace

bool duplicate_key(element root, std::string* where) {
  std::vector<element> stack{root};
  std::vector<std::string_view> keys;
  bool found = false;
  while (!stack.empty() && !found) {
    const element e = stack.back();
    stack.pop_back();
    simdjson::dom::array a;
    simdjson::dom::object o;
    if (!e.get_array().get(a)) {
      for (element x : a)
        if (is_container(x)) stack.push_back(x);
    } else if (!e.get_object().get(o)) {
      keys.clear();
      for (auto [k, v] : o) {
        keys.push_back(k);
        if (is_container(v)) stack.push_back(v);
      }
      if (keys.size() > 1) {
        std::sort(keys.begin(), keys.end());
        found = std::adjacent_find(keys.begin(), keys.end()) != keys.end();
      }
    }
  }
  if (found && where) (void)duplicate_key_at(root, "", *where);
  return found;
}

nlohmann::json to_nlohmann(element e) {
  switch (e.type()) {
    case element_type::OBJECT: {
      simdjson::dom::object obj;
      nlohmann::json o = nlohmann::json::object();
      if (!e.get_object().get(obj))
        for (auto [k, v] : obj) o.emplace(std::string(k), to_nlohmann(v));
      return o;
    }
    case element_type::ARRAY: {
      simdjson::dom::array arr;
      nlohmann::json a = nlohmann::json::array();
      if (!e.get_array().get(arr))
        for (element x : arr) a.push_back(to_nlohmann(x));
      return a;
    }
    case element_type::INT64: {
      std::int64_t n = 0;
      if (e.get_int64().get(n)) return nlohmann::json();
      if (n >= 0) return nlohmann::json(static_cast<std::uint64_t>(n));
      return nlohmann::json(n);
    }
    case element_type::UINT64: {
      std::uint64_t n = 0;
      if (e.get_uint64().get(n)) return nlohmann::json();
      return nlohmann::json(n);
    }
    case element_type::DOUBLE: {
      double d = 0;
      if (e.get_double().get(d)) return nlohmann::json();
      return nlohmann::json(d);
    }
    case element_type::STRING: {
      std::string_view v;
      if (e.get_string().get(v)) return nlohmann::json();
      return nlohmann::json(std::string(v));
    }
    case element_type::BOOL: {
      bool b = false;
      if (e.get_bool().get(b)) return nlohmann::json();
      return nlohmann::json(b);
    }
    case element_type::NULL_VALUE: return nlohmann::json(nullptr);
  }
  return nlohmann::json();
}

bool simple_value(const Schema& schema, const Type& t, element v, Value& out) {
  if (t.set) return false;
  if (t.base == Base::bool_) {
    bool b = false;
    if (v.get_bool().get(b)) return false;
    out = Value::boolean(b);
    return true;
  }
  if (t.base == Base::int_) {
    std::int64_t n = 0;
    if (v.get_int64().get(n)) return false;
    out = Value::integer(n);
    return true;
  }
  if (t.base == Base::enum_) {
    std::string_view s;
    if (v.get_string().get(s)) return false;
    const auto& vals = schema.enums[t.enum_id].values;
    for (std::uint32_t i = 0; i < vals.size(); ++i)
      if (vals[i] == s) {
        out = Value::enumv(t.enum_id, i);
        return true;
      }
  }
  return false;
}

bool read_entities_fast(const std::string& text, const std::function<void(nlohmann::json&, std::size_t)>& each) {
  // simdjson's DOM takes about 2.7 times the text beside it while the file is read (for the L
  // world's 186 MB, 950 MB at the peak against 450 MB streamed): a file over 1 GB goes the strict
  // reader's way, which streams it entity by entity.
  if (text.size() > (std::size_t{1} << 30)) return false;
  simdjson::dom::parser parser;
  element doc;
  // In place when the string has simdjson's padding allocated past its end (read_file leaves it),
  // else simdjson copies the text.
  const bool padded = text.capacity() - text.size() >= simdjson::SIMDJSON_PADDING;
  if (parser.parse(text.data(), text.size(), !padded).get(doc)) return false;  // refused: the strict reader says why
  simdjson::dom::object root;
  simdjson::dom::array entities;
  if (doc.get_object().get(root) || root["entities"].get_array().get(entities)) return false;
  // The strict reader refuses a repeated key; simdjson keeps both.
  if (duplicate_key(doc)) return false;
  std::size_t i = 0;
  for (element x : entities) {
    nlohmann::json en = to_nlohmann(x);
    each(en, i++);
  }
  return true;
}

}  // namespace treaty
