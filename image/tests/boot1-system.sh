# Boot 1 (fresh image, grown disk): the system, rkt on cgroup2, gc, rkt under systemd units, a
# refused update, then a staged update to USR-B. Runs in the guest from the 9p share (cwd).
set -u
fail=0
check() { # name, then a command that must succeed
    local name=$1; shift
    if out=$("$@" 2>&1); then echo "ok   $name"; else echo "FAIL $name: $out"; fail=1; fi
}
check "/usr is erofs" test "$(findmnt -n -o FSTYPE /usr)" = erofs
check "writing /usr fails with EROFS" bash -c '! out=$(touch /usr/probe 2>&1) && [[ $out == *"Read-only file system"* ]]'
check "system is running" test "$(systemctl is-system-running)" = running
check "no failed units" test -z "$(systemctl list-units --state=failed --no-legend --plain)"
check "pure cgroup2" test "$(stat -f -c %T /sys/fs/cgroup)" = cgroup2fs
check "ROOT grew to fill the disk" test "$(df -B1M --output=size / | tail -n1)" -gt 700
check "booted USR-A, marked good" grep 'USR-A .*(booted).*successful=1' <(rkt-update status)
rkt-update status

# rkt: a probe that allocates past its memory limit is OOM-killed; one that fits exits 0.
# stage1 puts the pod under the caller's cgroup and only uses the controllers that cgroup
# already hands to its children; on this systemd (cgroup2) host only the root cgroup does so
# while holding a process (a unit's cgroup, even with Delegate=yes, does not), so rkt runs from
# the root cgroup here.
echo $$ >/sys/fs/cgroup/cgroup.procs
rkt --insecure-options=image run --net=none --memory=32Mi ./systemd/images/oom.aci >rkt-oom.out 2>&1
check "rkt run: 32Mi limit enforced (exit 137)" test $? = 137
check "rkt run: OOM reported" grep 'OOM' rkt-oom.out
rkt --insecure-options=image run --net=none --memory=64Mi ./systemd/images/fits.aci >rkt-fits.out 2>&1
check "rkt run: 16 MiB within a 64Mi limit" test $? = 0
check "two pods listed" test "$(rkt list --no-legend | wc -l)" = 2
rkt gc --grace-period=0s >/dev/null 2>&1
check "rkt gc: no pods left" test -z "$(rkt list --no-legend)"
check "rkt gc: no pod dirs left" test -z "$(find /var/lib/rkt/pods -mindepth 2 -maxdepth 2)"
check "rkt gc: no mounts left" test -z "$(grep /var/lib/rkt /proc/self/mountinfo)"
check "rkt gc: no pod cgroups left" test -z "$(find /sys/fs/cgroup -name 'machine-rkt*')"

# systemd integration, the VM tier: the container tier's script and expectations
# (functional-tests/systemd/), on this image's own systemd with pure cgroup2, plus the unit's
# memory limits. Its pods live on ROOT, its results and logs on the share.
data=/var/lib/rkt-systemd-test
SECONDS=0
RKT_TEST_DIR=$PWD/systemd RKT_TEST_DATA=$data RKT_TEST_UNITS='' RKT_TEST_MEMORY=1 \
    timeout 600 bash ./systemd/inside.sh >systemd/inside.log 2>&1
echo "systemd checks: ${SECONDS} s"
if ! ./systemd/check-results.sh systemd/results systemd/expected vm; then
    fail=1
    for f in inside.log memory.log journal.log verify.log; do echo "--- $f"; cat "systemd/$f"; done
fi
grep -q " $data" /proc/self/mountinfo || rm -rf "$data"

# A wrong hash is refused and changes nothing.
before=$(rkt-update status)
check "wrong hash refused" bash -c '! rkt-update write ./usr.erofs 0000000000000000000000000000000000000000000000000000000000000000'
check "boot order unchanged" test "$before" = "$(rkt-update status)"

# Stage the real update into USR-B.
check "update staged" rkt-update write ./usr.erofs "$(cat usr.erofs.sha256)"
check "USR-B boots next with one try" grep 'USR-B .*priority=2 tries=1 successful=0' <(rkt-update status)
rkt-update status
exit $fail
