#!/bin/sh
# Serve with the certificate in /etc/dockercloud-proxy/tls (cert.pem: the chain, key.pem),
# or make a self-signed one for the host of $DC_PUBLIC_URL there on the first start (nodes must
# then trust it: docs/DEPLOY.md).
set -eu
TLS=/etc/dockercloud-proxy/tls
mkdir -p "$TLS"
if [ ! -s "$TLS/cert.pem" ] || [ ! -s "$TLS/key.pem" ]; then
    host=$(printf '%s' "${DC_PUBLIC_URL:-}" | sed -E 's#^[a-z]+://##; s#[/:].*$##; s#^\[##; s#\]$##')
    [ -n "$host" ] || { echo "dockercloud-proxy: no certificate in $TLS and no DC_PUBLIC_URL to make one for" >&2; exit 1; }
    case "$host" in
        *[!0-9.]*) san="DNS:$host" ;;
        *) san="IP:$host" ;;
    esac
    echo "dockercloud-proxy: no certificate in $TLS: making a self-signed one for $san"
    umask 077
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 825 \
        -subj "/CN=$host" -addext "subjectAltName=$san" \
        -keyout "$TLS/key.pem.tmp" -out "$TLS/cert.pem.tmp" 2>/dev/null
    chmod 644 "$TLS/cert.pem.tmp"
    mv "$TLS/key.pem.tmp" "$TLS/key.pem"
    mv "$TLS/cert.pem.tmp" "$TLS/cert.pem"
fi
exec nginx -g 'daemon off;'
