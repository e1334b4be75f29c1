#!/bin/sh
# Runs inside the Bluetooth test VM (scripts/ble-vm): two cairn nodes, alice
# on controller hci0 and bob on hci1, nothing but Bluetooth between them
# (no LAN, no loopback dialling). They find each other by advertising and
# scanning, chat both ways, and move a file; the host test reads the
# CAIRN-* lines and the nodes' logs from the console.
set -u
C=/opt/cairn/cairn
export HOME=/root CAIRN_PASSPHRASE=vm-test-passphrase CAIRN_LOG=info,cairn=debug
step() { echo "CAIRN-STEP $(cut -d" " -f1 /proc/uptime)s $*"; }
dump() {
  for who in a b c; do
    echo "CAIRN-LOG-BEGIN $who"
    cat /tmp/$who.log 2>/dev/null
    echo "CAIRN-LOG-END $who"
  done
  echo "--- bluetoothd"; tail -40 /tmp/bluetoothd.log
}
fail() { echo "CAIRN-FAIL $*"; dump; exit 1; }
uptime_s() { cut -d. -f1 /proc/uptime; }
# wait_for SECONDS COMMAND…: polls until the command succeeds, or the time is up.
wait_for() {
  until=$(( $(uptime_s) + $1 )); shift
  while [ "$(uptime_s)" -lt "$until" ]; do
    "$@" >/dev/null 2>&1 && return 0
    sleep 0.5
  done
  return 1
}

$C --profile /tmp/a init --name alice >/dev/null 2>&1 || fail "init alice"
$C --profile /tmp/b init --name bob >/dev/null 2>&1 || fail "init bob"
A=$($C --profile /tmp/a invite | head -1)
B=$($C --profile /tmp/b invite | head -1)
$C --profile /tmp/a add "$B" >/dev/null || fail "alice adds bob"
$C --profile /tmp/b add "$A" >/dev/null || fail "bob adds alice"
for p in a b; do
  printf '[ble]\nscan_on_secs = 4\nscan_off_secs = 2\n' >/tmp/$p/config.toml
done
step "profiles made"

$C --profile /tmp/a run --no-lan --ble-adapter hci0 >/tmp/a.log 2>&1 &
$C --profile /tmp/b run --no-lan --ble-adapter hci1 >/tmp/b.log 2>&1 &
BOB_PID=$!
ble_ready() { $C --profile "$1" status --json | grep -q "\"state\": \"ready\""; }
wait_for 180 ble_ready /tmp/a || fail "alice's Bluetooth never became ready"
wait_for 180 ble_ready /tmp/b || fail "bob's Bluetooth never became ready"
step "both nodes ready"
$C --profile /tmp/a doctor

linked() { $C --profile "$1" status --json | grep -q "\"medium\": \"ble\""; }
wait_for 300 linked /tmp/a || fail "no Bluetooth link came up"
wait_for 120 linked /tmp/b || fail "bob has no Bluetooth link"
step "linked over ble"

$C --profile /tmp/a send bob "hello over bluetooth" >/dev/null || fail "send"
got() { $C --profile "$1" messages "$2" --peek | grep -q "$3"; }
wait_for 120 got /tmp/b alice "hello over bluetooth" || fail "bob never got alice's message"
step "bob got alice's message"
delivered() { $C --profile "$1" messages "$2" --peek | grep -q "$3  \[delivered\]"; }
wait_for 60 delivered /tmp/a bob "hello over bluetooth" || fail "never shown delivered"
$C --profile /tmp/b send alice "and back, over bluetooth" >/dev/null || fail "reply"
wait_for 120 got /tmp/a bob "and back, over bluetooth" || fail "alice never got bob's answer"
step "chatted both ways"

# Round trips: five texts, each waited for until delivered (the logs time it).
for i in 1 2 3 4 5; do
  $C --profile /tmp/a send bob "ping $i" >/dev/null
  wait_for 60 delivered /tmp/a bob "ping $i" || fail "ping $i not delivered"
done
step "pings delivered"

# Throughput: a 256 KiB file from alice to bob.
head -c 262144 /dev/urandom >/tmp/blob.bin
$C --profile /tmp/a send-file bob /tmp/blob.bin --no-wait >/dev/null || fail "send-file"
complete() { $C --profile /tmp/b messages alice --peek | grep -q "blob.bin (256.0 KiB, complete)"; }
wait_for 400 complete || fail "the file never completed"
ID=$($C --profile /tmp/b messages alice --peek | sed -n 's/.*blob.bin.*id \([0-9a-f]*\).*/\1/p' | tail -1)
$C --profile /tmp/b save-file alice "$ID" /tmp/got.bin >/dev/null || fail "save-file"
cmp -s /tmp/blob.bin /tmp/got.bin || fail "the file arrived damaged"
step "file intact"

# Linking a new device of alice's over Bluetooth only (docs/DEVICES.md):
# bob's node stops and alice's phone takes his controller; alice's node
# shows a link code, the phone joins with it.
kill "$BOB_PID"; wait "$BOB_PID" 2>/dev/null
CODE=$($C --profile /tmp/a device link 2>/dev/null | head -1)
case "$CODE" in cairn:link:*) ;; *) fail "no link code: $CODE" ;; esac
$C --profile /tmp/c init --link "$CODE" --device-name phone >/dev/null 2>&1 || fail "init --link"
printf '[ble]\nscan_on_secs = 4\nscan_off_secs = 2\n' >/tmp/c/config.toml
$C --profile /tmp/c run --no-lan --ble-adapter hci1 >/tmp/c.log 2>&1 &
wait_for 180 ble_ready /tmp/c || fail "the phone's Bluetooth never became ready"
joined() { $C --profile /tmp/c device list --json | grep -q '"joining": false'; }
wait_for 300 joined || fail "the phone never linked over Bluetooth"
step "linked a device over ble"
two() { [ "$($C --profile /tmp/a device list | wc -l)" -eq 2 ]; }
wait_for 30 two || fail "alice's node does not list two devices"
wait_for 120 got /tmp/c bob "hello over bluetooth" || fail "the phone never got the history"
step "the linked device has the history"

$C --profile /tmp/a status
dump
echo "CAIRN-BLE-OK"
exit 0
