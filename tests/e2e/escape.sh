#!/bin/bash
# SPDX-License-Identifier: ISC
# One escaping rule at the output (issue 11): a device whose host name
# carries ESC, LF and TAB (an octet-counted frame may hold any byte) is
# stored as received, but the daemon's log and the query commands' table
# print it escaped (\xHH): no byte drives the operator's terminal, no row or
# column is forged. JSON and CSV keep their own encodings.
. "$(dirname "$0")/lib.sh"

plan 7
PORT=$(free_port)
write_config "$PORT" "identify = hostname"
check "kexwatchd starts" start_daemon
HOST=$(printf 'ev\033[31mil\nforged\trow')
LINE="Sep 20 01:05:35 $HOST sshd[561854]: Unable to negotiate with 94.102.56.238 port 59794: no matching key exchange method found. Their offer: diffie-hellman-group14-sha1 [preauth]"
python3 - "$PORT" "$LINE" <<'PY'
import socket, sys
m = sys.argv[2].encode()
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
s.sendall(b"%d %s" % (len(m), m))
s.close()
PY
for _ in $(seq 1 50); do [ -s "$WORK/alerts.jsonl" ] && break; sleep 0.1; done
check "SIGTERM: exit status 0" stop_daemon
python3 - "$WORK/kexwatch.db" "$HOST" <<'PY'
import sqlite3, sys
keys = [r[0] for r in sqlite3.connect(sys.argv[1]).execute("SELECT key FROM devices")]
sys.exit(0 if sys.argv[2] in keys else 1)
PY
check "the host name is stored as received" [ $? -eq 0 ]
check "no raw control byte in the daemon's log" sh -c "! tr -d '\n' < '$WORK/stderr' | grep -q '[[:cntrl:]]'"
check "and the name is in it escaped" grep -q 'ev\\x1b\[31mil\\x0aforged\\x09row' "$WORK/stderr"
"$KEXWATCH" --db "$WORK/kexwatch.db" failures --by device --from 2000-01-01T00:00:00Z > "$WORK/table.txt"
check "the table has no raw control byte but its line ends" sh -c "! tr -d '\n' < '$WORK/table.txt' | grep -q '[[:cntrl:]]'"
is "the table has a header and exactly one row, the name escaped" \
    "$(grep -c . "$WORK/table.txt") $(grep -c 'ev\\x1b\[31mil\\x0aforged\\x09row' "$WORK/table.txt")" "2 1"
finish
