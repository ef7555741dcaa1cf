#include "common/db_url.h"

#include <algorithm>
#include <array>
#include <cctype>
#include <mutex>
#include <vector>

#include <fmt/format.h>

namespace medmigrate {

namespace {

// Masks the value after every "password=" (keyword/value strings and URL query).
std::string MaskPasswordKeywords(std::string s) {
  static constexpr std::string_view kKey = "password=";
  size_t pos = 0;
  while ((pos = s.find(kKey, pos)) != std::string::npos) {
    size_t start = pos + kKey.size();
    size_t end = start;
    if (end < s.size() && s[end] == '\'') {
      ++end;
      while (end < s.size() && s[end] != '\'') end += (s[end] == '\\' ? 2 : 1);
      end = std::min(end + 1, s.size());
    } else {
      while (end < s.size() && s[end] != '&' && s[end] != ' ') ++end;
    }
    s.replace(start, end - start, "****");
    pos = start + 4;
  }
  return s;
}

// The registered secrets, longest first (a secret that holds another is
// masked whole).
struct SecretRegistry {
  std::mutex mu;
  std::vector<std::string> secrets;
};

SecretRegistry& Registry() {
  static SecretRegistry* registry = new SecretRegistry;  // never destroyed: used at exit
  return *registry;
}

void AddSecretForm(SecretRegistry& r, std::string form) {
  if (form.size() < kMinRegisteredSecret) return;
  if (std::find(r.secrets.begin(), r.secrets.end(), form) != r.secrets.end()) return;
  r.secrets.push_back(std::move(form));
  std::stable_sort(r.secrets.begin(), r.secrets.end(),
                   [](const std::string& a, const std::string& b) { return a.size() > b.size(); });
}

std::string MaskRegistered(std::string s) {
  SecretRegistry& r = Registry();
  std::lock_guard<std::mutex> lock(r.mu);
  for (const std::string& secret : r.secrets) {
    size_t pos = 0;
    while ((pos = s.find(secret, pos)) != std::string::npos) {
      s.replace(pos, secret.size(), "****");
      pos += 4;
    }
  }
  return s;
}

// Where a URL that starts at `scheme` ("://") ends in a text: at white space,
// a quote or a closing parenthesis, never at '/', '?', '@' or '#', which an
// unencoded password may hold.
size_t UrlEnd(std::string_view s, size_t scheme) {
  size_t end = s.find_first_of(" \t\r\n)'\"", scheme + 3);
  return end == std::string_view::npos ? s.size() : end;
}

// The span of a URL's password as a person reads it: after the first ':' of
// the userinfo, up to the URL's last '@'. {npos, 0} when there is none.
std::pair<size_t, size_t> UserinfoPassword(std::string_view s, size_t scheme) {
  const size_t start = scheme + 3;
  const size_t end = UrlEnd(s, scheme);
  const size_t at = end > start ? s.rfind('@', end - 1) : std::string_view::npos;
  if (at == std::string_view::npos || at < start) return {std::string_view::npos, 0};
  const size_t colon = s.find(':', start);
  if (colon == std::string_view::npos || colon > at) return {std::string_view::npos, 0};
  return {colon + 1, at - colon - 1};
}

}  // namespace

std::string PercentDecode(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  auto hex = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%' && i + 2 < s.size() && hex(s[i + 1]) >= 0 && hex(s[i + 2]) >= 0) {
      out.push_back(static_cast<char>(hex(s[i + 1]) * 16 + hex(s[i + 2])));
      i += 2;
    } else {
      out.push_back(s[i]);
    }
  }
  return out;
}

void RegisterSecret(std::string_view secret) {
  if (secret.empty()) return;
  SecretRegistry& r = Registry();
  std::lock_guard<std::mutex> lock(r.mu);
  AddSecretForm(r, std::string(secret));
  AddSecretForm(r, PercentEncode(secret));
  AddSecretForm(r, PercentDecode(secret));
}

void RegisterUrlSecrets(std::string_view url) {
  size_t scheme = url.find("://");
  if (scheme != std::string_view::npos) {
    auto [at, size] = UserinfoPassword(url, scheme);
    if (at != std::string_view::npos) RegisterSecret(url.substr(at, size));
  }
  static constexpr std::string_view kKey = "password=";
  for (size_t pos = url.find(kKey); pos != std::string_view::npos;
       pos = url.find(kKey, pos + 1)) {
    const size_t start = pos + kKey.size();
    size_t end = url.find_first_of("& ", start);
    if (end == std::string_view::npos) end = url.size();
    RegisterSecret(url.substr(start, end - start));
  }
}

std::string MaskUrl(std::string_view text) {
  std::string s = MaskRegistered(std::string(text));
  size_t scheme = 0;
  // Every URL in the text (a message may quote several).
  while ((scheme = s.find("://", scheme)) != std::string::npos) {
    auto [at, size] = UserinfoPassword(s, scheme);
    if (at != std::string::npos) s.replace(at, size, "****");
    scheme += 3;
  }
  return MaskPasswordKeywords(std::move(s));
}

std::string PercentEncode(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~') {
      out.push_back(static_cast<char>(c));
    } else {
      out += fmt::format("%{:02X}", c);
    }
  }
  return out;
}

Result<std::string> BuildUrl(const UrlParts& p, std::string_view what) {
  if (p.host.empty()) return Status::InvalidArgument(fmt::format("{}: the host is not set", what));
  if (p.dbname.empty()) {
    return Status::InvalidArgument(fmt::format("{}: the database name is not set", what));
  }
  if (!p.port.empty()) {
    bool digits = p.port.size() <= 5;
    for (char c : p.port) digits = digits && std::isdigit(static_cast<unsigned char>(c));
    if (!digits || std::stoi(p.port) < 1 || std::stoi(p.port) > 65535) {
      return Status::InvalidArgument(
          fmt::format("{}: port '{}' is not a number from 1 to 65535", what, p.port));
    }
  }
  std::string sslmode;
  if (!p.ssl.empty()) {
    std::string v;
    for (char c : p.ssl) v.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(c))));
    static constexpr std::array<std::string_view, 6> kModes = {
        "disable", "allow", "prefer", "require", "verify-ca", "verify-full"};
    if (v == "true" || v == "1" || v == "yes" || v == "on") {
      sslmode = "require";
    } else if (v == "false" || v == "0" || v == "no" || v == "off") {
      sslmode = "disable";
    } else {
      for (std::string_view m : kModes) {
        if (v == m) sslmode = v;
      }
      if (sslmode.empty()) {
        return Status::InvalidArgument(fmt::format(
            "{}: SSL setting '{}' is not understood: use true, false or an sslmode "
            "(disable, allow, prefer, require, verify-ca, verify-full)",
            what, p.ssl));
      }
    }
  }
  std::string url = "postgres://";
  if (!p.user.empty()) {
    url += PercentEncode(p.user);
    if (!p.password.empty()) url += ":" + PercentEncode(p.password);
    url += "@";
  }
  bool ipv6 = p.host.find(':') != std::string::npos;
  url += ipv6 ? "[" + p.host + "]" : p.host;
  if (!p.port.empty()) url += ":" + p.port;
  url += "/" + PercentEncode(p.dbname);
  if (!sslmode.empty()) url += "?sslmode=" + sslmode;
  return url;
}

}  // namespace medmigrate
