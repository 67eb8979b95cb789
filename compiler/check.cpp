// The checker: names, types, the world's facts and the lowering of a package to the IR
// (LANGUAGE.md 2-9). Its passes are defined one file each (compiler/internal/checker.hpp lists
// them); this file runs them by name, in the order of kCheckPasses (pipeline/compile.cpp says
// why that order).
#include "treaty/check.hpp"

#include <iterator>
#include <stdexcept>
#include <string>

#include "internal/checker.hpp"

namespace treaty {

PackageChecker::PackageChecker(SourceManager& sm, const Package& pkg, Diagnostics& diags, CheckOptions opts)
    : opts_(std::move(opts)),
      program_(std::make_unique<Program>()),
      checker_(std::make_unique<detail::Checker>(sm, pkg, diags, opts_, *program_)) {}

PackageChecker::~PackageChecker() = default;

void PackageChecker::run(CheckPass pass) {
  if (!checker_ || next_ >= std::size(kCheckPasses) || kCheckPasses[next_].pass != pass)
    throw std::logic_error("check pass `" + std::string(kCheckPasses[static_cast<std::size_t>(pass)].name) +
                           "` run out of order");
  ++next_;
  switch (pass) {
    case CheckPass::collect: return checker_->collect();
    case CheckPass::schema: return checker_->build_schema();
    case CheckPass::world: return checker_->load_facts();
    case CheckPass::lower: return checker_->lower_all();
    case CheckPass::indexes: return checker_->choose_indexes();
    case CheckPass::lints: return checker_->lint();
  }
}

std::unique_ptr<Program> PackageChecker::take() {
  checker_.reset();  // it refers to the program
  return std::move(program_);
}

std::unique_ptr<Program> check_package(SourceManager& sm, const Package& pkg, Diagnostics& diags,
                                       const CheckOptions& opts) {
  PackageChecker c(sm, pkg, diags, opts);
  for (const auto& pass : kCheckPasses) c.run(pass.pass);
  return c.take();
}

}  // namespace treaty
