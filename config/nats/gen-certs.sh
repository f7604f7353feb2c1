#!/usr/bin/env sh
# Generates a private CA, a NATS server certificate and client certificates for tidewatch, with
# openssl. For test rigs and the compose topology; in production use your own PKI.
#
#   config/nats/gen-certs.sh [out dir] [extra subjectAltName entries...]
#   config/nats/gen-certs.sh config/nats/certs DNS:nats.example.com IP:10.0.0.5
#
# Writes into <out dir> (default: config/nats/certs, git-ignored):
#   ca.pem, ca-key.pem              the CA (keep ca-key.pem offline)
#   server.pem, server-key.pem      the server certificate; SANs: localhost, nats, nats-1..3, 127.0.0.1 and the extras
#   client.pem, client-key.pem      a client certificate, for servers that verify clients (nats.tls.cert_file)
set -eu
out="${1:-$(dirname "$0")/certs}"
[ "$#" -gt 0 ] && shift
mkdir -p "$out"
cd "$out"
sans="DNS:localhost,DNS:nats,DNS:nats-1,DNS:nats-2,DNS:nats-3,IP:127.0.0.1"
for extra in "$@"; do sans="$sans,$extra"; done

openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -subj "/CN=tidewatch test CA" \
  -keyout ca-key.pem -out ca.pem -addext "basicConstraints=critical,CA:TRUE" \
  -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null

issue() { # name, CN, extendedKeyUsage, subjectAltName (optional)
  openssl req -newkey rsa:2048 -nodes -subj "/CN=$2" -keyout "$1-key.pem" -out "$1.csr" 2>/dev/null
  printf 'basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=%s\n' "$3" > "$1.ext"
  [ -n "${4:-}" ] && printf 'subjectAltName=%s\n' "$4" >> "$1.ext"
  openssl x509 -req -in "$1.csr" -CA ca.pem -CAkey ca-key.pem -CAcreateserial -days 825 \
    -extfile "$1.ext" -out "$1.pem" 2>/dev/null
  rm -f "$1.csr" "$1.ext"
}
# clientAuth too: cluster routes present this certificate to each other.
issue server nats serverAuth,clientAuth "$sans"
issue client tidewatch-client clientAuth
rm -f ca.srl
chmod 0600 ./*-key.pem
echo "wrote $(pwd)/{ca,server,client}.pem and their keys"
