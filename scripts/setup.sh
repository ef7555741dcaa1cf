#!/usr/bin/env bash
# Installs every Debian package medmigrate needs to build, test and run its demo.
# Idempotent: when everything is installed it only checks and exits in well under
# a second, without touching the network. Works as root on a fresh Debian 12
# machine, and through sudo otherwise.
set -euo pipefail

packages=(
  build-essential cmake pkg-config git ca-certificates
  libpq-dev libcli11-dev nlohmann-json3-dev libspdlog-dev libfmt-dev
  libcpp-httplib-dev libtomlplusplus-dev libsodium-dev libssl-dev
  libgtest-dev libgmock-dev libbenchmark-dev
  postgresql-15 postgresql-client-15 passwd util-linux
  chromium  # headless render of the HTML run report in tests/report
)

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi

if [ "$(id -u)" -eq 0 ]; then
  sudo=()
elif command -v sudo >/dev/null 2>&1; then
  sudo=(sudo)
else
  echo "setup: these packages are missing: ${missing[*]}" >&2
  echo "setup: run 'make setup' as root, or install sudo" >&2
  exit 1
fi

echo "setup: installing ${missing[*]}"
# medmigrate runs its own private clusters; stop the postgresql package from
# creating and starting a system-wide one on install.
if [ ! -e /etc/postgresql-common/createcluster.conf ]; then
  "${sudo[@]}" mkdir -p /etc/postgresql-common
  echo "create_main_cluster = false" | "${sudo[@]}" tee /etc/postgresql-common/createcluster.conf >/dev/null
fi
"${sudo[@]}" apt-get update -qq
DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
