#!/bin/sh
# clonert-bench --smoke with a broken strace first in PATH: the run must end
# with exit status 0, every other measurement made, and a clear line naming
# what was wrong with the tool, rather than aborting.
# Usage: bench_broken_tool.sh BENCH BROKEN_TOOLS_DIR
bench=$1 tools=$2
out=$(PATH="$tools:$PATH" "$bench" --smoke 2>&1)
status=$?
printf '%s\n' "$out" | grep -i strace
if [ "$status" -ne 0 ]; then
  echo "FAILED: clonert-bench exited with $status under a broken strace"
  exit 1
fi
if ! printf '%s\n' "$out" | grep -q "lacks the lifecycle markers"; then
  echo "FAILED: no line says what was wrong with strace"
  exit 1
fi
echo "ok: the broken strace was named and the run went on"
