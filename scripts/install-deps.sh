#!/usr/bin/env bash
# scripts/install-deps.sh — install the Debian packages protector needs to
# build, test and demo itself, and with the argument "bench" to benchmark
# itself.  Idempotent: it only calls apt-get when a package is missing, so
# a provisioned machine pays nothing.
set -euo pipefail

PG_MAJOR="${PG_MAJOR:-15}"
PACKAGES=(
	"postgresql-${PG_MAJOR}"
	"postgresql-server-dev-${PG_MAJOR}"
	"postgresql-${PG_MAJOR}-pgtap"
	"postgresql-client-${PG_MAJOR}"
	libtap-parser-sourcehandler-pgtap-perl
	libicu-dev
	pkg-config
	build-essential
	cppcheck
	bc
	sudo
)
# `install-deps.sh bench`: also what only `make bench` needs
if [ "${1:-}" = bench ]; then
	PACKAGES+=(valgrind)	# bench/instructions.sh counts instructions with callgrind
fi

missing=()
for pkg in "${PACKAGES[@]}"; do
	if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed"; then
		missing+=("$pkg")
	fi
done

if [ "${#missing[@]}" -eq 0 ]; then
	exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
	echo "install-deps: missing packages: ${missing[*]}" >&2
	echo "install-deps: run as root (or install them) and retry" >&2
	exit 1
fi

echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# The server package would otherwise create and start a "main" cluster that
# nothing here uses; tests and the demo start their own throwaway clusters.
mkdir -p /etc/postgresql-common/createcluster.d
if [ ! -e /etc/postgresql-common/createcluster.d/protector-no-main.conf ]; then
	echo "create_main_cluster = false" > /etc/postgresql-common/createcluster.d/protector-no-main.conf
fi
apt-get install -y -qq --no-install-recommends "${missing[@]}"
