// The fast reader of facts documents: simdjson (about 10x nlohmann's lexer) builds the document,
// and each entity is handed on as the nlohmann value the strict reader would have built. Used
// only where it reads exactly what json_error() and parse_json() read; anything else is left to
// them (they say what is wrong and where).
#include <algorithm>
#include <nlohmann/json.hpp>
#include <simdjson.h>
#include <vector>

#include "treaty/convert.hpp"

namespace treaty {

namespace {

using simdjson::dom::element;
using simdjson::dom::element_type;

/// Whether nlohmann's strict reading of the text behind `e` is the value to_json() makes of it:
/// no key is given twice in an object (the strict reader refuses it; simdjson keeps both).
/// Iterative: documents may be deep.
bool reads_as_nlohmann(element root, std::vector<std::string_view>& keys) {
  std::vector<element> todo{root};
  while (!todo.empty()) {
    const element e = todo.back();
    todo.pop_back();
    switch (e.type()) {
      case element_type::ARRAY: {
        simdjson::dom::array a;
        if (e.get_array().get(a)) return false;
        for (element x : a)
          if (x.type() == element_type::ARRAY || x.type() == element_type::OBJECT) todo.push_back(x);
        break;
      }
      case element_type::OBJECT: {
        simdjson::dom::object o;
        if (e.get_object().get(o)) return false;
        keys.clear();
        for (auto [k, v] : o) {
          keys.push_back(k);
          if (v.type() == element_type::ARRAY || v.type() == element_type::OBJECT) todo.push_back(v);
        }
        if (keys.size() > 1) {
          std::sort(keys.begin(), keys.end());
          if (std::adjacent_find(keys.begin(), keys.end()) != keys.end()) return false;
        }
        break;
      }
      default: break;
    }
  }
  return true;
}

/// The nlohmann value of `e`, as nlohmann's parser builds it: a non-negative integer is
/// number_unsigned, a negative one number_integer, anything with a fraction or exponent a float
/// (simdjson's reading of numbers is exact, as nlohmann's; `-0` is the integer 0 to both, which
/// nlohmann alone calls signed).
nlohmann::json to_json(element e) {
  switch (e.type()) {
    case element_type::OBJECT: {
      simdjson::dom::object obj;
      nlohmann::json o = nlohmann::json::object();
      if (!e.get_object().get(obj))
        for (auto [k, v] : obj) o.emplace(std::string(k), to_json(v));
      return o;
    }
    case element_type::ARRAY: {
      simdjson::dom::array arr;
      nlohmann::json a = nlohmann::json::array();
      if (!e.get_array().get(arr))
        for (element x : arr) a.push_back(to_json(x));
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

}  // namespace

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
  std::vector<std::string_view> keys;
  if (!reads_as_nlohmann(doc, keys)) return false;
  std::size_t i = 0;
  for (element x : entities) {
    nlohmann::json en = to_json(x);
    each(en, i++);
  }
  return true;
}

}  // namespace treaty
