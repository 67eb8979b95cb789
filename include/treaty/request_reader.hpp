// The request hot path, shared by `treaty eval --requests` and `treaty serve`: a JSON request
// read with simdjson straight into an Engine Request, and a decision written as JSON without
// building a JSON tree.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "treaty/runtime.hpp"

namespace treaty {

/// Reads plain native requests (LANGUAGE.md section 10): `principal`, `action` (its `name` and
/// `args` of Bool, Int and enum parameters) and `resource`, every entity in the world, no inline
/// entities. Ids are resolved in place: nothing is allocated for a request once `out.args` has
/// its capacity (reuse one Request). Anything else (a line with `entities`, a string, set or
/// entity argument, an unknown or duplicate field, bad JSON, an unknown entity, any error) is
/// declined: the caller then reads the text with Engine::request_from_json, which gives the same
/// request or the error message. One reader per thread (it owns a parser).
class RequestReader {
 public:
  explicit RequestReader(const Engine& engine);
  ~RequestReader();
  RequestReader(const RequestReader&) = delete;
  RequestReader& operator=(const RequestReader&) = delete;

  /// True with `out` set (out.overlay null) when `json` is a plain request that resolves; false
  /// (out unspecified) to decline.
  bool read(std::string_view json, Request& out);
  /// Reads over `e` from now on: an engine of another revision of the same program (live facts).
  void set_engine(const Engine& e);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

/// Appends `s` as a JSON string with the escapes nlohmann::json::dump() writes; ill-formed UTF-8
/// becomes U+FFFD as dump() with error_handler_t::replace writes it (one for each maximal
/// ill-formed part), so the text is always JSON: a request's bytes reach error messages.
void append_json_string(std::string& out, std::string_view s);
/// The length of the well-formed UTF-8 sequence (RFC 3629: no overlong form, no surrogate, at
/// most U+10FFFF) that begins at `s[i]`, a byte of 0x80 or more; 0 when it is ill-formed, with
/// `*ill` (when given) the length of the ill-formed part to replace: the byte and the
/// continuation bytes after it that fit a sequence it begins.
std::size_t utf8_sequence(std::string_view s, std::size_t i, std::size_t* ill = nullptr) noexcept;

/// Writes decisions as Engine::to_json(d, sm).dump() does, byte for byte, without a JSON tree:
/// each rule's `{"file":..,"line":..,"rule":..}` is built once.
class DecisionWriter {
 public:
  DecisionWriter(const Engine& engine, const SourceManager* sm);
  /// Appends the decision: to_json(d, sm).dump(). A decision made without an explanation has
  /// not looked for closest misses: its "misses" is [].
  void write(const Decision& d, std::string& out) const;
  /// Appends `{"decision":"error","errors":[message]}`.
  static void write_error(std::string_view message, std::string& out);
  /// Writes for `e` from now on: an engine of another revision of the same program.
  void set_engine(const Engine& e) { e_ = &e; }

 private:
  const Engine* e_;
  const SourceManager* sm_;
  std::vector<std::string> rules_;  ///< by rule: its entry in "determining"
};

}  // namespace treaty
