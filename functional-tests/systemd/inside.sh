#!/bin/bash
# Drives `rkt run` under a real systemd and writes KEY=value results for a test to assert on:
# in the systemd container booted by functional-tests/tests/systemd.rs (the container tier), and
# in the host image under qemu (image/tests/boot1-system.sh, the VM tier). Every step has its own
# timeout; whoever runs this powers the system off afterwards whatever happens.
# Environment (the container's defaults in brackets):
#   RKT_TEST_DIR    [/rkt-test] results, logs, and the test images in images/
#   RKT_TEST_DATA   [$RKT_TEST_DIR/data] rkt's --dir (on a local file system)
#   RKT_TEST_UNITS  [/rkt-units] the shipped units to install first; empty: already installed
#   RKT_TEST_MEMORY [0] 1: also the unit's memory limits (images oom.aci and fits.aci)
set -u
T=${RKT_TEST_DIR:-/rkt-test}
R=$T/results
: >"$R"
say() { echo "$1=$2" >>"$R"; }
RKT="/usr/bin/rkt --dir=${RKT_TEST_DATA:-$T/data} --insecure-options=image"
IMG=$T/images
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

# 1b. journald looks a line's unit up lazily, from the pid that wrote it: paused until the app
# has exited, it finds no cgroup for that pid and must take the unit stage1 named in the stream's
# header instead.
data=${RKT_TEST_DATA:-$T/data}
uuid=$T/late.uuid
rm -f "$uuid"
systemctl kill --signal=SIGSTOP systemd-journald
systemd-run --quiet --no-block --unit=rkt-late -p KillMode=mixed \
	$RKT run --uuid-file-save="$uuid" --net=host $IMG/exit.aci
# The app's exit code, as stage1 publishes it in the pod (rkt status is slower to ask).
exited=0
for _ in $(seq 1200); do
	[ -s "$uuid" ] && [ -f "$data/pods/run/$(cat "$uuid")/stage1/rootfs/rkt/status/exit" ] &&
		exited=1 && break
	sleep 0.05
done
say LATE_APP_EXITED $exited
systemctl kill --signal=SIGCONT systemd-journald
say LATE_AFTER "$(wait_state rkt-late '^(inactive|failed)$' 30)"
journalctl --sync 2>/dev/null
say LATE_JOURNAL_U "$(journal -u rkt-late | grep -c hello-journal)"

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
units=${RKT_TEST_UNITS-/rkt-units}
if [ -n "$units" ]; then
	cp "$units"/* /etc/systemd/system/ && systemctl daemon-reload
fi
timeout 30 systemd-analyze verify "$(systemctl show -p FragmentPath --value rkt-gc.timer)" \
	"$(systemctl show -p FragmentPath --value rkt-metadata.socket)" >"$T/verify.log" 2>&1
say VERIFY_RC $?
systemctl start rkt-gc.timer
say GC_TIMER "$(systemctl is-active rkt-gc.timer)"
say GC_LISTED "$(systemctl list-timers --all --no-legend | grep -c rkt-gc.timer)"
systemctl start rkt-metadata.socket
say METADATA_SOCKET "$(systemctl is-active rkt-metadata.socket)"

# 5. The unit's memory limit holds for the pod: set on the unit (MemoryMax=), or handed to rkt
# with the controller delegated (Delegate=yes, --memory). 137: the app was OOM-killed.
# OOMPolicy=continue: stage1 reports an app's OOM kill itself (the pod's exit status); with
# systemd's default (stop) the unit ends as "oom-kill" and `systemd-run --wait` returns 1.
if [ "${RKT_TEST_MEMORY:-0}" = 1 ]; then
	mem() { # KEY IMAGE systemd-run-properties... -- rkt-run-flags...
		local key=$1 img=$2 props=()
		shift 2
		while [ "$1" != -- ]; do props+=("$1"); shift; done
		shift
		timeout 120 systemd-run --wait --quiet --unit="rkt-mem-${key,,}" "${props[@]}" \
			$RKT run --net=none "$@" "$IMG/$img.aci" >/dev/null 2>&1
		say "$key" $?
	}
	mem MEM_MAX_OOM oom -p MemoryMax=64M -p OOMPolicy=continue --
	mem MEM_MAX_FITS fits -p MemoryMax=64M -p OOMPolicy=continue --
	mem MEM_DELEGATE_OOM oom -p Delegate=yes -- --memory=32M
	mem MEM_DELEGATE_FITS fits -p Delegate=yes -- --memory=32M
	for u in rkt-mem-mem_max_oom rkt-mem-mem_delegate_oom; do journal -u $u; done >"$T/memory.log"
fi

timeout 60 $RKT gc --grace-period=0s >/dev/null 2>&1
say PODS_LEFT "$($RKT list --no-legend 2>/dev/null | wc -l)"
# Every unit's journal, for the test's failure report.
for u in rkt-exit rkt-late rkt-plain rkt-notify; do
	echo "--- journalctl -u $u"
	journal -o short-monotonic -u "$u"
done >"$T/journal.log"
echo "--- journalctl -t exit"
journal -o verbose -t exit --output-fields=MESSAGE,_PID,_COMM,_SYSTEMD_UNIT >>"$T/journal.log"
say DONE 1
