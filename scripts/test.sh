#!/bin/sh
# SPDX-License-Identifier: ISC
# Builds kexwatch and runs every test: once with warnings as errors, once
# under AddressSanitizer + UndefinedBehaviorSanitizer, plus a short libFuzzer
# run of every harness. Ends with one line "N passed, N failed".
# KW_FUZZ_SECONDS (default 30) sets each fuzzer's run time.
set -u
cd "$(dirname "$0")/.."
TOP=$(pwd)
sh scripts/deps.sh --test || { echo "0 passed, 1 failed"; exit 1; }
./autogen.sh > /dev/null 2>&1 || { echo "autogen failed"; echo "0 passed, 1 failed"; exit 1; }
JOBS=$(nproc)
FUZZ_SECONDS=${KW_FUZZ_SECONDS:-30}
extra_pass=0
extra_fail=0
note() { printf '== %s\n' "$*"; }

# run_variant NAME CONFIGURE-ARGS...: configure, build and make check in build-NAME
run_variant() {
    name=$1
    shift
    dir="$TOP/build-$name"
    rm -rf "$dir"
    mkdir -p "$dir"
    note "build $name: configure $*"
    if ! (cd "$dir" && "$TOP/configure" --quiet "$@" > configure.out 2>&1); then
        cat "$dir/configure.out"
        extra_fail=$((extra_fail + 1))
        return
    fi
    if ! (cd "$dir" && make -j"$JOBS" --no-print-directory > make.out 2>&1); then
        grep -E 'error|warning' "$dir/make.out" | head -n 50
        note "build $name: FAILED"
        extra_fail=$((extra_fail + 1))
        return
    fi
    extra_pass=$((extra_pass + 1))
    note "build $name: make check"
    (cd "$dir" && make -j"$JOBS" --no-print-directory check > check.out 2>&1)
    grep -E '^(PASS|FAIL|ERROR|XPASS|SKIP):' "$dir/check.out" | grep -v '^PASS' | head -n 100
    grep -E '^# (TOTAL|PASS|FAIL|ERROR)' "$dir/check.out"
    # show the logs of failing tests, so CI output explains itself
    for trs in $(find "$dir" -name '*.trs'); do
        if grep -qE ':test-result: (FAIL|ERROR|XPASS)' "$trs"; then
            log="${trs%.trs}.log"
            note "log of failing test ${log#$dir/}"
            tail -n 60 "$log"
        fi
    done
}

run_variant werror --enable-werror
# LeakSanitizer needs ptrace, which some sandboxes forbid; leaks are still
# checked where it works (the sanitizer build reports them as failures)
ASAN_OPTIONS=${ASAN_OPTIONS:-abort_on_error=0:detect_leaks=1} \
UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1} \
    run_variant sanitize --enable-werror --enable-sanitizers

# libFuzzer: every harness for a short run on its seed corpus
if command -v clang > /dev/null 2>&1; then
    dir="$TOP/build-fuzz"
    rm -rf "$dir"
    mkdir -p "$dir"
    if (cd "$dir" && "$TOP/configure" --quiet CC=clang --enable-fuzzing --disable-unit-tests > configure.out 2>&1 &&
        make -j"$JOBS" --no-print-directory fuzzers > make.out 2>&1); then
        for f in "$dir"/tests/fuzz/fuzz_*; do
            [ -x "$f" ] || continue
            h=$(basename "$f")
            seeds="$TOP/tests/fuzz/corpus/${h#fuzz_}"
            work=$(mktemp -d)
            [ -d "$seeds" ] && cp -r "$seeds"/. "$work"/
            # fuzz_pipeline keeps session state across inputs on purpose, so
            # libFuzzer's per-input leak check would fire on every input;
            # leaks are checked by the sanitizer build's tests instead
            extra=""
            [ "$h" = fuzz_pipeline ] && extra="-detect_leaks=0"
            note "fuzz $h for ${FUZZ_SECONDS}s"
            # shellcheck disable=SC2086
            if KEXWATCH_CONFDIR="$TOP/conf" "$f" -max_total_time="$FUZZ_SECONDS" -rss_limit_mb=2048 $extra \
                -artifact_prefix="$dir/$h-" "$work" \
                > "$dir/$h.out" 2>&1; then
                extra_pass=$((extra_pass + 1))
                tail -n 2 "$dir/$h.out"
            else
                extra_fail=$((extra_fail + 1))
                tail -n 40 "$dir/$h.out"
            fi
            rm -rf "$work"
        done
    else
        tail -n 30 "$dir/configure.out" "$dir/make.out" 2>/dev/null
        extra_fail=$((extra_fail + 1))
    fi
fi

# every TAP case of every test, plus each build and fuzz run
pass=$(find "$TOP"/build-werror "$TOP"/build-sanitize -name '*.trs' -exec grep -hE ':test-result: (PASS|SKIP|XFAIL)' {} + 2>/dev/null | wc -l)
fail=$(find "$TOP"/build-werror "$TOP"/build-sanitize -name '*.trs' -exec grep -hE ':test-result: (FAIL|ERROR|XPASS)' {} + 2>/dev/null | wc -l)
pass=$((pass + extra_pass))
fail=$((fail + extra_fail))
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ] && [ "$pass" -gt 0 ]
