#!/bin/sh
# Random secrets for docker-compose.yml, one file each in deploy/compose/secrets/ (git ignores it).
# Existing files are kept, so running it again changes nothing; delete a file to rotate it.
# runner_token_sha256 is always derived from runner_token, so it follows a rotated token.
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
# The runner holds only the token's SHA-256: a step that reads the runner's files cannot call it.
# Hashed as runbook-runtime reads the token (surrounding whitespace stripped), not as the file's bytes.
python3 -c 'import hashlib, pathlib, sys; print(hashlib.sha256(pathlib.Path(sys.argv[1]).read_text().strip().encode()).hexdigest())' \
    "$dir/runner_token" > "$dir/runner_token_sha256.new"
mv "$dir/runner_token_sha256.new" "$dir/runner_token_sha256"
