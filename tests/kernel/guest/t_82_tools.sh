#!/bin/sh
# The project's applications on the guest's card through the driver: hc-run reproduces
# llama2.c's stories260K golden (prompt 1,300) and hc-smi shows the card (libhc kernel
# backend; accel nodes only, so 6.1 skips).
dev=$(ls /dev/accel/accel* 2>/dev/null | head -n 1)
if [ -z "$dev" ]; then
	echo "  skip: no accel node (libhc names accel nodes only)"
	exit 77
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
model=$(cat /sys/class/accel/accel*/device/hc/model_name | head -n 1)
echo "$smi" | grep -q "$model"
check $? "hc-smi shows the card's model ($model)"
hc-smi -d "$dev" --json >/tmp/smi.json 2>&1
grep -q '"tokens_generated"\|tokens' /tmp/smi.json
check $? "hc-smi --json has token counters"
exit $fail
