#!/bin/sh
# Make the control plane's secrets for docker-compose.yml, once, in ./secrets (or $1): the
# database password (and the DATABASE_URL that carries it), Django's secret key, the Fernet
# key for secrets at rest and the Ed25519 key that signs agent upgrades. Existing files are
# kept: rerunning never replaces a key (a new encryption key would lose what the old one
# encrypted; see docs/DEPLOY.md to rotate). Needs openssl.
set -eu
dir=${1:-secrets}
umask 077
mkdir -p "$dir"
chmod 700 "$dir"

secret() {  # secret NAME COMMAND...: write COMMAND's output to $dir/NAME unless it exists
    name=$1
    shift
    if [ -s "$dir/$name" ]; then
        echo "kept    $dir/$name"
        return
    fi
    "$@" >"$dir/$name.tmp"
    mv "$dir/$name.tmp" "$dir/$name"
    echo "made    $dir/$name"
}

password() { openssl rand -hex 24; }
fernet() { openssl rand -base64 32 | tr '+/' '-_'; }
secret postgres_password password
secret database_url sh -c "printf 'postgres://dockercloud:%s@postgres:5432/dockercloud\n' \"\$(cat '$dir/postgres_password')\""
secret secret_key sh -c 'openssl rand -base64 48 | tr -d "\n"; echo'
secret encryption_keys fernet
secret signing_key openssl genpkey -algorithm ed25519
# Docker mounts these files into the containers as they are: the processes run as other
# users there (the product as uid 10001, PostgreSQL as its own), so the files are readable
# and the folder (700) keeps everyone else on this machine out.
chmod 644 "$dir"/*
