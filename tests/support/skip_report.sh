#!/usr/bin/env bash
# Lists the tests ctest skipped and why, from a ctest run's console output and
# its Testing/Temporary/LastTest.log (scripts/test calls it after ctest).
#   skip_report.sh CTEST_CONSOLE_LOG LAST_TEST_LOG
# The reason is the test's own words: the "SKIP: ..." line of a script test
# (exit 77), or the message after GTEST_SKIP()'s "Skipped".
set -euo pipefail
console=$1
last=$2
mapfile -t skipped < <(sed -n 's/^ *[0-9]*\/[0-9]* Test *#[0-9]*: \([^ ]*\) .*\*\*\*Skipped.*/\1/p' "$console" | sort -u)
if ((${#skipped[@]} == 0)); then
  echo "skipped tests: none"
  exit 0
fi
echo "skipped tests: ${#skipped[@]}"
for name in "${skipped[@]}"; do
  reason=$(awk -v want="$name" '
    /^[0-9]+\/[0-9]+ Testing: / { sub(/^[0-9]+\/[0-9]+ Testing: /, ""); sub(/ +# GetParam\(\) = .*/, ""); current = $0; after_skipped = 0; next }
    current != want { next }
    /^SKIP: / && reason == "" { reason = substr($0, 7) }
    after_skipped && reason == "" && NF { reason = $0 }
    /: Skipped$/ || /^Skipped$/ { after_skipped = 1; next }
    { after_skipped = 0 }
    END { print reason }' "$last")
  echo "  $name: ${reason:-(no reason printed)}"
done
