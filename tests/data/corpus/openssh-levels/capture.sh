#!/bin/sh
# SPDX-License-Identifier: ISC
# How the streams of this directory were made (not run by the tests; needs
# root for sshd's privilege separation): real OpenSSH 9.2 sshd at INFO,
# VERBOSE, DEBUG1 and DEBUG2 and a real Dropbear 2022.83 server, each on
# 127.0.0.1, with one set of real clients (OpenSSH ssh with several option
# sets, Dropbear dbclient, PuTTY plink). tests/e2e/sshd-capture.py writes
# what each server logs as RFC 3164 lines of a device named lab-LEVEL.
# expected.tsv gets one row per connection, in order: what the client
# itself reported (ok, or fail:CATEGORY from its own "Unable to negotiate"
# / "No matching algo" message, or none when the server dropped it before
# authentication without saying why) and the catalogue id an alert must
# carry.
#
# sh capture.sh OUTDIR
set -u
OUT=${1:-.}
HERE=$(cd "$(dirname "$0")" && pwd)
CAP=$HERE/../../../e2e/sshd-capture.py
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
mkdir -p /run/sshd "$T/home/.ssh"
ssh-keygen -q -t ed25519 -N '' -f "$T/hk_ed25519"
ssh-keygen -q -t rsa -b 2048 -N '' -f "$T/hk_rsa"
ssh-keygen -q -t ed25519 -N '' -f "$T/userkey"
cp "$T/userkey.pub" "$T/home/.ssh/authorized_keys"
cp "$T/userkey.pub" "$T/authorized_keys"
chmod 700 "$T/home" "$T/home/.ssh"
dropbearkey -t ed25519 -f "$T/db_ed25519" > /dev/null 2>&1
dropbearconvert openssh dropbear "$T/userkey" "$T/userkey.db" > /dev/null 2>&1
cat > "$T/sshd_config" <<EOF
HostKey $T/hk_ed25519
HostKey $T/hk_rsa
AuthorizedKeysFile $T/authorized_keys
StrictModes no
PermitRootLogin prohibit-password
UsePAM no
PidFile none
KexAlgorithms curve25519-sha256,diffie-hellman-group16-sha512
Ciphers aes256-gcm@openssh.com,aes128-ctr
MACs hmac-sha2-256-etm@openssh.com,hmac-sha2-256
HostKeyAlgorithms ssh-ed25519,rsa-sha2-512
EOF
HKFP=$(ssh-keygen -lf "$T/hk_ed25519.pub" | awk '{print $2}')
DBFP=$(dropbearkey -y -f "$T/db_ed25519" | awk '/Fingerprint/ {print $2}')
echo "device	client	outcome	mismatch" > "$OUT/expected.tsv"

# verdict DEVICE CLIENT MISMATCH: reads the client's stderr in $T/err
verdict() {
    cat_=""
    case $(cat "$T/err") in
    *"no matching key exchange"*|*"No matching algo kex"*) cat_=kex ;;
    *"no matching host key"*|*"No matching algo hostkey"*) cat_=hostkey ;;
    *"no matching cipher"*|*"No matching algo enc"*) cat_=cipher ;;
    *"no matching MAC"*|*"No matching algo mac"*) cat_=mac ;;
    esac
    if [ -n "$cat_" ]; then
        printf '%s\t%s\tfail:%s\t%s\n' "$1" "$2" "$cat_" "$3" >> "$OUT/expected.tsv"
    elif grep -q "Host key did not appear\|Cannot confirm a host key" "$T/err"; then
        printf '%s\t%s\tharness-error\t-\n' "$1" "$2" >> "$OUT/expected.tsv"
    elif grep -q "^Connection closed by\|^Connection reset by" "$T/err" && ! grep -q "Permission denied" "$T/err"; then
        # the server dropped it before authentication (Dropbear 2022.83
        # dies on an assertion when the client accepts only ssh-rsa and
        # it has no RSA key): neither a success nor a failure it reports
        printf '%s\t%s\tnone\t-\n' "$1" "$2" >> "$OUT/expected.tsv"
    else
        printf '%s\t%s\tok\t-\n' "$1" "$2" >> "$OUT/expected.tsv"
    fi
}

clients() { # DEVICE PORT HOSTKEY-FINGERPRINT
    SSH="ssh -F /dev/null -o BatchMode=yes -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o ConnectTimeout=5 -p $2"
    $SSH -i "$T/userkey" root@127.0.0.1 true 2> "$T/err"; verdict "$1" openssh-key -
    $SSH -o PubkeyAuthentication=no nobody@127.0.0.1 true 2> "$T/err"; verdict "$1" openssh-nokey -
    $SSH -o KexAlgorithms=diffie-hellman-group14-sha1 nobody@127.0.0.1 true 2> "$T/err"; verdict "$1" openssh-sha1kex kex-sha1-only
    $SSH -o Ciphers=aes128-cbc nobody@127.0.0.1 true 2> "$T/err"; verdict "$1" openssh-cbc cipher-cbc-only
    $SSH -o Ciphers=3des-cbc nobody@127.0.0.1 true 2> "$T/err"; verdict "$1" openssh-3des cipher-broken-only
    $SSH -o Ciphers=aes128-ctr -o MACs=hmac-sha1 nobody@127.0.0.1 true 2> "$T/err"; verdict "$1" openssh-sha1mac mac-legacy-only
    $SSH -o HostKeyAlgorithms=ssh-rsa nobody@127.0.0.1 true 2> "$T/err"; verdict "$1" openssh-sshrsa hostkey-ssh-rsa-only
    timeout 10 dbclient -y -y -p "$2" nobody@127.0.0.1 true < /dev/null 2> "$T/err"; verdict "$1" dbclient -
    timeout 10 plink -batch -P "$2" -pw wrong -hostkey "$3" nobody@127.0.0.1 true < /dev/null 2> "$T/err"; verdict "$1" plink -
    sleep 1
}

for L in INFO VERBOSE DEBUG1 DEBUG2; do
    dev=lab-$(echo "$L" | tr 'A-Z' 'a-z')
    rm -f "$T/port"
    python3 "$CAP" "$T/port" "$OUT/$dev.log" "$dev" sshd -f "$T/sshd_config" -o LogLevel=$L &
    pid=$!
    while [ ! -s "$T/port" ]; do sleep 0.1; done
    clients "$dev" "$(cat "$T/port")" "$HKFP"
    kill $pid
done

# Dropbear: its logins need the user's home; a private mount namespace
# shows it a home with the key
dev=lab-dropbear
rm -f "$T/port"
unshare -m --propagation private sh -c "mount --bind $T/home /root && exec python3 $CAP $T/port $OUT/$dev.log $dev dropbear -r $T/db_ed25519" &
pid=$!
while [ ! -s "$T/port" ]; do sleep 0.1; done
P=$(cat "$T/port")
timeout 10 dbclient -y -y -i "$T/userkey.db" -p "$P" root@127.0.0.1 true < /dev/null 2> "$T/err"; verdict "$dev" dbclient-key -
clients "$dev" "$P" "$DBFP"
kill $pid
# Dropbear logs the failing slot, never a list: nothing tells kexwatch the
# client's offer, so its alerts can only be unclassified
sed -i 's/^\(lab-dropbear\t[^\t]*\tfail:[^\t]*\t\).*/\1unclassified/' "$OUT/expected.tsv"
