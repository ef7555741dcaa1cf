// Derives a target row's UUID from (entity, legacy id), so foreign keys are
// remapped without a lookup and re-runs give the same ids (DESIGN principle 2):
// id = UUIDv5(namespace, "<entity>:<legacy id>") as RFC 4122 defines it.
//
// Threads: one UuidDerivation per thread (it reuses a hashing context).
#pragma once

#include <array>
#include <memory>
#include <string>
#include <string_view>

#include "common/status.h"

namespace medmigrate::ids {

// 36 characters, lower-case, "xxxxxxxx-xxxx-5xxx-yxxx-xxxxxxxxxxxx".
using UuidText = std::array<char, 36>;

class UuidDerivation {
 public:
  // `namespace_uuid` in the canonical text form; InvalidArgument otherwise.
  static Result<UuidDerivation> Create(std::string_view namespace_uuid);

  UuidDerivation(UuidDerivation&&) noexcept;
  UuidDerivation& operator=(UuidDerivation&&) noexcept;
  ~UuidDerivation();

  // UUIDv5 of "<entity>:<legacy_id>", written into `*out` without allocating.
  void Derive(std::string_view entity, std::string_view legacy_id, UuidText* out);
  std::string Derive(std::string_view entity, std::string_view legacy_id);

 private:
  UuidDerivation() = default;
  struct Context;
  std::array<unsigned char, 16> namespace_{};
  std::unique_ptr<Context> ctx_;
};

// Parses the canonical text form (hyphens at 8, 13, 18, 23; hex digits in any case).
bool ParseUuid(std::string_view text, std::array<unsigned char, 16>* out);

}  // namespace medmigrate::ids
