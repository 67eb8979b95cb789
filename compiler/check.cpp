// The checker: names, types, the world's facts and the lowering of a package to the IR
// (LANGUAGE.md 2-9). Its passes are defined one file each (compiler/internal/checker.hpp lists
// them); this file runs them in order.
#include "treaty/check.hpp"

#include "internal/checker.hpp"

namespace treaty {

std::unique_ptr<Program> check_package(SourceManager& sm, const Package& pkg, Diagnostics& diags,
                                       const CheckOptions& opts) {
  auto p = std::make_unique<Program>();
  detail::Checker c(sm, pkg, diags, opts, *p);
  c.collect();
  c.build_schema();
  c.load_facts();
  c.lower_all();
  c.choose_indexes();
  c.lint();
  return p;
}

}  // namespace treaty
