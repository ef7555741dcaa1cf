#include "ids/uuid_derivation.h"

#include <openssl/evp.h>

#include <fmt/format.h>

namespace medmigrate::ids {

namespace {

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

}  // namespace

// OpenSSL 3 looks an algorithm up under a global lock each time EVP_sha1() is
// used implicitly; fetching it once keeps worker threads from contending.
struct UuidDerivation::Context {
  EVP_MD_CTX* md = EVP_MD_CTX_new();
  EVP_MD* sha1 = EVP_MD_fetch(nullptr, "SHA1", nullptr);
  ~Context() {
    EVP_MD_CTX_free(md);
    EVP_MD_free(sha1);
  }
};

bool ParseUuid(std::string_view text, std::array<unsigned char, 16>* out) {
  if (text.size() != 36) return false;
  size_t byte = 0;
  for (size_t i = 0; i < 36;) {
    if (i == 8 || i == 13 || i == 18 || i == 23) {
      if (text[i] != '-') return false;
      ++i;
      continue;
    }
    int hi = HexValue(text[i]), lo = HexValue(text[i + 1]);
    if (hi < 0 || lo < 0) return false;
    (*out)[byte++] = static_cast<unsigned char>(hi * 16 + lo);
    i += 2;
  }
  return byte == 16;
}

Result<UuidDerivation> UuidDerivation::Create(std::string_view namespace_uuid) {
  UuidDerivation d;
  if (!ParseUuid(namespace_uuid, &d.namespace_)) {
    return Status::InvalidArgument(fmt::format(
        "uuid namespace '{}' is not a UUID (xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx)", namespace_uuid));
  }
  d.ctx_ = std::make_unique<Context>();
  if (d.ctx_->md == nullptr || d.ctx_->sha1 == nullptr) {
    return Status::Internal("cannot create a SHA-1 context (OpenSSL)");
  }
  return d;
}

UuidDerivation::UuidDerivation(UuidDerivation&&) noexcept = default;
UuidDerivation& UuidDerivation::operator=(UuidDerivation&&) noexcept = default;
UuidDerivation::~UuidDerivation() = default;

void UuidDerivation::Derive(std::string_view entity, std::string_view legacy_id, UuidText* out) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_DigestInit_ex(ctx_->md, ctx_->sha1, nullptr);
  EVP_DigestUpdate(ctx_->md, namespace_.data(), namespace_.size());
  EVP_DigestUpdate(ctx_->md, entity.data(), entity.size());
  EVP_DigestUpdate(ctx_->md, ":", 1);
  EVP_DigestUpdate(ctx_->md, legacy_id.data(), legacy_id.size());
  EVP_DigestFinal_ex(ctx_->md, digest, &len);
  digest[6] = static_cast<unsigned char>((digest[6] & 0x0f) | 0x50);  // version 5
  digest[8] = static_cast<unsigned char>((digest[8] & 0x3f) | 0x80);  // RFC 4122 variant
  static constexpr char kHex[] = "0123456789abcdef";
  size_t pos = 0;
  for (int i = 0; i < 16; ++i) {
    if (i == 4 || i == 6 || i == 8 || i == 10) (*out)[pos++] = '-';
    (*out)[pos++] = kHex[digest[i] >> 4];
    (*out)[pos++] = kHex[digest[i] & 0x0f];
  }
}

std::string UuidDerivation::Derive(std::string_view entity, std::string_view legacy_id) {
  UuidText t;
  Derive(entity, legacy_id, &t);
  return std::string(t.data(), t.size());
}

}  // namespace medmigrate::ids
