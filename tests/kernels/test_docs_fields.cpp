// docs/api.md's parameter table is the field table of the parser, row for row:
// this test renders task_fields() as Markdown and fails when the document
// holds anything else (it prints the table to paste).
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>
#include <string>

#include "kernels/task_spec.h"

namespace fractal {
namespace {

std::string read_source(const std::string& path) {
  std::ifstream in(std::string(FRACTAL_SOURCE_DIR) + "/" + path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

std::string rendered_table() {
  std::string t = "| field | type | default | rule |\n|---|---|---|---|\n";
  for (const FieldInfo& f : task_fields()) {
    t += "| `" + std::string(f.name) + "` | " + std::string(f.type) + " | " + std::string(f.default_text) + " | " +
         std::string(f.rule) + " |\n";
  }
  return t;
}

TEST(Docs, ApiParameterTableIsTheParsersFieldTable) {
  std::ifstream in(std::string(FRACTAL_SOURCE_DIR) + "/docs/api.md");
  ASSERT_TRUE(in) << "docs/api.md not found";
  std::stringstream text;
  text << in.rdbuf();
  const std::string table = rendered_table();
  EXPECT_NE(text.str().find(table), std::string::npos)
      << "docs/api.md's parameter table differs from task_fields(); it should read:\n" << table;
}

// The README's examples run as written: every `--params FILE` it shows is a
// file of the repository with a valid POST /add body, and every script, bench
// file and relative link it names exists.
TEST(Docs, ReadmeNamesFilesThatExist) {
  const std::string readme = read_source("README.md");
  ASSERT_FALSE(readme.empty());
  const std::filesystem::path root(FRACTAL_SOURCE_DIR);
  int params = 0;
  const std::regex params_re(R"(--params ([^ \n]+))");
  for (std::sregex_iterator it(readme.begin(), readme.end(), params_re), end; it != end; ++it, ++params) {
    const std::string file = (*it)[1].str();
    ASSERT_TRUE(std::filesystem::is_regular_file(root / file)) << "README: --params " << file << " is not in the repository";
    const ParseResult parsed = parse_task_spec_text(read_source(file));
    EXPECT_TRUE(parsed.ok()) << file << ": " << (parsed.error ? parsed.error->message : "");
  }
  EXPECT_GT(params, 0);
  const std::regex path_re(R"((?:^|[\s`(])((?:scripts|bench|examples|tests|deploy)/[A-Za-z0-9_./-]*[A-Za-z0-9_]))");
  for (std::sregex_iterator it(readme.begin(), readme.end(), path_re), end; it != end; ++it)
    EXPECT_TRUE(std::filesystem::exists(root / (*it)[1].str())) << "README names " << (*it)[1].str();
  const std::regex link_re(R"(\]\(([^)#:]+)(#[^)]*)?\))");
  for (std::sregex_iterator it(readme.begin(), readme.end(), link_re), end; it != end; ++it)
    EXPECT_TRUE(std::filesystem::exists(root / (*it)[1].str())) << "README links to " << (*it)[1].str();
}

}  // namespace
}  // namespace fractal
