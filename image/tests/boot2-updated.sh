# Boot 2: the staged USR-B booted and got marked good. Then stage a bad USR-A: the same /usr,
# but the unit that marks a slot good is masked, so it never reaches "good".
set -u
fail=0
check() { local name=$1; shift
    if out=$("$@" 2>&1); then echo "ok   $name"; else echo "FAIL $name: $out"; fail=1; fi; }
rkt-update status
check "booted USR-B, marked good" grep 'USR-B .*(booted).*successful=1' <(rkt-update status)
check "system is running" test "$(systemctl is-system-running)" = running
check "bad update staged" rkt-update write ./usr.erofs "$(cat usr.erofs.sha256)"
check "mark-good masked" systemctl mask --quiet rkt-image-good.service
exit $fail
