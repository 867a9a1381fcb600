#!/usr/bin/env bash
# Installs every Debian package the tests, the lab and the benchmarks need, then the npm deps.
# Idempotent and non-interactive: runs `apt-get update` only when something is missing, so a
# machine that already has everything makes no network request at all.
set -euo pipefail

# iproute2: ip netns / veth / ss; util-linux: nsenter; procps: ps/pkill-free process checks;
# memcached + sasl2-bin: the lab's reflector and its SASL variant; python3: generic listeners;
# nftables/iptables: firewall read-back; tcpdump: capture; time: /usr/bin/time -v in the bench.
# The scan lab's reflectors (test/lab/daemons/): dnsmasq-base (open resolver; the binary without the
# service), unbound (resolver that refuses outside clients), ntpsec (Debian 12's only ntpd: `ntp` is
# a transitional package to it; it replaces systemd-timesyncd, which conflicts as a time-daemon),
# xinetd (chargen, qotd), rpcbind (portmap), snmpd (SNMP v2c).
# Peer tools for the benchmarks and capture fixtures: nmap, masscan (bench/scan), tshark and its
# editcap/mergecap (test/observe/fixtures/make-fixtures.sh, bench/observe); zmap and hping3 scan the
# observe telescope for the real-tool capture fixtures (masscan and nmap too).
# TCP services the scan identifies, run in the lab: redis-server, mariadb-server, openssh-server
# (its sshd runs in a namespace with its own config; the host's ssh unit is never touched, so a
# developer's SSH session survives), inetutils-telnetd (under xinetd), samba (smbd).
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
  dnsmasq-base
  unbound
  ntpsec
  xinetd
  rpcbind
  snmpd
  nmap
  masscan
  tshark
  zmap
  hping3
  redis-server
  mariadb-server
  openssh-server
  inetutils-telnetd
  samba
)

# Units the packages above ship that could start a daemon (sockets and timers too: rpcbind.socket
# would start rpcbind on the first connection to 111). The lab runs its own copies in namespaces.
UNITS=(
  memcached.service
  unbound.service
  unbound-resolvconf.service
  ntpsec.service
  ntpsec-rotate-stats.timer
  ntpsec-systemd-netif.path
  xinetd.service
  rpcbind.service
  rpcbind.socket
  snmpd.service
  redis-server.service
  mariadb.service
  smbd.service
  nmbd.service
  samba-ad-dc.service
)
# pidfile:process-name of the packaged daemons, for machines without systemd.
PIDFILES=(
  /var/run/memcached/memcached.pid:memcached
  /run/unbound.pid:unbound
  /run/ntpd.pid:ntpd
  /run/xinetd.pid:xinetd
  /run/rpcbind/rpcbind.pid:rpcbind
  /run/snmpd.pid:snmpd
  /run/redis/redis-server.pid:redis-server
  /run/mysqld/mysqld.pid:mariadbd
  /run/samba/smbd.pid:smbd
  /run/samba/nmbd.pid:nmbd
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
  for unit in "${UNITS[@]}"; do
    if [ -d /run/systemd/system ]; then
      "${SUDO[@]}" systemctl disable --now "$unit" >/dev/null 2>&1 || true
    else
      "${SUDO[@]}" systemctl disable "$unit" >/dev/null 2>&1 || true
    fi
  done
fi
# Without systemd, a SysV start may still have run; stop only the packaged daemons, by their pidfiles.
for entry in "${PIDFILES[@]}"; do
  file=${entry%%:*}
  comm=${entry##*:}
  [ -f "$file" ] || continue
  pid=$(cat "$file")
  if [ -n "$pid" ] && [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = "$comm" ]; then
    "${SUDO[@]}" kill "$pid" || true
  fi
done

# npm deps only when absent: `npm ci` wipes node_modules, which would break a running session.
repo_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
if [ ! -d "$repo_root/node_modules" ]; then
  (cd "$repo_root" && npm ci)
fi
echo "install-test-deps: done"
