#!/bin/sh
# fuzz/run.sh SECONDS OUTDIR SRCDIR TARGET... - what "make fuzz" runs.
#
# Each libFuzzer target runs for SECONDS over a copy of SRCDIR/fuzz/corpus/NAME
# in OUTDIR/NAME/corpus (the repository's corpus is never written), with its
# log in OUTDIR/NAME/log and any input that crashed, leaked or hung (libFuzzer's
# -timeout) in OUTDIR/NAME/crashes/.  One line per target, PASS or FAIL; the
# exit status is 1 if any target failed.  $FUZZ_FLAGS goes to libFuzzer, and so
# does SRCDIR/fuzz/fuzz_NAME.dict (-dict) when there is one.
set -u
secs=$1 out=$2 src=$3
shift 3
fail=0
for t in "$@"; do
	name=$(basename "$t")
	name=${name#fuzz_}
	dir=$out/$name
	rm -rf "$dir/corpus"
	mkdir -p "$dir/corpus" "$dir/crashes"
	cp -R "$src/fuzz/corpus/$name/." "$dir/corpus/"
	dict=
	[ ! -f "$src/fuzz/fuzz_$name.dict" ] || dict=-dict=$src/fuzz/fuzz_$name.dict
	# One process (no -jobs, which would also move the log into ./fuzz-0.log).
	# An input that takes seconds is a hang: a real lookup takes microseconds.
	# shellcheck disable=SC2086
	"./$t" -max_total_time="$secs" -timeout="${FUZZ_TIMEOUT:-5}" -rss_limit_mb=2048 \
		-print_final_stats=1 -artifact_prefix="$dir/crashes/" $dict ${FUZZ_FLAGS:-} "$dir/corpus" >"$dir/log" 2>&1
	rc=$?
	runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$dir/log")
	speed=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$dir/log")
	cov=$(grep -o 'cov: [0-9]* ft: [0-9]* corp: [0-9]*/[0-9a-zA-Z]*' "$dir/log" | tail -n 1)
	if [ "$rc" = 0 ]; then
		echo "PASS: fuzz_$name: ${runs:-?} runs, ${speed:-?}/s, $cov"
	else
		fail=1
		tail -n 40 "$dir/log"
		echo "FAIL: fuzz_$name: exit $rc; input(s) in $dir/crashes/, log $dir/log"
	fi
done
exit $fail
