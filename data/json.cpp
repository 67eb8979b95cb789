// Strict JSON for requests and facts files: one pass that builds the document (or only validates
// it) and refuses what nlohmann would accept silently. A key given twice in one object is an error at that key (nlohmann keeps the
// last value), and a syntax error or an out-of-range number is reported at its place.
#include <iterator>
#include <nlohmann/json.hpp>
#include <unordered_set>

#include "treaty/convert.hpp"

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

/// The keys seen in each open object, to refuse one given twice. Levels are reused, so a
/// document of many small objects (a facts file) allocates nothing per object; an object with
/// many keys moves to a hash set, so it costs linear time, not quadratic.
class KeyTracker {
 public:
  void open() {
    if (depth_ == levels_.size()) levels_.emplace_back();
    auto& l = levels_[depth_++];
    l.few.clear();
    l.many.clear();
  }
  void close() {
    if (depth_) --depth_;
  }
  /// False when `k` was already a key of the innermost open object.
  bool add(const std::string& k) {
    if (!depth_) return true;
    auto& l = levels_[depth_ - 1];
    if (l.many.empty() && l.few.size() < kFew) {
      for (const auto& x : l.few)
        if (x == k) return false;
      l.few.push_back(k);
      return true;
    }
    if (l.many.empty()) l.many.insert(l.few.begin(), l.few.end());
    return l.many.insert(k).second;
  }

 private:
  static constexpr std::size_t kFew = 32;
  struct Level {
    std::vector<std::string> few;
    std::unordered_set<std::string> many;
  };
  std::vector<Level> levels_;
  std::size_t depth_ = 0;
};

/// The DOM builder's interface, building nothing: json_error() only validates.
struct NoDom {
  bool null() { return true; }
  bool boolean(bool) { return true; }
  bool number_integer(Json::number_integer_t) { return true; }
  bool number_unsigned(Json::number_unsigned_t) { return true; }
  bool number_float(Json::number_float_t, const Json::string_t&) { return true; }
  bool string(Json::string_t&) { return true; }
  bool binary(Json::binary_t&) { return true; }
  bool start_object(std::size_t) { return true; }
  bool end_object() { return true; }
  bool start_array(std::size_t) { return true; }
  bool end_array() { return true; }
  bool key(Json::string_t&) { return true; }
};

/// Passes events to `Dom` (nlohmann's own DOM builder, or NoDom) and checks keys on the way.
template <typename Dom>
struct StrictSax {
  template <typename... A>
  StrictSax(const char* text, const char** read, A&&... dom_args) : dom(std::forward<A>(dom_args)...), begin(text), pos(read) {}
  Dom dom;
  const char* begin;
  const char** pos;
  KeyTracker keys;
  std::optional<JsonError> error;

  bool null() { return dom.null(); }
  bool boolean(bool v) { return dom.boolean(v); }
  bool number_integer(Json::number_integer_t v) { return dom.number_integer(v); }
  bool number_unsigned(Json::number_unsigned_t v) { return dom.number_unsigned(v); }
  bool number_float(Json::number_float_t v, const Json::string_t& s) { return dom.number_float(v, s); }
  bool string(Json::string_t& v) { return dom.string(v); }
  bool binary(Json::binary_t& v) { return dom.binary(v); }
  bool start_object(std::size_t n) {
    if (!deeper()) return false;
    keys.open();
    return dom.start_object(n);
  }
  bool end_object() {
    --depth;
    keys.close();
    return dom.end_object();
  }
  bool start_array(std::size_t n) { return deeper() && dom.start_array(n); }
  bool end_array() {
    --depth;
    return dom.end_array();
  }
  /// Opens one more level, or refuses the document at the bracket that goes past kMaxJsonDepth:
  /// a document nested a million deep parses (nlohmann's parser keeps its own stack) but every
  /// recursive walk of it afterwards (a copy, a comparison, a dump) would overflow the stack.
  bool deeper() {
    if (++depth <= kMaxJsonDepth) return true;
    const std::size_t read = static_cast<std::size_t>(*pos - begin);
    error = JsonError{read ? read - 1 : 0, "the document is nested deeper than " + std::to_string(kMaxJsonDepth) +
                                              " levels of arrays and objects"};
    return false;
  }
  std::size_t depth = 0;
  bool key(Json::string_t& k) {
    if (!keys.add(k)) {
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
  /// The parser gives the byte count read when it failed: for a syntax error the offending
  /// character was the last one read; for a number out of range the number's text ends there.
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

template <typename Dom, typename... A>
std::optional<JsonError> strict_parse(std::string_view text, A&&... dom_args) {
  const char* pos = text.data();
  StrictSax<Dom> sax(text.data(), &pos, std::forward<A>(dom_args)...);
  CountingIt first{text.data(), &pos}, last{text.data() + text.size(), &pos};
  try {
    nlohmann::json::sax_parse(first, last, &sax);
  } catch (const nlohmann::json::exception& e) {  // not expected with a SAX handler; still an error
    return JsonError{static_cast<std::size_t>(pos - text.data()), e.what()};
  }
  // nlohmann's lexer reads a NUL byte outside a string as the end of the input (for C strings),
  // so `{...}<NUL>anything` would parse as its first object and ignore the rest. JSON text
  // cannot hold a NUL byte anywhere (RFC 8259: not in its grammar, and a string must escape it):
  // the document is refused at the first one, unless the parser refused it earlier (where it
  // saw "the end of the input", that was the NUL).
  if (const auto nul = text.find('\0');
      nul != std::string_view::npos && (!sax.error || sax.error->message.find("unexpected end of input") != std::string::npos))
    return JsonError{nul, "a NUL byte; JSON text cannot hold one (a string writes it \\u0000)"};
  return std::move(sax.error);
}

}  // namespace

std::optional<JsonError> parse_json(std::string_view text, nlohmann::json& out) {
  auto e = strict_parse<nlohmann::detail::json_sax_dom_parser<Json>>(text, out, false);
  if (e) out = nlohmann::json();
  return e;
}

std::optional<JsonError> json_error(std::string_view text) { return strict_parse<NoDom>(text); }

}  // namespace treaty
