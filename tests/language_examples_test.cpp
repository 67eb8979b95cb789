// The contract: every ```treaty example of LANGUAGE.md and DOMAIN.md and of docs/language.md
// parses cleanly and survives `fmt` unchanged in meaning. tests/contract holds a copy of the
// contract so a bare checkout can test it; where the shared originals sit beside the checkout
// (../shared), the copy must match them byte for byte.
#include <gtest/gtest.h>

#include <algorithm>

#include "support/test_util.hpp"
#include "treaty/format.hpp"

namespace fs = std::filesystem;

namespace {

void check_examples(const fs::path& md, std::size_t min_count) {
  ASSERT_TRUE(fs::exists(md)) << md << " not found: the language contract must sit beside the checkout";
  const auto blocks = treaty::testing::treaty_blocks(treaty::testing::slurp(md));
  EXPECT_GE(blocks.size(), min_count) << md;
  for (std::size_t i = 0; i < blocks.size(); ++i) {
    SCOPED_TRACE(md.string() + " example " + std::to_string(i + 1));
    auto p = treaty::testing::parse_text(blocks[i], md.filename().string());
    EXPECT_TRUE(p.diags.empty()) << treaty::testing::render(p) << blocks[i];
    EXPECT_FALSE(p.file.decls.empty());
    const std::string out = treaty::format_file(p.sm, p.file);
    auto q = treaty::testing::parse_text(out);
    EXPECT_TRUE(q.diags.empty()) << treaty::testing::render(q);
    EXPECT_TRUE(q.file == p.file) << out;
  }
}

fs::path contract(const char* name) { return fs::path(treaty::testing::source_dir()) / "tests" / "contract" / name; }

TEST(LanguageContract, SharedLanguageExamplesParse) { check_examples(contract("LANGUAGE.md"), 6); }
TEST(LanguageContract, SharedDomainVocabularyParses) { check_examples(contract("DOMAIN.md"), 2); }
TEST(LanguageContract, CopyMatchesTheSharedOriginals) {
  for (const char* name : {"LANGUAGE.md", "DOMAIN.md"}) {
    const fs::path original = fs::path(treaty::testing::shared_dir()) / name;
    if (!fs::exists(original)) continue;  // a bare checkout: the copy is the contract
    EXPECT_EQ(treaty::testing::slurp(original), treaty::testing::slurp(contract(name)))
        << "tests/contract/" << name << " differs from " << original << "; copy the new contract in";
  }
}
TEST(LanguageContract, DocsLanguageExamplesParse) {
  check_examples(fs::path(treaty::testing::source_dir()) / "docs" / "language.md", 8);
}

}  // namespace

namespace {

// The vocabulary of DOMAIN.md is the contract the acceptance suites are written against: every
// enum value, entity attribute (with its type), key and action signature it names is declared by
// the library with the same name. Libraries may add to it; they may not rename or retype.
void check_vocabulary(const std::string& block, const fs::path& lib_dir) {
  using namespace treaty::syntax;
  auto vocab = treaty::testing::parse_text(block, "DOMAIN.md");
  ASSERT_TRUE(vocab.diags.empty()) << treaty::testing::render(vocab);
  std::vector<treaty::testing::Parsed> lib;
  for (const auto& f : treaty::testing::treaty_files_under(lib_dir)) {
    lib.push_back(treaty::testing::parse_text(treaty::testing::slurp(f), f.string()));
    ASSERT_TRUE(lib.back().diags.empty()) << treaty::testing::render(lib.back());
  }
  auto find = [&]<typename D>(const std::string& name, const D*) -> const D* {
    for (const auto& p : lib)
      for (const auto& d : p.file.decls)
        if (const auto* x = treaty::syntax::get_if<D>(&d); x && x->name.name == name) return x;
    return nullptr;
  };
  auto names = [](const std::vector<Ident>& v) {
    std::vector<std::string> out;
    for (const auto& i : v) out.push_back(i.name);
    return out;
  };
  auto subset = [](std::vector<std::string> a, std::vector<std::string> b) {
    std::sort(a.begin(), a.end());
    std::sort(b.begin(), b.end());
    return std::includes(b.begin(), b.end(), a.begin(), a.end());
  };
  std::size_t seen = 0;
  for (const auto& d : vocab.file.decls) {
    ++seen;
    if (const auto* e = treaty::syntax::get_if<EnumDecl>(&d)) {
      const auto* l = find(e->name.name, static_cast<const EnumDecl*>(nullptr));
      ASSERT_NE(l, nullptr) << lib_dir << " does not declare enum " << e->name.name;
      EXPECT_TRUE(subset(names(e->values), names(l->values))) << "enum " << e->name.name << " lacks a contract value";
    } else if (const auto* n = treaty::syntax::get_if<EntityDecl>(&d)) {
      const auto* l = find(n->name.name, static_cast<const EntityDecl*>(nullptr));
      ASSERT_NE(l, nullptr) << lib_dir << " does not declare entity " << n->name.name;
      for (const auto& a : n->attrs) {
        auto it = std::find_if(l->attrs.begin(), l->attrs.end(), [&](const AttrDecl& x) { return x.name == a.name; });
        ASSERT_NE(it, l->attrs.end()) << "entity " << n->name.name << " lacks attribute " << a.name.name;
        EXPECT_TRUE(it->type == a.type) << "entity " << n->name.name << "." << a.name.name << " has another type";
      }
      for (const auto& k : n->keys)
        EXPECT_NE(std::find(l->keys.begin(), l->keys.end(), k), l->keys.end()) << "entity " << n->name.name << " lacks a key";
    } else if (const auto* a = treaty::syntax::get_if<ActionDecl>(&d)) {
      const auto* l = find(a->name.name, static_cast<const ActionDecl*>(nullptr));
      ASSERT_NE(l, nullptr) << lib_dir << " does not declare action " << a->name.name;
      EXPECT_TRUE(l->params == a->params) << "action " << a->name.name << " has other parameters";
      EXPECT_TRUE(subset(names(a->principal_types), names(l->principal_types))) << "action " << a->name.name;
      EXPECT_TRUE(subset(names(a->resource_types), names(l->resource_types))) << "action " << a->name.name;
    } else {
      ADD_FAILURE() << "unexpected declaration in the vocabulary";
    }
  }
  EXPECT_GT(seen, 10u);
}

TEST(LanguageContract, DomainVocabularyIsDeclaredByTheLibraries) {
  const auto blocks = treaty::testing::treaty_blocks(treaty::testing::slurp(contract("DOMAIN.md")));
  ASSERT_EQ(blocks.size(), 2u);
  const fs::path policies = fs::path(treaty::testing::source_dir()) / "policies";
  {
    SCOPED_TRACE("4me");
    check_vocabulary(blocks[0], policies / "4me" / "lib");
  }
  {
    SCOPED_TRACE("bm365");
    check_vocabulary(blocks[1], policies / "bm365" / "lib");
  }
}

}  // namespace
