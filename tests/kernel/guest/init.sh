#!/bin/busybox sh
# Guest /init for the QEMU driver tests: mount the pseudo filesystems, load the DRM modules and
# hc_accel.ko, run every test in /tests, print the result marker the host looks for, and leave
# QEMU through isa-debug-exit (port 0xf4). The kernel does not mount devtmpfs by itself.
/bin/busybox --install -s /bin
export PATH=/bin:/sbin:/tests
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mount -t debugfs debugfs /sys/kernel/debug
mount -t tmpfs tmpfs /tmp
echo 1 > /proc/sys/kernel/printk_ratelimit 2>/dev/null

finish() {
	# $1: 0 = pass. isa-debug-exit makes QEMU exit with (value << 1) | 1: 0x10 -> 33, 0x11 -> 35.
	if [ "$1" = 0 ]; then
		echo "HC-KTEST-RESULT: PASS"
		printf '\020' | dd of=/dev/port bs=1 seek=244 count=1 2>/dev/null
	else
		echo "HC-KTEST-RESULT: FAIL ($1)"
		printf '\021' | dd of=/dev/port bs=1 seek=244 count=1 2>/dev/null
	fi
	poweroff -f
}

echo "hc-ktest: booted $(uname -r)"
# hc_accel claims only its own PCI ID: hand it every ivshmem device (1af4:1110), as an
# administrator would (docs/driver.md); it binds those that carry the card signature.
for d in /sys/bus/pci/devices/*; do
	[ "$(cat "$d/vendor")" = 0x1af4 ] && [ "$(cat "$d/device")" = 0x1110 ] &&
		echo hc_accel >"$d/driver_override"
done
for m in $(cat /etc/hc-modules); do
	insmod "/lib/modules/$m" || { echo "hc-ktest: insmod $m failed"; finish insmod; }
done
# After a failed test: a test that died between unbinding the card (or unloading the module)
# and putting it back would fail every test after it too; put it back, so that each failure
# is its own. Says what it restored.
restore_card() {
	[ -d /sys/module/hc_accel ] || for m in $(cat /etc/hc-modules); do
		case $m in hc_accel.ko) insmod "/lib/modules/$m" &&
			echo "hc-ktest: reloaded hc_accel after the failure" ;; esac
	done
	for d in /sys/bus/pci/devices/*; do
		[ "$(cat "$d/driver_override" 2>/dev/null)" = hc_accel ] && [ ! -e "$d/driver" ] ||
			continue
		echo "${d##*/}" >/sys/bus/pci/drivers/hc_accel/bind 2>/dev/null &&
			echo "hc-ktest: bound ${d##*/} again after the failure"
	done
}
fails=0
# hc.tests=a,b on the kernel command line runs those instead of the whole list.
tests=$(cat /etc/hc-tests)
for a in $(cat /proc/cmdline); do
	case $a in hc.tests=*) tests=$(echo "${a#hc.tests=}" | tr ',' ' ') ;; esac
done
for t in $tests; do
	start=$(cut -d" " -f1 /proc/uptime)
	echo "hc-ktest: RUN $t (uptime $start)"
	/tests/$t
	rc=$?
	secs=$(awk -v s="$start" '{ printf "%.1f s", $1 - s }' /proc/uptime)
	if [ $rc = 0 ]; then
		echo "hc-ktest: PASS $t ($secs)"
	elif [ $rc = 77 ]; then
		echo "hc-ktest: SKIP $t ($secs)"
	else
		echo "hc-ktest: FAIL $t (exit $rc, $secs)"
		fails=$((fails + 1))
		restore_card
	fi
done
echo "hc-ktest: $fails failed"
finish $fails
