#include "common/copy_text.h"

namespace medmigrate {

namespace {

int Hex(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

}  // namespace

bool ParseCopyTextLine(std::string_view line, CopyRow* row) {
  size_t field = 0;
  size_t i = 0;
  const size_t n = line.size();
  while (true) {
    if (row->values.size() <= field) {
      row->values.emplace_back();
      row->nulls.push_back(0);
    }
    std::string& out = row->values[field];
    out.clear();
    row->nulls[field] = 0;
    if (i + 1 < n + 1 && line.substr(i, 2) == "\\N" && (i + 2 == n || line[i + 2] == '\t')) {
      row->nulls[field] = 1;
      i += 2;
    } else {
      while (i < n && line[i] != '\t') {
        char c = line[i];
        if (c != '\\') {
          // Copy the run up to the next special character in one go.
          size_t j = i;
          while (j < n && line[j] != '\t' && line[j] != '\\') ++j;
          out.append(line.data() + i, j - i);
          i = j;
          continue;
        }
        if (i + 1 >= n) return false;
        char e = line[i + 1];
        i += 2;
        switch (e) {
          case 'b': out.push_back('\b'); break;
          case 'f': out.push_back('\f'); break;
          case 'n': out.push_back('\n'); break;
          case 'r': out.push_back('\r'); break;
          case 't': out.push_back('\t'); break;
          case 'v': out.push_back('\v'); break;
          case 'x': {
            int v = 0, digits = 0;
            while (digits < 2 && i < n && Hex(line[i]) >= 0) v = v * 16 + Hex(line[i++]), ++digits;
            if (digits == 0) {
              out.push_back('x');
            } else {
              out.push_back(static_cast<char>(v));
            }
            break;
          }
          default:
            if (e >= '0' && e <= '7') {
              int v = e - '0', digits = 1;
              while (digits < 3 && i < n && line[i] >= '0' && line[i] <= '7') {
                v = v * 8 + (line[i++] - '0');
                ++digits;
              }
              out.push_back(static_cast<char>(v));
            } else {
              out.push_back(e);  // \\ and any other escaped character stand for themselves
            }
        }
      }
    }
    ++field;
    if (i >= n) break;
    ++i;  // the tab
  }
  row->size = field;
  return true;
}

void AppendCopyTextEscaped(std::string_view value, std::string* out) {
  size_t i = 0;
  const size_t n = value.size();
  while (i < n) {
    size_t j = i;
    while (j < n && static_cast<unsigned char>(value[j]) >= 0x20 && value[j] != '\\' &&
           value[j] != 0x7f) {
      ++j;
    }
    out->append(value.data() + i, j - i);
    if (j >= n) break;
    char c = value[j];
    switch (c) {
      case '\\': out->append("\\\\"); break;
      case '\t': out->append("\\t"); break;
      case '\n': out->append("\\n"); break;
      case '\r': out->append("\\r"); break;
      case '\b': out->append("\\b"); break;
      case '\f': out->append("\\f"); break;
      case '\v': out->append("\\v"); break;
      default: out->push_back(c);  // other control characters travel as they are
    }
    i = j + 1;
  }
}

}  // namespace medmigrate
