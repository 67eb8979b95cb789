// Text dumps of what each stage makes of a package: `treaty check --dump=STAGE`, and the golden
// tests of tests/golden/dump/ that pin lowering and index selection in review.
//
// Every dump is plain text, one item per line, indented by two spaces per level, in an order
// fixed by the package (declaration, schema and node order; sorted where the program keeps no
// order of its own) and never by addresses or hash tables: the same package gives the same
// bytes on every run and machine, so a change in the parser, the checker or the lowering shows
// as a readable diff. File paths are printed as the SourceManager holds them, that is as they
// were given on the command line (a relative path stays relative).
//
// The dumps read the program; they never change it. `dump_checked`, `dump_ir` and
// `dump_indexes` expect a program checked without errors (whose IR is complete); the types of
// `dump_ir` come from Program::node_types, which a program read from a bundle lacks (its nodes
// are then printed without types).
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "treaty/package.hpp"
#include "treaty/program.hpp"
#include "treaty/source.hpp"

namespace treaty {

/// A stage `treaty check --dump=STAGE` can print, in pipeline order.
struct DumpStage {
  std::string_view name;
  std::string_view what;    ///< one line, for `--help`
  bool needs_program;       ///< false: printable from the syntax tree alone (even with errors)
};

/// Every dump stage, in pipeline order: syntax, checked, ir, indexes.
inline constexpr DumpStage kDumpStages[] = {
    {"syntax", "the declarations as parsed: kind, name, location and their canonical text", false},
    {"checked", "the checked program: schema, fact counts, predicates, rules, requirements, tests, properties",
     true},
    {"ir", "the typed expression IR of every predicate, rule, requirement and property", true},
    {"indexes", "the hash indexes chosen, and the index (or scan) of every `exists`", true},
};

/// The stage called `name`, or nullopt.
[[nodiscard]] std::optional<DumpStage> find_dump_stage(std::string_view name);

/// Each file (`file PATH: N declarations`) and each of its declarations in source order:
/// `path:line:column: KIND NAME`, then the declaration as the formatter prints it (with its `///`
/// doc, without other comments), indented. Works on a package with syntax errors: it shows what
/// the parser recovered.
[[nodiscard]] std::string dump_syntax(const SourceManager& sm, const Package& pkg);

/// The schema (enums; entity types with attributes, types and keys; actions with parameters and
/// accepted types), the number of facts of each entity type, predicates with parameter types,
/// rules with their resolved types, the rules each action can meet, requirements, tests with
/// their expectations, and properties.
[[nodiscard]] std::string dump_checked(const SourceManager& sm, const Program& p);

/// Predicates, rules, requirements and properties, each with a header line (`permit NAME
/// (path:line) principal T action a resource T`), its frame size, and then each expression as
/// an indented S-expression of the IR: one node a line, `(op details : Type`, its children
/// below it indented by two, closing parentheses at the end of the last line. Variables show
/// their name and slot (`var p @0`), single-type attribute reads their column, `exists` the
/// index it probes (or `scan`). Inlined predicate bodies appear where they were inlined.
[[nodiscard]] std::string dump_ir(const SourceManager& sm, const Program& p);

/// The indexes the checker chose (Program::indexes, sorted by type and column names, each with
/// how many of the `exists` listed below probe it), then each predicate, rule and requirement
/// whose IR holds an `exists` (inlined predicates included): every `exists` by its source text
/// and location, with the index it probes and the keys it probes with, `scan` or, for `exists x
/// in S`, the set it iterates; and every call left out of line to a predicate that has one.
[[nodiscard]] std::string dump_indexes(const SourceManager& sm, const Program& p);

}  // namespace treaty
