#!/usr/bin/env bash
# Makes sure PostgreSQL answers on 127.0.0.1:5432 with trust auth for user postgres.
# Uses the server that is running; otherwise starts Debian's cluster, installing
# PostgreSQL first when it is missing (CI and newcomers start from a clean machine).
set -euo pipefail

pg_up() {
  if command -v pg_isready >/dev/null 2>&1; then
    pg_isready -h 127.0.0.1 -p 5432 -q
  else
    (exec 3<>/dev/tcp/127.0.0.1/5432) 2>/dev/null
  fi
}

if pg_up; then
  exit 0
fi

echo "PostgreSQL is not answering on 127.0.0.1:5432: starting it" >&2
SUDO=""
if [ "$(id -u)" != "0" ]; then SUDO="sudo"; fi

if ! ls /etc/postgresql/*/main >/dev/null 2>&1; then
  echo "Installing PostgreSQL from Debian's packages" >&2
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq postgresql >/dev/null
  installed_now=1
fi

version=$(ls /etc/postgresql | sort -V | tail -n 1)
conf_dir=/etc/postgresql/$version/main
if [ "${installed_now:-0}" = "1" ] || ! grep -q "homeward: trust" "$conf_dir/pg_hba.conf"; then
  # Local development only: trust connections from this machine, as CONTRACT.md expects.
  $SUDO sed -i '1i # homeward: trust local TCP connections (development and CI only)\nhost all all 127.0.0.1/32 trust\nhost all all ::1/128 trust' "$conf_dir/pg_hba.conf"
fi
$SUDO pg_ctlcluster --skip-systemctl-redirect "$version" main start || true

for _ in $(seq 1 30); do
  if pg_up; then exit 0; fi
  sleep 1
done
echo "PostgreSQL did not start on 127.0.0.1:5432" >&2
exit 1
