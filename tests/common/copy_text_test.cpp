#include "common/copy_text.h"

#include <gtest/gtest.h>

namespace medmigrate {
namespace {

TEST(CopyTextTest, EscapeThenParseIsIdentity) {
  const std::vector<std::string> values = {"plain", "tab\there", "new\nline\r\n", "back\\slash",
                                           "\b\f\v\x01\x1f ctl", "José 李", "", "\\N", "end\\"};
  std::string line;
  for (size_t i = 0; i < values.size(); ++i) {
    if (i) line.push_back('\t');
    AppendCopyTextEscaped(values[i], &line);
  }
  line += "\t\\N";
  CopyRow row;
  ASSERT_TRUE(ParseCopyTextLine(line, &row));
  ASSERT_EQ(row.size, values.size() + 1);
  for (size_t i = 0; i < values.size(); ++i) {
    EXPECT_FALSE(row.IsNull(i)) << i;
    EXPECT_EQ(row.Get(i), values[i]) << i;
  }
  EXPECT_TRUE(row.IsNull(values.size()));
}

TEST(CopyTextTest, ParsesOctalAndHexEscapesAndReusesBuffers) {
  CopyRow row;
  ASSERT_TRUE(ParseCopyTextLine("\\101\\x42C\t\t\\N", &row));
  ASSERT_EQ(row.size, 3u);
  EXPECT_EQ(row.Get(0), "ABC");
  EXPECT_EQ(row.Get(1), "");
  EXPECT_FALSE(row.IsNull(1));
  EXPECT_TRUE(row.IsNull(2));
  // A shorter row afterwards: size shrinks, earlier fields are overwritten.
  ASSERT_TRUE(ParseCopyTextLine("x", &row));
  EXPECT_EQ(row.size, 1u);
  EXPECT_EQ(row.Get(0), "x");
  EXPECT_FALSE(row.IsNull(0));
}

TEST(CopyTextTest, TrailingBackslashIsMalformed) {
  CopyRow row;
  EXPECT_FALSE(ParseCopyTextLine("abc\\", &row));
}

}  // namespace
}  // namespace medmigrate
