#!/usr/bin/env bash
# Mounts or unmounts a small tmpfs for the disk-full tests:
#
#   scripts/tmpfs.sh mount DIR SIZE     (e.g. 48m; DIR is created)
#   scripts/tmpfs.sh umount DIR
#
# Mounting needs root: it runs as root, or through `sudo -n`; otherwise it says so and fails.
set -euo pipefail

as_root() {
  if [ "$(id -u)" -eq 0 ]; then
    "$@"
  elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
    sudo -n "$@"
  else
    echo "tmpfs.sh: mounting a tmpfs needs root (or passwordless sudo)" >&2
    exit 1
  fi
}

case "${1:-}" in
  mount)
    [ $# -eq 3 ] || { echo "usage: $0 mount DIR SIZE" >&2; exit 2; }
    mkdir -p "$2"
    as_root mount -t tmpfs -o "size=$3,mode=0777" tmpfs "$2"
    ;;
  umount)
    [ $# -eq 2 ] || { echo "usage: $0 umount DIR" >&2; exit 2; }
    if mountpoint -q "$2"; then as_root umount "$2"; fi
    ;;
  *)
    sed -n '2,7p' "$0" | sed 's/^# \{0,1\}//' >&2
    exit 2
    ;;
esac
