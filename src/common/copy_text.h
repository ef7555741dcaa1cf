// PostgreSQL's COPY text format, both ways: rows read by COPY ... TO STDOUT are
// split and unescaped here, rows for COPY ... FROM STDIN are escaped here.
// Pure; reuses the caller's buffers so a stream of rows allocates nothing once
// warm.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace medmigrate {

// One row's fields. `size` fields are valid; the vectors only grow, so their
// strings keep their capacity from row to row.
struct CopyRow {
  std::vector<std::string> values;
  std::vector<char> nulls;  // 1 where the field is NULL (\N)
  size_t size = 0;

  bool IsNull(size_t i) const { return nulls[i] != 0; }
  std::string_view Get(size_t i) const { return values[i]; }
};

// Splits `line` (one row, without its trailing newline) at tabs and unescapes
// each field (\b \f \n \r \t \v \\ \N, octal \ooo, hex \xhh). False when the
// line ends in a lone backslash.
bool ParseCopyTextLine(std::string_view line, CopyRow* row);

// Appends `value` escaped for COPY text (backslash, tab, newline, CR, and the
// other ASCII control characters PostgreSQL escapes).
void AppendCopyTextEscaped(std::string_view value, std::string* out);

}  // namespace medmigrate
