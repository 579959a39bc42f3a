#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace fractal::storage {

// True for the 36-character 8-4-4-4-12 hex form (either case), the only form
// the storage layer accepts from callers; anything else is "no such id".
bool is_uuid(std::string_view text) noexcept;

// The lower-case form of a valid UUID (what Postgres prints); nullopt otherwise.
std::optional<std::string> canonical_uuid(std::string_view text);

}  // namespace fractal::storage
