#!/bin/sh
# Issues this pod's own TLS certificate from a signing CA, and renews it.
# Shipped in the <release>-tls-issuer ConfigMap; run by the tls-issue init
# container (`tls-issue.sh once`) and the tls-renew container
# (`tls-issue.sh renew`) of the storage, node plugin and controller pods.
#
# Input (environment):
#   SIGNER_DIR  the signing CA: tls.crt (the CA, maybe an intermediate),
#               tls.key, and ca.crt (the roots to trust; tls.crt when absent).
#               A mounted Secret, so it changes in place when the CA does.
#   OUT_DIR     where the daemon reads tls.crt (leaf + chain), tls.key and
#               ca.crt (an in-memory emptyDir, mounted read-only there).
#   TLS_CN      identity: the node name, or "controller".
#   TLS_OU      role: storage, node or controller.
#   TLS_SERVER  "true": the certificate may also serve (serverAuth EKU).
#   TLS_DNS     comma-separated DNS names (server certificates).
#   TLS_IP      comma-separated IP addresses (server certificates).
#   TLS_DAYS    validity; renewed once two thirds of it have passed.
#   TLS_CHECK_SECONDS  how often `renew` looks (default 60).
#
# Files are published as a Secret volume publishes them: a new directory,
# then one rename of the `..data` symlink, so a reader never sees a new
# certificate with an old key. Nothing secret is ever printed.
set -eu

: "${SIGNER_DIR:?}" "${OUT_DIR:?}" "${TLS_CN:?}" "${TLS_OU:?}" "${TLS_DAYS:?}"
TLS_SERVER=${TLS_SERVER:-false}
TLS_DNS=${TLS_DNS:-}
TLS_IP=${TLS_IP:-}
TLS_CHECK_SECONDS=${TLS_CHECK_SECONDS:-60}

log() { echo "tls-issue: $*" >&2; }

# X.509 caps a CN at 64 characters; a Kubernetes node name may be longer. The
# CN is the identity the daemons check, so it is never shortened.
if [ "${#TLS_CN}" -gt 64 ]; then
  log "identity '$TLS_CN' is ${#TLS_CN} characters; a certificate CN holds at most 64"
  exit 1
fi

trust_file() {
  if [ -s "$SIGNER_DIR/ca.crt" ]; then echo "$SIGNER_DIR/ca.crt"; else echo "$SIGNER_DIR/tls.crt"; fi
}

# What the current certificate was issued from: when it changes (a renewed or
# replaced CA, a new trust bundle), the certificate is issued again.
signer_digest() {
  cat "$SIGNER_DIR/tls.crt" "$(trust_file)" | sha256sum | cut -d' ' -f1
}

san_list() {
  out=""
  old_ifs=$IFS; IFS=,
  for d in $TLS_DNS; do [ -n "$d" ] && out="$out${out:+,}DNS:$d"; done
  for i in $TLS_IP; do [ -n "$i" ] && out="$out${out:+,}IP:$i"; done
  IFS=$old_ifs
  echo "$out"
}

