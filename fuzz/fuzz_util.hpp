// Shared by the fuzz harnesses: load a bundled policy once.
#pragma once

#include <memory>
#include <string>

#include "treaty/compile.hpp"
#include "treaty/runtime.hpp"

#ifndef TREATY_SOURCE_DIR
#define TREATY_SOURCE_DIR "."
#endif

namespace treaty::fuzz {

struct Loaded {
  SourceManager sm;
  Package pkg;
  std::unique_ptr<Engine> engine;
};

/// Loads policies/<dir> (checked, with its facts; requirements not evaluated) or aborts: the
/// harness needs a valid policy.
inline Loaded& library(const char* dir) {
  static Loaded l = [&] {
    Loaded x;
    Diagnostics d;
    CompileOptions opts;
    opts.last = Step::load;
    Compiled c = compile(x.sm, Sources::from_paths({std::string(TREATY_SOURCE_DIR) + "/policies/" + dir}), d, opts);
    if (d.has_errors()) std::abort();
    x.pkg = std::move(c.pkg);
    x.engine = std::move(c.engine);
    return x;
  }();
  return l;
}

}  // namespace treaty::fuzz
