// Shared by the fuzz harnesses: load a bundled policy once.
#pragma once

#include <memory>
#include <string>

#include "treaty/check.hpp"
#include "treaty/package.hpp"
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

/// Loads policies/<dir> (checked, with its facts) or aborts: the harness needs a valid policy.
inline Loaded& library(const char* dir) {
  static Loaded l = [&] {
    Loaded x;
    Diagnostics d;
    x.pkg = parse_package(x.sm, {std::string(TREATY_SOURCE_DIR) + "/policies/" + dir}, d);
    auto p = check_package(x.sm, x.pkg, d);
    if (d.has_errors()) std::abort();
    x.engine = std::make_unique<Engine>(std::move(p));
    return x;
  }();
  return l;
}

}  // namespace treaty::fuzz
