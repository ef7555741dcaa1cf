#include "dedup/text_normalize.h"

#include <array>

namespace medmigrate::dedup {

namespace {

// ASCII base letter of U+00C0..U+00FF ('_' for none: x, division sign).
constexpr std::string_view kLatin1 =
    "aaaaaaaceeeeiiiidnooooo_ouuuuyts"
    "aaaaaaaceeeeiiiidnooooo_ouuuuyty";
// U+0100..U+017F (Latin Extended-A).
constexpr std::string_view kLatinExtA =
    "aaaaaacccccccc"
    "dddd"
    "eeeeeeeeee"
    "gggggggg"
    "hhhh"
    "iiiiiiiiii"
    "ii"
    "jj"
    "kkk"
    "llllllllll"
    "nnnnnnnnn"
    "oooooooo"
    "rrrrrr"
    "ssssssss"
    "tttttt"
    "uuuuuuuuuuuu"
    "ww"
    "yyy"
    "zzzzzz"
    "s";
static_assert(kLatinExtA.size() == 128);

// U+1EA0..U+1EF9 (Vietnamese): runs of a, e, i, o, u, y.
char VietnameseBase(uint32_t cp) {
  if (cp < 0x1EB8) return 'a';
  if (cp < 0x1EC8) return 'e';
  if (cp < 0x1ECC) return 'i';
  if (cp < 0x1EE4) return 'o';
  if (cp < 0x1EF2) return 'u';
  return 'y';
}

// Decodes one UTF-8 sequence at s[i]; returns its length (1 for a stray byte).
size_t Decode(std::string_view s, size_t i, uint32_t* cp) {
  const auto b = static_cast<unsigned char>(s[i]);
  size_t len = 1;
  uint32_t c = b;
  if (b >= 0xF0) {
    len = 4;
    c = b & 0x07;
  } else if (b >= 0xE0) {
    len = 3;
    c = b & 0x0F;
  } else if (b >= 0xC0) {
    len = 2;
    c = b & 0x1F;
  }
  if (len == 1 || i + len > s.size()) {
    *cp = b;
    return 1;
  }
  for (size_t k = 1; k < len; ++k) c = (c << 6) | (static_cast<unsigned char>(s[i + k]) & 0x3F);
  *cp = c;
  return len;
}

char Lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c | 0x20) : c; }

}  // namespace

std::string NormalizeName(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size();) {
    uint32_t cp = 0;
    const size_t len = Decode(text, i, &cp);
    if (cp < 0x80) {
      const char c = Lower(static_cast<char>(cp));
      if (c >= 'a' && c <= 'z') out.push_back(c);
    } else if (cp >= 0xC0 && cp <= 0xFF) {
      const char c = kLatin1[cp - 0xC0];
      if (c != '_') out.push_back(c);
      if (cp == 0xDF) out.push_back('s');  // ß -> ss
    } else if (cp >= 0x100 && cp <= 0x17F) {
      out.push_back(kLatinExtA[cp - 0x100]);
    } else if (cp >= 0x1EA0 && cp <= 0x1EF9) {
      out.push_back(VietnameseBase(cp));
    } else if (cp >= 0x80) {
      out.append(text.substr(i, len));
    }
    i += len;
  }
  return out;
}

std::string NormalizeText(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  bool space = false;
  for (char ch : text) {
    if (ch == ' ' || ch == '\t' || ch == '\n' || ch == '\r') {
      space = !out.empty();
      continue;
    }
    if (space) out.push_back(' ');
    space = false;
    out.push_back(Lower(ch));
  }
  return out;
}

std::string NormalizeCode(std::string_view text) {
  std::string out;
  for (char ch : text) {
    const char c = Lower(ch);
    if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9')) out.push_back(c);
  }
  return out;
}

uint32_t Soundex(std::string_view s) {
  if (s.empty()) return 0;
  if (s[0] < 'a' || s[0] > 'z') return static_cast<uint32_t>(Fnv1a(s)) | 1u;
  //                                      abcdefghijklmnopqrstuvwxyz
  static constexpr std::string_view kCode = "01230120022455012623010202";
  uint32_t digits = 0;
  int n = 0;
  char last = kCode[static_cast<size_t>(s[0] - 'a')];
  for (size_t i = 1; i < s.size() && n < 3; ++i) {
    const char ch = s[i];
    if (ch < 'a' || ch > 'z') continue;
    const char code = kCode[static_cast<size_t>(ch - 'a')];
    if (ch == 'h' || ch == 'w') continue;  // h and w do not separate equal codes
    if (code != '0' && code != last) {
      digits = digits * 10 + static_cast<uint32_t>(code - '0');
      ++n;
    }
    last = code;
  }
  for (; n < 3; ++n) digits *= 10;
  return (static_cast<uint32_t>(s[0]) << 24) | digits;
}

uint64_t Fnv1a(std::string_view s, uint64_t h) {
  for (char c : s) {
    h ^= static_cast<unsigned char>(c);
    h *= 1099511628211ull;
  }
  return h;
}

}  // namespace medmigrate::dedup
