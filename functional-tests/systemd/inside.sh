#!/bin/bash
# Runs inside the systemd container booted by functional-tests/tests/systemd.rs: drives `rkt run`
# under the container's own systemd and writes KEY=value results to /rkt-test/results for the
# test to assert on. Every step has its own timeout; the unit that runs this powers the
# container off afterwards whatever happens.
set -u
R=/rkt-test/results
: >"$R"
say() { echo "$1=$2" >>"$R"; }
RKT="/usr/bin/rkt --dir=/rkt-test/data --insecure-options=image"
IMG=/rkt-test/images
journal() { journalctl --no-pager -o cat "$@" 2>/dev/null; }
# wait_state UNIT REGEX SECONDS: the unit's state once it matches (or the last one seen).
wait_state() {
	local s
	for _ in $(seq $(($3 * 10))); do
		s=$(systemctl is-active "$1")
		[[ $s =~ $2 ]] && break
		sleep 0.1
	done
	echo "$s"
}

say BOOT "$(timeout 60 systemctl is-system-running --wait)"

# 1. The unit's exit status is the pod's; the app logs to the unit's journal under its name.
timeout 90 systemd-run --wait --quiet --unit=rkt-exit -p KillMode=mixed $RKT run --net=host $IMG/exit.aci
say EXIT_RC $?
say EXIT_MAIN_STATUS "$(systemctl show -p ExecMainStatus --value rkt-exit)"
journalctl --sync 2>/dev/null
say EXIT_JOURNAL_U "$(journal -u rkt-exit | grep -c hello-journal)"
say EXIT_JOURNAL_T "$(journal -t exit | grep -c hello-journal)"
say EXIT_APP_CGROUP "$(journal -t exit | grep '^CGROUP=' | grep -c 'rkt-exit.service')"

# 2. No notify app: stage1's own READY=1; the pod is in the unit's cgroup and in machined.
start=$(date +%s%N)
timeout 60 systemd-run --quiet --unit=rkt-plain --service-type=notify -p KillMode=mixed \
	-p TimeoutStartSec=40 $RKT run --net=host $IMG/plain.aci
say PLAIN_RUN_RC $?
say PLAIN_READY_MS $((($(date +%s%N) - start) / 1000000))
say PLAIN_STATE "$(systemctl is-active rkt-plain)"
# The app's host pid, by its command line (the minimal rootfs has no pgrep).
pid=""
for c in /proc/[0-9]*/cmdline; do
	if [ "$(tr '\0' ' ' <"$c" 2>/dev/null)" = "/inspect --log-sigterm --sleep=120 " ]; then
		pid=${c#/proc/}
		pid=${pid%/cmdline}
		break
	fi
done
say PLAIN_APP_PID "${pid:-none}"
say PLAIN_APP_CGROUP "$(grep -c 'rkt-plain.service' "/proc/${pid:-0}/cgroup" 2>/dev/null)"
machine=""
for _ in $(seq 50); do
	machine=$(machinectl list --no-legend 2>/dev/null | awk '$1 ~ /^rkt-/ {print $1; exit}')
	[ -n "$machine" ] && break
	sleep 0.1
done
say MACHINE "$machine"
timeout 30 machinectl terminate "$machine"
say TERMINATE_RC $?
say PLAIN_AFTER "$(wait_state rkt-plain '^(inactive|failed)$' 30)"
journalctl --sync 2>/dev/null
say PLAIN_SIGTERM "$(journal -t plain | grep -c SIGNAL=SIGTERM)"
say MACHINES_LEFT "$(machinectl list --no-legend 2>/dev/null | grep -c '^rkt-')"

# 3. A notify app: the unit is active only after the app's READY=1, which comes 2.5 s late.
start=$(date +%s%N)
systemd-run --quiet --no-block --unit=rkt-notify --service-type=notify -p KillMode=mixed \
	-p TimeoutStartSec=40 $RKT run --net=host $IMG/notify.aci
sleep 1
say NOTIFY_EARLY "$(systemctl is-active rkt-notify)"
say NOTIFY_LATE "$(wait_state rkt-notify '^(active|failed|inactive)$' 40)"
say NOTIFY_ACTIVE_MS $((($(date +%s%N) - start) / 1000000))
say NOTIFY_STATUS "$(systemctl show -p StatusText --value rkt-notify)"
journalctl --sync 2>/dev/null
say NOTIFY_APP_SOCKET "$(journal -t notify | grep '^NOTIFY_SOCKET=' | head -n1 | cut -d= -f2)"
say NOTIFY_SENT "$(journal -t notify | grep -c NOTIFIED=1)"
timeout 40 systemctl stop rkt-notify
say STOP_RC $?
say NOTIFY_AFTER "$(systemctl is-active rkt-notify)"
journalctl --sync 2>/dev/null
say NOTIFY_SIGTERM "$(journal -t notify | grep -c SIGNAL=SIGTERM)"

# 4. The shipped units load.
cp /rkt-units/* /etc/systemd/system/ && systemctl daemon-reload
timeout 30 systemd-analyze verify /etc/systemd/system/rkt-gc.timer \
	/etc/systemd/system/rkt-metadata.socket >/rkt-test/verify.log 2>&1
say VERIFY_RC $?
systemctl start rkt-gc.timer
say GC_TIMER "$(systemctl is-active rkt-gc.timer)"
say GC_LISTED "$(systemctl list-timers --all --no-legend | grep -c rkt-gc.timer)"
systemctl start rkt-metadata.socket
say METADATA_SOCKET "$(systemctl is-active rkt-metadata.socket)"

timeout 60 $RKT gc --grace-period=0s >/dev/null 2>&1
say PODS_LEFT "$($RKT list --no-legend 2>/dev/null | wc -l)"
# Every unit's journal, for the test's failure report.
for u in rkt-exit rkt-plain rkt-notify; do
	echo "--- journalctl -u $u"
	journal -o short-monotonic -u "$u"
done >/rkt-test/journal.log
say DONE 1
