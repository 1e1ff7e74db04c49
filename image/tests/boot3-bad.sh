# Boot 3: the staged USR-A spent its only try and was not marked.
set -u
fail=0
check() { local name=$1; shift
    if out=$("$@" 2>&1); then echo "ok   $name"; else echo "FAIL $name: $out"; fail=1; fi; }
rkt-update status
check "booted USR-A, try spent, not marked" grep 'USR-A .*(booted).*tries=0 successful=0' <(rkt-update status)
check "mark-good unmasked" systemctl unmask --quiet rkt-image-good.service
exit $fail
