// The contract: every ```treaty example of LANGUAGE.md and DOMAIN.md and of docs/language.md
// parses cleanly and survives `fmt` unchanged in meaning. tests/contract holds a copy of the
// contract so a bare checkout can test it; where the shared originals sit beside the checkout
// (../shared), the copy must match them byte for byte.
#include <gtest/gtest.h>

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