issue() {
  for f in tls.crt tls.key; do
    [ -s "$SIGNER_DIR/$f" ] || { log "signing CA incomplete: $SIGNER_DIR/$f missing"; return 1; }
  done
  umask 077
  stamp=$(date -u +%Y%m%dT%H%M%S)
  new="$OUT_DIR/..$stamp.$$"
  rm -rf "$new" && mkdir "$new"
  if [ "$TLS_SERVER" = "true" ]; then eku="serverAuth,clientAuth"; else eku="clientAuth"; fi
  # `openssl ca` rather than `x509 -req`: it takes a start date, and the
  # certificate is valid from an hour ago (as the daemons' own certificates
  # are), so a peer whose clock is a little behind accepts a fresh one.
  : >"$new/index.txt"
  od -An -N16 -tx1 /dev/urandom | tr -d ' \n' >"$new/serial"
  echo >>"$new/serial"
  {
    echo "[ca]"
    echo "default_ca = issue"
    echo "[issue]"
    echo "database = $new/index.txt"
    echo "new_certs_dir = $new"
    echo "serial = $new/serial"
    echo "default_md = sha256"
    echo "policy = any"
    echo "unique_subject = no"
    echo "copy_extensions = none"
    echo "preserve = yes"
    echo "[any]"
    echo "organizationName = supplied"
    echo "organizationalUnitName = supplied"
    echo "commonName = supplied"
    echo "[v3]"
    echo "basicConstraints = critical,CA:FALSE"
    echo "keyUsage = critical,digitalSignature,keyEncipherment"
    echo "extendedKeyUsage = $eku"
    echo "subjectKeyIdentifier = hash"
    echo "authorityKeyIdentifier = keyid"
    sans=$(san_list)
    [ -n "$sans" ] && echo "subjectAltName = $sans"
  } >"$new/ca.cnf"
  openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$new/tls.key" 2>/dev/null
  # The subject the daemons' own certificates carry: O=syncblock, OU=role, CN=identity.
  openssl req -new -key "$new/tls.key" -subj "/O=syncblock/OU=$TLS_OU/CN=$TLS_CN" -out "$new/req.csr"
  openssl ca -batch -notext -config "$new/ca.cnf" -extensions v3 \
    -cert "$SIGNER_DIR/tls.crt" -keyfile "$SIGNER_DIR/tls.key" -in "$new/req.csr" \
    -startdate "$(date -u -d '-1 hour' +%Y%m%d%H%M%SZ)" \
    -enddate "$(date -u -d "+$TLS_DAYS days" +%Y%m%d%H%M%SZ)" \
    -out "$new/leaf.crt" 2>"$new/ca.log" \
    || { log "signing failed: $(grep -v '^Using\|^Check\|^Signature ok' "$new/ca.log" | head -3)"; return 1; }
  # The chain: the leaf, then the signing CA unless it is itself a trusted root.
  if cmp -s "$SIGNER_DIR/tls.crt" "$(trust_file)"; then
    cp "$new/leaf.crt" "$new/tls.crt"
  else
    cat "$new/leaf.crt" "$SIGNER_DIR/tls.crt" >"$new/tls.crt"
  fi
  cp "$(trust_file)" "$new/ca.crt"
  openssl verify -CAfile "$new/ca.crt" -untrusted "$new/tls.crt" "$new/leaf.crt" >/dev/null
  signer_digest >"$new/signer.sha256"
  # Everything but the three files and the signer digest goes.
  find "$new" -mindepth 1 ! -name tls.crt ! -name tls.key ! -name ca.crt ! -name signer.sha256 \
    -exec rm -f {} +
  chmod 0444 "$new/tls.crt" "$new/ca.crt"
  chmod 0400 "$new/tls.key"
  chmod 0755 "$new"
  # Publish: one atomic rename of the ..data symlink, then the stable names.
  ln -sfn "$(basename "$new")" "$OUT_DIR/..data_tmp"
  mv -T "$OUT_DIR/..data_tmp" "$OUT_DIR/..data"
  for f in tls.crt tls.key ca.crt; do
    [ -L "$OUT_DIR/$f" ] || ln -s "..data/$f" "$OUT_DIR/$f"
  done
  for old in "$OUT_DIR"/..2*; do
    [ "$old" = "$new" ] || rm -rf "$old"
  done
  log "issued CN=$TLS_CN OU=$TLS_OU for $TLS_DAYS days$( [ -n "$(san_list)" ] && echo ", SAN $(san_list)")"
}

needs_renewal() {
  [ -s "$OUT_DIR/tls.crt" ] || { echo "no certificate"; return 0; }
  [ "$(cat "$OUT_DIR/..data/signer.sha256" 2>/dev/null)" = "$(signer_digest)" ] \
    || { echo "signing CA changed"; return 0; }
  left=$((TLS_DAYS * 86400 / 3))
  openssl x509 -noout -checkend "$left" -in "$OUT_DIR/tls.crt" >/dev/null \
    || { echo "a third of its validity left"; return 0; }
  return 1
}

case "${1:-}" in
  once)
    issue
    ;;
  check)
    # Exit 0 when a renewal is due (prints why), 1 when not: for tests.
    needs_renewal
    ;;
  renew)
    trap 'exit 0' TERM INT
    while :; do
      sleep "$TLS_CHECK_SECONDS" &
      wait $! || true
      if why=$(needs_renewal); then
        log "renewing: $why"
        # A failure (CA being replaced, half-written Secret) is retried at the
        # next check; the old certificate stays in place meanwhile.
        # A process of its own, so that `set -e` stops it at the first error
        # (it would not inside `||`).
        sh "$0" once || log "renewal failed; retrying in ${TLS_CHECK_SECONDS}s"
      fi
    done
    ;;
  *)
    echo "usage: tls-issue.sh once|renew|check" >&2
    exit 2
    ;;
esac
