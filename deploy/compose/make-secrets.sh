#!/bin/sh
# Random secrets for docker-compose.yml, one file each in deploy/compose/secrets/ (git ignores it).
# Existing files are kept, so running it again changes nothing; delete a file to rotate it.
set -eu
dir="$(dirname "$0")/secrets"
mkdir -p "$dir"
chmod 0700 "$dir"
umask 022
random() { python3 -c 'import secrets; print(secrets.token_urlsafe(48))'; }
make_one() {
    [ -s "$dir/$1" ] && return 0
    printf '%s\n' "$2" > "$dir/$1"
    echo "wrote $dir/$1"
}
make_one postgres_password "$(random)"
make_one database_url "postgresql+asyncpg://playbooks:$(cat "$dir/postgres_password")@postgres:5432/playbooks"
make_one jwt_secret "$(random)"
make_one signing_secret "$(random)"
make_one runner_token "$(random)"
