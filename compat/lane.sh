#!/usr/bin/env bash
# One lane of `make compat`: the built wheel in a fresh venv synced from compat/LANE.lock, then
# the unit tests of this checkout against the installed wheel, then the demo from an empty folder.
# Usage: compat/lane.sh LANE PYTHON UV   (e.g. tfx-1.15 python3.10 ".venv/bin/python -m uv")
# COMPAT_TESTS: the test files or folders to run (default: all of tests/ but the e2e runs).
# Writes build/compat/LANE.txt: the versions, each step's result and, on failure, the error.
set -uo pipefail
lane=$1 py=$2 uv=$3
cd "$(dirname "$0")/.."
repo=$(pwd)
wheel=$(ls -t dist/nanguard-*.whl 2>/dev/null | head -1)
[ -n "$wheel" ] || { echo "compat: no wheel in dist/ (run make compat)"; exit 2; }
[ -f "compat/$lane.lock" ] || { echo "compat: no compat/$lane.lock (make compat-lock LANE=$lane)"; exit 2; }
venv=$repo/build/compat/$lane
out=$repo/build/compat/$lane.txt
work=$(mktemp -d -t "nanguard-compat-$lane-XXXX")
mkdir -p build/compat && : >"$out"
say() { echo "$*" | tee -a "$out"; }
step() {  # step NAME CMD...: runs CMD, records pass/fail and the last lines of a failure
  local name=$1; shift
  local log="$work/$name.log" start=$SECONDS
  if "$@" >"$log" 2>&1; then
    say "PASS $name ($((SECONDS - start)) s): $(tail -1 "$log")"
  else
    say "FAIL $name ($((SECONDS - start)) s), last lines of $log:"
    tail -15 "$log" | sed 's/^/    /' | tee -a "$out"
    failed=1
  fi
}
failed=0

say "lane $lane: $(basename "$wheel"), $($py --version)"
rm -rf "$venv" && $py -m venv "$venv"
step install $uv pip sync -q --compile-bytecode -p "$venv/bin/python" "compat/$lane.lock"
# The wheel with its declared requirements: the lane's lock must already satisfy them.
step wheel $uv pip install -p "$venv/bin/python" "nanguard[kfp] @ file://$repo/$wheel"
step check $uv pip check -p "$venv/bin/python"
say "versions: $($uv pip freeze -p "$venv/bin/python" 2>/dev/null | grep -iE '^(tfx|tensorflow|tf-keras|tensorflow-data-validation|tensorflow-transform|tensorflow-model-analysis|apache-beam|kfp)==' | tr '\n' ' ')"
# From an empty folder: the installed package, no file of this checkout beside it.
mkdir -p "$work/empty" && cd "$work/empty"
step version "$venv/bin/nanguard" --version
step import "$venv/bin/python" -c "import nanguard.components as c; assert c.__file__.startswith('$venv'), c.__file__; print(c.__file__)"
step demo "$venv/bin/nanguard" run --root "$work/empty/runs"
# The unit tests of this checkout, importing nanguard from the lane's venv.
cd "$repo"
step unit "$venv/bin/python" -m pytest -x -q -p no:cacheprovider -m "not e2e" ${COMPAT_TESTS:-tests}
say "lane $lane: $([ $failed = 0 ] && echo PASSED || echo FAILED); logs in $work"
exit $failed
