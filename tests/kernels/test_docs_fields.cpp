// docs/api.md's parameter table is the field table of the parser, row for row:
// this test renders task_fields() as Markdown and fails when the document
// holds anything else (it prints the table to paste).
#include <gtest/gtest.h>

#include <fstream>
#include <sstream>
#include <string>

#include "kernels/task_spec.h"

namespace fractal {
namespace {

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

}  // namespace
}  // namespace fractal
