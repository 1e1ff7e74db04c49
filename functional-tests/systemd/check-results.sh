#!/bin/bash
# Checks inside.sh's results against `expected` (its format is described there); prints one
# line per key and exits 1 when any does not match. The VM tier's checker; the container tier
# reads the same file in functional-tests/tests/systemd.rs.
#   check-results.sh RESULTS EXPECTED container|vm
set -u
results=${1:?usage: check-results.sh RESULTS EXPECTED container|vm}
expected=${2:?expected file}
tier=${3:?tier}
fail=0
while read -r key rest; do
	[[ -z $key || $key == \#* ]] && continue
	want=$rest only=""
	if [[ $rest =~ ^(.*[^[:space:]])[[:space:]]+vm$ ]]; then
		want=${BASH_REMATCH[1]} only=vm
	fi
	[ -n "$only" ] && [ "$only" != "$tier" ] && continue
	got=$(sed -n "s/^$key=//p" "$results" | tail -n1)
	ok=0
	case $want in
	'>='*) [[ $got =~ ^[0-9]+$ ]] && [ "$got" -ge "${want#>=}" ] && ok=1 ;;
	'!'*) [ -n "$got" ] && [ "$got" != "${want#!}" ] && ok=1 ;;
	*'*') [[ $got == "${want%\*}"* ]] && ok=1 ;;
	*'|'*) [[ "|$want|" == *"|$got|"* ]] && [ -n "$got" ] && ok=1 ;;
	*) [ "$got" = "$want" ] && ok=1 ;;
	esac
	if [ $ok = 1 ]; then echo "ok   $key=$got"; else echo "FAIL $key=${got:-<missing>} (want $want)"; fail=1; fi
done <"$expected"
exit $fail
