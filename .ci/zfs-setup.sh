#!/usr/bin/env bash
# Makes a userspace ZFS (Debian's zfs-fuse) available for the real-ZFS tests. Idempotent: installs
# zfs-fuse only if it is missing and starts the daemon only if no ZFS answers yet. Needs root.
set -euo pipefail

PIDFILE=${ZFS_FUSE_PIDFILE:-/run/zfs-fuse.pid}

if [ "$(id -u)" -ne 0 ]; then
  echo "zfs-setup: must run as root (zfs-fuse needs /dev/fuse)" >&2
  exit 1
fi

if ! command -v zfs-fuse >/dev/null 2>&1 || ! dpkg -s zfs-fuse >/dev/null 2>&1; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq zfs-fuse >/dev/null
fi

answering() { zpool list -H -o name >/dev/null 2>&1; }

if answering; then
  echo "zfs-setup: ZFS is already answering"
  exit 0
fi

# zfs-fuse refuses to start (exit 1) while its pidfile exists, even when that pid is long gone,
# as it is after a machine's earlier session ended without stopping the daemon: clear a stale one
# before each start.
clear_stale_pidfile() {
  [ -f "$PIDFILE" ] || return 0
  local oldpid
  oldpid=$(cat "$PIDFILE" 2>/dev/null || true)
  if [ -z "$oldpid" ] || ! grep -qs zfs-fuse "/proc/$oldpid/cmdline"; then
    echo "zfs-setup: removing stale pidfile $PIDFILE (pid ${oldpid:-none} is not zfs-fuse)"
    rm -f "$PIDFILE"
  fi
}

# A start fails while an earlier daemon still holds its lock (it takes a moment to shut down):
# keep trying until the daemon answers.
deadline=$((SECONDS + 30))
until answering; do
  if [ "$SECONDS" -ge "$deadline" ]; then
    echo "zfs-setup: zfs-fuse did not start answering within 30 s" >&2
    exit 1
  fi
  clear_stale_pidfile
  zfs-fuse --pidfile "$PIDFILE" >/dev/null 2>&1 || true
  for _ in 1 2 3 4 5 6 7 8 9 10; do
    answering && break
    sleep 0.2
  done
done
echo "zfs-setup: zfs-fuse is running (pid $(cat "$PIDFILE" 2>/dev/null || echo '?'))"
