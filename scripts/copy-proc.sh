#!/bin/sh
# Copy the parts of /proc that `moat audit --proc-root DIR` reads, to audit a machine elsewhere.
#
#   sudo scripts/copy-proc.sh DIR [PID...]
#
# Copies net/{tcp,tcp6,udp,udp6}, sys/kernel/hostname, and for every process (or only the PIDs
# given): comm, cmdline, cgroup, and each fd as a symlink with the same target text ("socket:[N]").
# Then e.g. `tar -C DIR -czf proc.tgz .` and on the other side `moat audit --proc-root DIR`.
#
# Why not `cp -r /proc`: it never finishes cleanly (kcore is the size of the address space, mem,
# pagemap and others' environ are unreadable, /proc/self and task/ repeat everything). Copying just
# the needed paths with `cp -r --parents /proc/net/tcp ... /proc/PID/fd ...` does work (cp -r copies
# the fd links as links, with their "socket:[N]" text), but needs every pid named and stops at the
# first process that exits mid-copy; this script does the same walk and skips what vanished.
#
# Run it as root: without root the fd directories of other users' processes are unreadable and their
# sockets will have no owner in the copy. Run it inside a namespace (`ip netns exec NAME ...` or
# `nsenter --net=...`) to copy that namespace's tables.
set -eu

if [ $# -lt 1 ]; then
  echo "usage: $0 DIR [PID...]" >&2
  exit 2
fi
dest=$1
shift
[ "$(id -u)" -eq 0 ] || echo "copy-proc: not root: processes of other users will have no fd links" >&2

mkdir -p "$dest/net" "$dest/sys/kernel"
for t in tcp tcp6 udp udp6; do
  # tcp6/udp6 do not exist when IPv6 is disabled; moat accepts their absence
  if [ -e "/proc/net/$t" ]; then cat "/proc/net/$t" >"$dest/net/$t"; fi
done
cat /proc/sys/kernel/hostname >"$dest/sys/kernel/hostname"

if [ $# -eq 0 ]; then
  set -- $(cd /proc && ls -d [0-9]*)
fi
for pid in "$@"; do
  src=/proc/$pid
  [ -d "$src" ] || continue
  out=$dest/$pid
  mkdir -p "$out/fd"
  # a process may exit at any point: missing files are skipped, not fatal
  for f in comm cmdline cgroup; do
    cat "$src/$f" >"$out/$f" 2>/dev/null || rm -f "$out/$f"
  done
  for fd in $(ls "$src/fd" 2>/dev/null); do
    target=$(readlink "$src/fd/$fd" 2>/dev/null) || continue
    ln -s -- "$target" "$out/fd/$fd"
  done
  [ -e "$out/comm" ] || rm -rf "$out"
done
