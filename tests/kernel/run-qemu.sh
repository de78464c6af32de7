#!/bin/sh
# Boot one kernel under QEMU/TCG with a test initramfs and judge the result.
# Usage: run-qemu.sh ENVFILE INITRAMFS LOG [EMUD_CMD...]
#   EMUD_CMD: the card peer (hc-emud serving ivshmem-doorbell on $HC_KT_SOCK); when given, the
#   guest gets an ivshmem-doorbell device on that socket. The guest always also gets a plain
#   ivshmem device without the HC signature, which the driver must leave alone.
# Environment: HC_KT_TIMEOUT (seconds, default 180), HC_KT_SOCK, HC_KT_VECTORS (default 4),
#   HC_KT_APPEND (extra kernel command line), HC_KT_SHM_MB (card memory, default 16),
#   HC_KT_QEMU_EXTRA (more QEMU arguments, e.g. further cards whose peers the caller runs).
# Exit status 0 only when QEMU exited through isa-debug-exit with the PASS code, the console has
# the PASS marker, and no oops/WARNING/BUG/hung task appears in it. The console is kept in LOG.
set -u
envfile=$1 initrd=$2 log=$3
shift 3
. "$envfile"
timeout_s=${HC_KT_TIMEOUT:-180}
sock=${HC_KT_SOCK:-$(dirname "$log")/ivshmem.sock}
vectors=${HC_KT_VECTORS:-4}
plain=$(dirname "$log")/plain.shm
# The guest's RAM in a file shared with the card peer (tmpfs: it is RAM), as a PCIe card
# reaches host RAM: hc-emud --guest-ram maps it and writes completions there by
# guest-physical address (no vIOMMU; all of it below the PCI hole with -M pc).
ram_mb=768
ram=${HC_KT_RAM_DIR:-/dev/shm}/hc-kt-guest-ram.$$
emud_pid=
cleanup() {
	[ -n "$emud_pid" ] && kill "$emud_pid" 2>/dev/null && wait "$emud_pid" 2>/dev/null
	rm -f "$plain" "$ram"
}
trap cleanup EXIT INT TERM

# A 1 MiB zero-filled memory backend: an ivshmem device that is not an HC card.
head -c 1048576 /dev/zero >"$plain"
truncate -s ${ram_mb}M "$ram" || exit 1
card=
if [ $# -gt 0 ]; then
	set -- "$@" --guest-ram "$ram"
	rm -f "$sock"
	"$@" >"$log.emud" 2>&1 &
	emud_pid=$!
	# QEMU needs the server listening before it starts.
	i=0
	while [ ! -S "$sock" ]; do
		i=$((i + 1))
		if [ $i -gt 100 ] || ! kill -0 "$emud_pid" 2>/dev/null; then
			echo "run-qemu: card peer did not create $sock; its output:" >&2
			cat "$log.emud" >&2
			exit 1
		fi
		sleep 0.1
	done
	# Behind a PCI bridge, so the function has a reset method (a secondary bus reset: ivshmem
	# has no FLR, and a device on the root bus none at all) that t_87_pci_reset exercises.
	card="-device pci-bridge,id=hcbr,chassis_nr=1 -chardev socket,path=$sock,id=hccard"
	card="$card -device ivshmem-doorbell,chardev=hccard,vectors=$vectors,bus=hcbr,addr=0x1"
fi

# Memory errors poison and panic instead of passing silently: SLUB red zones, poisoning and
# sanity checks (slub_debug=FZPU), freed memory zeroed (init_on_free=1: a use after free reads
# NULL pointers and oopses), and any WARN is a panic (panic_on_warn=1). HC_KT_HARDENING=0
# boots without them.
hardening=
[ "${HC_KT_HARDENING:-1}" = 1 ] && hardening="slub_debug=FZPU init_on_free=1 panic_on_warn=1"

start=$(date +%s.%N)
# Two vCPUs on ONE host thread (thread=single): with multi-threaded TCG, a vCPU can run a
# stale translation of kernel text that another vCPU has just patched (static keys go
# int3 -> new bytes -> int3 removed); the stale int3 traps after the patch is done, and
# the guest dies with "Oops: int3" (seen once in ~50 boots, at 1.3 s, in hrtimer code). One host
# thread invalidates the translation before the other vCPU runs again; the guest still sees
# two CPUs and interleaves them, and the cost is small on a 2-core host.
# shellcheck disable=SC2086
timeout --kill-after=5 "$timeout_s" qemu-system-x86_64 -M pc,memory-backend=guestram \
	-accel tcg,thread=single -cpu max -m ${ram_mb}M -smp 2 \
	-object memory-backend-file,id=guestram,size=${ram_mb}M,share=on,mem-path="$ram" \
	-nographic -no-reboot -nodefaults -serial stdio \
	-device isa-debug-exit,iobase=0xf4,iosize=0x04 \
	-object memory-backend-file,id=plainmem,size=1M,share=on,mem-path="$plain" \
	-device ivshmem-plain,memdev=plainmem \
	$card ${HC_KT_QEMU_EXTRA:-} \
	-kernel "$VMLINUX" -initrd "$initrd" \
	-append "console=ttyS0 rdinit=/init panic=-1 loglevel=4 sysctl.kernel.hung_task_timeout_secs=20 $hardening ${HC_KT_APPEND:-}" \
	</dev/null >"$log" 2>&1
rc=$?
end=$(date +%s.%N)
secs=$(echo "$end - $start" | bc)

fail=
[ $rc = 124 ] || [ $rc = 137 ] && fail="timed out after ${timeout_s}s"
[ -z "$fail" ] && [ $rc != 33 ] && fail="QEMU exit status $rc (33 = pass)"
grep -q '^HC-KTEST-RESULT: PASS' "$log" || fail="${fail:+$fail; }no PASS marker"
bad=$(grep -nE 'Oops|BUG:|WARNING:|Call Trace|RIP:|blocked for more than|general protection|Unable to handle|kernel panic|Kernel panic|UBSAN|KASAN|refcount_t:|list_(add|del) corruption|possible circular locking' "$log" | head -n 5)
[ -n "$bad" ] && fail="${fail:+$fail; }kernel trouble in console:
$bad"
# What ran and how long: each guest test's time (init.sh), each libhc Check test's (hc_test.h).
name=$(basename "$log" .log)
times=$(tr -d '\r' <"$log" | sed -n 's/^hc-ktest: \(PASS\|SKIP\|FAIL\) \([^ ]*\) (\(exit [0-9]*, \)\{0,1\}\([0-9.]*\) s)$/\4 s \2/p; s/^TIME \([^ ]*\) \([0-9.]*\) s of \([0-9]*\) s$/\2 s \1 (Check bound \3 s)/p' |
	sort -g -r | head -n 3 | tr '\n' ';' | sed 's/;$//; s/;/; /g')
if [ -n "$fail" ]; then
	echo "run-qemu: $KVER: $name: FAIL: $fail (log: $log, ${secs%.*} s of ${timeout_s} s)" >&2
	if [ $rc = 124 ] || [ $rc = 137 ]; then
		# name what was running when the bound expired
		echo "run-qemu: running then: $(grep -E '^hc-ktest: RUN' "$log" | tail -n 1)" \
			"$(grep -aE '^RUN  ' "$log" | tail -n 1)" >&2
	fi
	grep -E '^hc-ktest: FAIL' "$log" >&2
	exit 1
fi
echo "run-qemu: $KVER: $name: PASS (${secs%.*} s of its ${timeout_s} s bound; slowest: $times)"
exit 0
