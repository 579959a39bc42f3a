// Per-instance temp directories for test servers, and the sweep that removes
// the ones left behind by test processes that were killed before cleaning up.
#pragma once

#include <filesystem>
#include <string_view>

namespace fractal::test {

// $FRACTAL_TEST_TMPDIR if set; else /dev/shm when it is a writable tmpfs with
// at least 1 GiB free (servers start several times faster in RAM); else
// $TMPDIR or /tmp. When running as root the Postgres server runs as user
// postgres, which must be able to enter this directory.
std::filesystem::path temp_root();

// Creates temp_root()/fractal-test-<kind>-XXXXXX (mode 0700) holding an
// `owner.pid` file with this process's pid. First removes directories of that
// naming scheme whose owner process no longer exists.
std::filesystem::path make_scratch_dir(std::string_view kind);

// Recursive removal that never throws.
void remove_tree(const std::filesystem::path& dir) noexcept;

}  // namespace fractal::test
