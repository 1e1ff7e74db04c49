# Boot 4: back on the good USR-B.
set -u
fail=0
check() { local name=$1; shift
    if out=$("$@" 2>&1); then echo "ok   $name"; else echo "FAIL $name: $out"; fail=1; fi; }
rkt-update status
check "fell back to USR-B" grep 'USR-B .*(booted).*successful=1' <(rkt-update status)
check "USR-A left unmarked" grep 'USR-A .*successful=0' <(rkt-update status)
check "system is running" test "$(systemctl is-system-running)" = running
exit $fail
