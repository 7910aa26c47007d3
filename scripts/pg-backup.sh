#!/usr/bin/env bash
# Backup and point-in-time restore of the vault's PostgreSQL with PostgreSQL's own tools (SPEC §18),
# for operators and the disaster drill (scripts/drill.py):
#   scripts/pg-backup.sh base URL BACKUPDIR [VAULT_DATA]
#       a base backup of the server at URL (pg_basebackup -X stream -c fast) into BACKUPDIR/base,
#       checked with pg_verifybackup; BACKUPDIR/label names it (for `licence-vault restore --from`)
#       and BACKUPDIR/made says when it was made (RFC 3339: every write acknowledged before then is
#       in it). With VAULT_DATA, the vault's key material there (index.key, vault.key unless the
#       key is in a hardware module, vault-keys/, render-keys/), which is never in the database, is copied into
#       BACKUPDIR/keys (mode 0700).
#   scripts/pg-backup.sh restore BACKUPDIR ARCHIVEDIR NEWPGDATA [TARGET_TIME]
#       lays out NEWPGDATA (new or empty) from the base backup, after checking it, to recover from
#       the WAL archived in ARCHIVEDIR (recovery.signal, restore_command) up to TARGET_TIME
#       (RFC 3339 or PostgreSQL's timestamp syntax), by default to the end of the archive, then
#       promote. Start PostgreSQL on it (scripts/pg.sh start NEWPGDATA PORT, with the archiving
#       settings in PG_OPTS) and wait for the end of recovery.
#   scripts/pg-backup.sh wait URL [SECONDS]
#       waits (default 120 s) until the server at URL has finished recovery and takes writes.
# Then put BACKUPDIR/keys back into each vault node's data directory and record the restore:
#   licence-vault restore --store URL --from "$(cat BACKUPDIR/label)" --backup-made "$(cat BACKUPDIR/made)"
# Archiving is the server's: wal_level=replica, archive_mode=on, an archive_timeout (the most a
# disaster loses) and an archive_command that never leaves a partial segment under its final name
# (recovery stops at a short one: "archive file … has wrong size"):
#   archive_command='test ! -f ARCHIVEDIR/%f && cp %p ARCHIVEDIR/%f.part && sync ARCHIVEDIR/%f.part && mv ARCHIVEDIR/%f.part ARCHIVEDIR/%f'
# As root, PostgreSQL's tools run as the `postgres` user, which owns the directories they write.
set -euo pipefail
usage="usage: scripts/pg-backup.sh base URL BACKUPDIR [VAULT_DATA] | restore BACKUPDIR ARCHIVEDIR NEWPGDATA [TARGET_TIME] | wait URL [SECONDS]"
cmd=${1:?$usage}
shift
bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
[ -x "$bin/pg_basebackup" ] || { echo "PostgreSQL is not installed: run scripts/install-deps.sh" >&2; exit 1; }
root() { [ "$(id -u)" -eq 0 ]; }
as() {
  if root; then runuser -u postgres -- "$@"; else "$@"; fi
}
# Paths go into restore_command between single quotes.
plain() {
  case "$1" in *"'"* | *'"'* | *'%'*) echo "$1: quotes and % are not supported in paths" >&2; exit 2 ;; esac
}
case "$cmd" in
  base)
    url=${1:?$usage}
    dir=${2:?$usage}
    vault_data=${3:-}
    [ -e "$dir" ] && { echo "$dir exists: a backup goes into a new directory" >&2; exit 2; }
    if [ -n "$vault_data" ] && [ ! -f "$vault_data/index.key" ]; then
      echo "$vault_data/index.key is missing: VAULT_DATA is a vault node's data directory" >&2
      exit 2
    fi
    mkdir -p "$dir"
    root && chown postgres: "$dir"
    label=${LABEL:-licence-vault-$(date -u +%Y%m%dT%H%M%SZ)}
    # Taken before the backup starts: every write acknowledged before this is in it.
    made=$(date -u +%Y-%m-%dT%H:%M:%S.%NZ)
    as "$bin/pg_basebackup" -d "$url" -D "$dir/base" -X stream -c fast -l "$label"
    as "$bin/pg_verifybackup" -q "$dir/base"
    echo "$label" >"$dir/label"
    echo "$made" >"$dir/made"
    if [ -n "$vault_data" ]; then
      mkdir -m 700 "$dir/keys"
      cp -p "$vault_data/index.key" "$dir/keys/"
      if [ -d "$vault_data/vault-keys" ]; then cp -rp "$vault_data/vault-keys" "$dir/keys/"; fi
      # The rendering CA and key of printable copies, where serve keeps them by default.
      if [ -d "$vault_data/render-keys" ]; then cp -rp "$vault_data/render-keys" "$dir/keys/"; fi
      if [ -f "$vault_data/vault.key" ]; then
        cp -p "$vault_data/vault.key" "$dir/keys/"
      else
        echo "pg-backup: no $vault_data/vault.key: the vault's first key is elsewhere (--vault-key) or in a hardware module; back it up with it" >&2
      fi
    fi
    echo "pg-backup: base backup $label (made $made) in $dir${vault_data:+, with the key files of $vault_data}" >&2
    ;;
  restore)
    dir=${1:?$usage}
    archive=$(realpath "${2:?$usage}")
    new=${3:?$usage}
    target=${4:-}
    plain "$archive"
    if [ -n "$target" ]; then
      # PostgreSQL keeps microseconds (and refuses more digits); UTC, whatever the zone given.
      target=$(date -u -d "$target" '+%Y-%m-%d %H:%M:%S.%6N+00') || { echo "TARGET_TIME: not a time" >&2; exit 2; }
    fi
    [ -f "$dir/base/PG_VERSION" ] || { echo "$dir/base holds no base backup" >&2; exit 2; }
    [ -d "$archive" ] || { echo "$archive: no WAL archive there" >&2; exit 2; }
    if [ -e "$new" ] && [ -n "$(ls -A "$new")" ]; then
      echo "$new is not empty: restore into a new or empty directory" >&2
      exit 2
    fi
    as "$bin/pg_verifybackup" -q "$dir/base" || { echo "$dir/base does not check: refusing to restore" >&2; exit 2; }
    mkdir -p "$new"
    cp -a "$dir/base/." "$new/"
    chmod 700 "$new"
    root && chown -R postgres: "$new"
    # A lock of the old server's socket, when its socket directory was its data directory
    # (scripts/pg.sh): it names the old server's process, which a new one would take for itself.
    rm -f "$new"/.s.PGSQL.*.lock "$new/postmaster.pid"
    as touch "$new/recovery.signal"
    {
      echo "# scripts/pg-backup.sh restore: recover from the archive, then take writes"
      echo "restore_command = 'cp \"$archive/%f\" \"%p\"'"
      echo "recovery_target_timeline = 'latest'"
      echo "recovery_target_action = 'promote'"
      if [ -n "$target" ]; then echo "recovery_target_time = '$target'"; fi
    } | as tee -a "$new/postgresql.auto.conf" >/dev/null
    echo "pg-backup: $new laid out from $(cat "$dir/label" 2>/dev/null || echo "$dir") to recover up to ${target:-the end of $archive}; start PostgreSQL on it" >&2
    ;;
  wait)
    url=${1:?$usage}
    seconds=${2:-120}
    end=$((SECONDS + seconds))
    while [ "$SECONDS" -lt "$end" ]; do
      [ "$(as "$bin/psql" "$url" -XAtqc 'SELECT pg_is_in_recovery()' 2>/dev/null)" = f ] && exit 0
      sleep 0.1
    done
    echo "the server at $url is still recovering (or down) after $seconds s" >&2
    exit 1
    ;;
  *) echo "unknown command $cmd; $usage" >&2; exit 2 ;;
esac
