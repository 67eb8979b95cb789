// Hash mixing shared by the world's tables (entity, string and set lookups) and its indexes.
#pragma once

#include <cstdint>

namespace treaty::detail {

/// The 32-bit slot hash of a 64-bit hash (the finalizer of MurmurHash3).
inline std::uint32_t mix32(std::uint64_t h) {
  h ^= h >> 33;
  h *= 0xff51afd7ed558ccdull;
  h ^= h >> 33;
  return static_cast<std::uint32_t>(h);
}

}  // namespace treaty::detail
