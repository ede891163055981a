#!/usr/bin/env bash
# Installs what the tests, the demo and the benches need on a fresh Debian machine, and
# nothing when it is all there already (a second run costs well under a second).
# Debian packages: the real peers the box works with (nft, ulogd2) and the lab's tools.
set -euo pipefail
cd "$(dirname "$0")/../.."

declare -A want=([nft]=nftables [ip]=iproute2 [nmap]=nmap [curl]=curl [dig]=bind9-dnsutils
                 [ulogd]=ulogd2 [iperf3]=iperf3 [python3]=python3 [dnsmasq]=dnsmasq-base
                 [rsyslogd]=rsyslog [conntrack]=conntrack [dnsperf]=dnsperf
                 [chromium]=chromium [socat]=socat)   # the admin page's browser tests; the demo's port forward
miss=()
for c in "${!want[@]}"; do command -v "$c" >/dev/null 2>&1 || miss+=("${want[$c]}"); done
dpkg -s ulogd2-json >/dev/null 2>&1 || miss+=(ulogd2-json)   # ulogd's JSON output is its own .deb
dpkg -s ulogd2-pcap >/dev/null 2>&1 || miss+=(ulogd2-pcap)   # and its PCAP output (DHCP snooping)
command -v udhcpc >/dev/null 2>&1 || miss+=(udhcpc)          # the lab's DHCP client (with busybox)
# Without a Japanese font every Japanese word in a browser screenshot is a row of boxes.
dpkg -s fonts-ipaexfont-gothic >/dev/null 2>&1 || miss+=(fonts-ipaexfont-gothic)
[[ -e /proc/sys/net/bridge ]] || command -v modprobe >/dev/null || miss+=(kmod)

if (( ${#miss[@]} )); then
  [[ $(id -u) == 0 ]] || { echo "install: need root to install: ${miss[*]}" >&2; exit 1; }
  echo "install: Debian packages: ${miss[*]}"
  # ulogd2's, iperf3's and rsyslog's postinst would start daemons in the host namespace: forbid it.
  guard=; if [[ ! -e /usr/sbin/policy-rc.d ]]; then
    printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d; chmod +x /usr/sbin/policy-rc.d; guard=1
  fi
  trap '[[ -z $guard ]] || rm -f /usr/sbin/policy-rc.d' EXIT
  export DEBIAN_FRONTEND=noninteractive
  log=$(mktemp)
  if ! apt-get install -y -q --no-install-recommends "${miss[@]}" >"$log" 2>&1; then
    apt-get update -q >>"$log" 2>&1
    apt-get install -y -q --no-install-recommends "${miss[@]}" >>"$log" 2>&1 || { cat "$log" >&2; exit 1; }
  fi
  rm -f "$log"
fi

# Install from the lock file when node_modules is missing or older than it. `npm install`,
# not `npm ci`: the registry reachable here serves only this platform's build of the deno
# package (@deno/linux-x64-glibc), so the lock file cannot list the other platforms'
# optional builds, and `npm ci` refuses a lock file without them. `npm install` installs
# exactly the locked versions all the same.
if [[ ! -e node_modules/.package-lock.json || package-lock.json -nt node_modules/.package-lock.json ]]; then
  echo "install: npm install (locked versions)"
  npm install --no-audit --no-fund --loglevel=error
fi
