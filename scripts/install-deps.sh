#!/usr/bin/env bash
# scripts/install-deps.sh — install the Debian packages protector needs to
# build, test and demo itself; with the argument "bench", "fuzz" or
# "sanitize" also what those targets need.  Idempotent: it only calls apt-get when a package is missing, so
# a provisioned machine pays nothing.
set -euo pipefail

PG_MAJOR="${PG_MAJOR:-15}"
PACKAGES=(
	"postgresql-${PG_MAJOR}"
	"postgresql-server-dev-${PG_MAJOR}"
	"postgresql-${PG_MAJOR}-pgtap"
	"postgresql-${PG_MAJOR}-repack"	# test/ops/repack.sh
	"postgresql-client-${PG_MAJOR}"
	libtap-parser-sourcehandler-pgtap-perl
	libicu-dev
	pkg-config
	build-essential
	cppcheck
	bc
	sudo
)
# extras for the targets that are not part of `make test`
case "${1:-}" in
bench) PACKAGES+=(valgrind linux-perf) ;;	# bench/instructions.sh: callgrind; bench/profile.sh: perf
fuzz) PACKAGES+=(sqlsmith) ;;	# make fuzz: random queries after the hostile calls
sanitize) PACKAGES+=(libgcc-12-dev) ;;	# make check-sanitize: gcc's libasan and libubsan
esac

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
# another installation may be running (unattended upgrades, a second
# make): wait up to 10 minutes for the package manager's lock, not fail
APT_WAIT=(-o DPkg::Lock::Timeout=600)
apt-get "${APT_WAIT[@]}" update -qq
# The server package would otherwise create and start a "main" cluster that
# nothing here uses; tests and the demo start their own throwaway clusters.
mkdir -p /etc/postgresql-common/createcluster.d
if [ ! -e /etc/postgresql-common/createcluster.d/protector-no-main.conf ]; then
	echo "create_main_cluster = false" > /etc/postgresql-common/createcluster.d/protector-no-main.conf
fi
apt-get "${APT_WAIT[@]}" install -y -qq --no-install-recommends "${missing[@]}"
