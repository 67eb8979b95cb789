// Every declared name of a checked package and every resolved use of it: what `treaty explain`
// reports and what `treaty lsp` answers hover, definition and references from.
//
// Uses are resolved, not matched as text. A walk over the syntax tree types every expression the
// way the checker does (scopes of bindings, `exists` variables, action parameters and predicate
// parameters; the expected type that makes a bare name an enum value), so `p.account` is a use of
// `Person.account` only when `p` is a `Person`, and a variable is never taken for a predicate or
// an enum value. The IR itself is not walked: small predicates are inlined into their callers
// there, and constant sets are folded, which would lose call sites and values.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "treaty/package.hpp"
#include "treaty/program.hpp"
#include "treaty/source.hpp"

namespace treaty::cli {

/// A use of a declared name: where, what kind of use, and in which declaration.
struct NameUse {
  Span span;
  std::string what;  ///< "read", "call", "reference", ...
  std::string in;    ///< "rule `x`"
};

/// A declaration a name can denote.
struct Declared {
  std::string key;        ///< "attr:Person.account": the uses' key
  std::string kind;       ///< "attribute", "predicate", ...
  std::string qualified;  ///< "Person.account"; for a top-level declaration, its name
  std::string bare;       ///< "account"
  std::string doc;
  Span loc;   ///< the name
  Span text;  ///< the whole declaration
};

/// The type of a variable read or an attribute read, at its name.
struct TypedSpan {
  Span span;
  std::string type;  ///< as the checker names it ("Person", "Set<Role>")
};

struct NameIndex {
  std::vector<Declared> decls;
  std::map<std::string, std::vector<NameUse>> uses;  ///< by Declared::key, in source order
  std::vector<TypedSpan> types;
};

/// Indexes `pkg`, which `p` is the checked program of (checked without errors). `sm` gets a
/// scratch file per `{expr}` part of a requirement's message.
[[nodiscard]] NameIndex index_names(SourceManager& sm, const Package& pkg, const Program& p);

}  // namespace treaty::cli
