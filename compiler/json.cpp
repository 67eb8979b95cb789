// Strict JSON for requests: one pass that builds the document and refuses what nlohmann would
// accept silently. A key given twice in one object is an error at that key (nlohmann keeps the
// last value), and a syntax error or an out-of-range number is reported at its place.
#include <iterator>
#include <nlohmann/json.hpp>
#include <set>

#include "treaty/check.hpp"

namespace treaty {

namespace {

/// An input iterator over the text that publishes how far the parser has read, so SAX events
/// (which carry no position) can be located.
struct CountingIt {
  using iterator_category = std::input_iterator_tag;
  using value_type = char;
  using difference_type = std::ptrdiff_t;
  using pointer = const char*;
  using reference = const char&;
  const char* p = nullptr;
  const char** pos = nullptr;
  reference operator*() const { return *p; }
  CountingIt& operator++() {
    ++p;
    *pos = p;
    return *this;
  }
  CountingIt operator++(int) {
    CountingIt t = *this;
    ++*this;
    return t;
  }
  bool operator==(const CountingIt& o) const { return p == o.p; }
  bool operator!=(const CountingIt& o) const { return p != o.p; }
};

using Json = nlohmann::json;

/// Builds the document through nlohmann's own DOM builder and checks keys on the way.
struct StrictSax {
  StrictSax(Json& out, const char* text, const char** read) : dom(out, false), begin(text), pos(read) {}
  nlohmann::detail::json_sax_dom_parser<Json> dom;
  const char* begin;
  const char** pos;
  std::vector<std::set<std::string>> keys;
  std::optional<JsonError> error;

  bool null() { return dom.null(); }
  bool boolean(bool v) { return dom.boolean(v); }
  bool number_integer(Json::number_integer_t v) { return dom.number_integer(v); }
  bool number_unsigned(Json::number_unsigned_t v) { return dom.number_unsigned(v); }
  bool number_float(Json::number_float_t v, const Json::string_t& s) { return dom.number_float(v, s); }
  bool string(Json::string_t& v) { return dom.string(v); }
  bool binary(Json::binary_t& v) { return dom.binary(v); }
  bool start_object(std::size_t n) {
    keys.emplace_back();
    return dom.start_object(n);
  }
  bool end_object() {
    keys.pop_back();
    return dom.end_object();
  }
  bool start_array(std::size_t n) { return dom.start_array(n); }
  bool end_array() { return dom.end_array(); }
  bool key(Json::string_t& k) {
    if (!keys.empty() && !keys.back().insert(k).second) {
      // The parser has just read the key's closing quote: its opening quote is the last
      // unescaped one before that.
      std::size_t end = static_cast<std::size_t>(*pos - begin);
      std::size_t at = end >= 2 ? end - 2 : 0;
      while (at > 0 && !(begin[at] == '"' && begin[at - 1] != '\\')) --at;
      error = JsonError{at, "the key \"" + k + "\" is given twice in one object"};
      return false;
    }
    return dom.key(k);
  }
  bool parse_error(std::size_t position, const std::string& token, const nlohmann::detail::exception& ex) {
    std::string m = ex.what();
    if (auto p = m.find("] "); m.rfind("[json.exception.", 0) == 0 && p != std::string::npos) m = m.substr(p + 2);
    if (auto p = m.find("syntax error"); p != std::string::npos) m = m.substr(p);
    std::size_t off = position ? position - 1 : 0;
    if (ex.id == 406) off = position >= token.size() ? position - token.size() : 0;  // number overflow
    error = JsonError{off, std::move(m)};
    return false;
  }
};

}  // namespace

std::optional<JsonError> parse_json(std::string_view text, nlohmann::json& out) {
  const char* pos = text.data();
  StrictSax sax(out, text.data(), &pos);
  CountingIt first{text.data(), &pos}, last{text.data() + text.size(), &pos};
  try {
    nlohmann::json::sax_parse(first, last, &sax);
  } catch (const nlohmann::json::exception& e) {  // not expected with a SAX handler; still an error
    return JsonError{static_cast<std::size_t>(pos - text.data()), e.what()};
  }
  if (sax.error) {
    out = nlohmann::json();
    return sax.error;
  }
  return std::nullopt;
}

}  // namespace treaty
