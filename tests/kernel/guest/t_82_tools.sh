#!/bin/sh
# The project's applications on the guest's card through the driver: hc-run reproduces
# llama2.c's stories260K golden (prompt 1,300) and hc-smi shows the card (libhc kernel
# backend: the accel node on 6.12, the render node bound to hc_accel on 6.1).
dev='' sys=''
for n in /sys/class/accel/accel* /sys/class/drm/renderD*; do
	case $(readlink "$n/device/driver" 2>/dev/null) in
	*/hc_accel) ;;
	*) continue ;;
	esac
	sys=$n
	case $n in
	*/accel/*) dev=/dev/accel/${n##*/} ;;
	*) dev=/dev/dri/${n##*/} ;;
	esac
	break
done
if [ -z "$dev" ]; then
	echo "  FAIL: no hc_accel device node"
	exit 1
fi
fail=0
check() {
	if [ "$1" = 0 ]; then echo "  ok   $2"; else echo "  FAIL $2"; fail=1; fi
}
if [ -f /etc/prompt_1_300.txt ]; then
	want=$(sed -n '/^# generated_ids/{n;p;q}' /etc/prompt_1_300.txt | tr -s ' \n' '  ' | sed 's/ *$//')
	n=$(echo "$want" | wc -w)
	got=$(hc-run -d "$dev" --prompt-ids 1,300 -n "$n" --print-ids --ignore-eos 2>/tmp/run.err |
		tr -s ' \n' '  ' | sed 's/ *$//')
	[ "$got" = "$want" ]
	check $? "hc-run -d $dev: $n ids identical to llama2.c's golden"
	[ "$got" = "$want" ] || { echo "got:  $got" | cut -c1-200; cat /tmp/run.err; }
else
	out=$(hc-run -d "$dev" --prompt-ids 1,17,42 -n 16 --print-ids 2>&1)
	[ "$(echo "$out" | wc -w)" -ge 1 ]
	check $? "hc-run -d $dev generates ($out)"
fi
smi=$(hc-smi -d "$dev" 2>&1)
echo "$smi" | sed 's/^/    /'
model=$(cat "$sys/device/hc/model_name")
echo "$smi" | grep -q "$model"
check $? "hc-smi shows the card's model ($model)"
hc-smi | grep -q "$model"
check $? "hc-smi without -d discovers the card"
hc-smi -d "$dev" --json >/tmp/smi.json 2>&1
grep -q '"tokens_generated"\|tokens' /tmp/smi.json
check $? "hc-smi --json has token counters"
# One version everywhere: the firmware (hc-emud) and the driver (this module) say the
# project's, which is hc-smi's own.
ver=$(hc-smi --version | sed 's/^hc-smi //')
got=$(hc-smi -d "$dev" --query firmware_version,driver_version --format=csv,noheader 2>&1)
[ "$got" = "$ver, $ver" ] && [ "$(cat /sys/module/hc_accel/version)" = "$ver" ]
check $? "hc-smi shows firmware and driver version $ver ($got)"
exit $fail
