#!/usr/bin/env bash
# Installs every Debian package the tests, the lab and the benchmarks need, then the npm deps.
# Idempotent and non-interactive: runs `apt-get update` only when something is missing, so a
# machine that already has everything makes no network request at all.
set -euo pipefail

# iproute2: ip netns / veth / ss; util-linux: nsenter; procps: ps/pkill-free process checks;
# memcached + sasl2-bin: the lab's reflector and its SASL variant; python3: generic listeners;
# nftables/iptables: firewall read-back; tcpdump: capture; time: /usr/bin/time -v in the bench.
PACKAGES=(
  iproute2
  util-linux
  procps
  python3
  memcached
  sasl2-bin
  nftables
  iptables
  tcpdump
  time
)

if [ "$(id -u)" -eq 0 ]; then
  SUDO=()
elif command -v sudo >/dev/null 2>&1; then
  SUDO=(sudo)
else
  echo "install-test-deps: need root (or sudo) to install Debian packages" >&2
  exit 3
fi

installed() {
  dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"
}

missing=()
for pkg in "${PACKAGES[@]}"; do
  installed "$pkg" || missing+=("$pkg")
done

if [ "${#missing[@]}" -gt 0 ]; then
  echo "install-test-deps: installing ${missing[*]}"
  # Keep packages' maintainer scripts from starting daemons (a system memcached on 11211 would
  # collide with the lab and pollute audits of the root namespace). 101 = "action forbidden".
  policy=/usr/sbin/policy-rc.d
  created_policy=0
  if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' | "${SUDO[@]}" tee "$policy" >/dev/null
    "${SUDO[@]}" chmod 755 "$policy"
    created_policy=1
  fi
  cleanup_policy() { if [ "$created_policy" -eq 1 ]; then "${SUDO[@]}" rm -f "$policy"; fi; }
  trap cleanup_policy EXIT
  export DEBIAN_FRONTEND=noninteractive
  "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -q
  "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}"
else
  echo "install-test-deps: all Debian packages present"
fi

# Belt and braces: policy-rc.d stops the start, not the enabling; disable works without a running
# systemd (it only removes symlinks), stopping needs one.
if command -v systemctl >/dev/null 2>&1; then
  if [ -d /run/systemd/system ]; then
    "${SUDO[@]}" systemctl disable --now memcached >/dev/null 2>&1 || true
  else
    "${SUDO[@]}" systemctl disable memcached >/dev/null 2>&1 || true
  fi
fi
# Without systemd, a SysV start may still have run; stop only the packaged daemon, by its pidfile.
if [ -f /var/run/memcached/memcached.pid ]; then
  pid=$(cat /var/run/memcached/memcached.pid)
  if [ -n "$pid" ] && [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = memcached ]; then
    "${SUDO[@]}" kill "$pid" || true
  fi
fi

# npm deps only when absent: `npm ci` wipes node_modules, which would break a running session.
repo_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
if [ ! -d "$repo_root/node_modules" ]; then
  (cd "$repo_root" && npm ci)
fi
echo "install-test-deps: done"
