#!/bin/sh
# clonert-bench --smoke with a broken strace first in PATH, once succeeding
# with no trace and once failing with no output: each run must end with exit
# status 0, every other measurement made, and a clear line naming what was
# wrong with the tool, rather than aborting.
# Usage: bench_broken_tool.sh BENCH BROKEN_TOOLS_DIR
bench=$1 tools=$2
check() {  # STATUS EXPECTED_WORDS
  out=$(FAKE_STRACE_STATUS=$1 PATH="$tools:$PATH" "$bench" --smoke 2>&1)
  status=$?
  printf '%s\n' "$out" | grep -i strace | head -3
  if [ "$status" -ne 0 ]; then
    echo "FAILED: clonert-bench exited with $status under a strace that exits $1"
    printf '%s\n' "$out" | tail -5
    exit 1
  fi
  if ! printf '%s\n' "$out" | grep -q "$2"; then
    echo "FAILED: no line says what was wrong with a strace that exits $1"
    exit 1
  fi
}
check 0 "lacks the lifecycle markers"
check 3 "strace failed (wait status"
echo "ok: the broken strace was named and the run went on, both ways"
