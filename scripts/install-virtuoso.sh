#!/usr/bin/env bash
# Install Virtuoso Open Source 7 (Debian package `virtuoso-opensource`) for the `server` tests.
#
# Idempotent and fully non-interactive (works with no stdin, e.g. in CI):
#   * does nothing but report paths when `virtuoso-t` is already on PATH;
#   * preseeds debconf (empty dba password: the package then leaves its system daemon
#     disabled) and installs with DEBIAN_FRONTEND=noninteractive, --no-install-recommends
#     (no Conductor / start page VADs);
#   * blocks service starts during the install with a temporary policy-rc.d, then makes sure
#     the system instance is disabled (RUN=no) and not running. The tests start their own
#     throwaway instance (tests/virtuoso.py); the system one is never used.
# Needs root (or passwordless sudo) only when the package is missing.
set -euo pipefail

PKG="virtuoso-opensource"
INIT_NAME="virtuoso-opensource-7"

log() { printf '[install-virtuoso] %s\n' "$*" >&2; }

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
    SUDO="sudo -n"
  fi
fi

as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; elif [ -n "$SUDO" ]; then $SUDO "$@"; else
    log "need root (or passwordless sudo) to run: $*"
    return 1
  fi
}

find_isql() {
  local c
  for c in isql-vt isql-v isql; do
    if command -v "$c" >/dev/null 2>&1; then command -v "$c"; return 0; fi
  done
  return 1
}

# Stop a system instance the package may have started (it listens on 1111/8890) and keep it
# disabled. Only touches the Debian service, never our own throwaway instances.
disable_system_service() {
  if [ -f "/etc/default/$INIT_NAME" ]; then
    as_root sed -i 's/^RUN=yes/RUN=no/' "/etc/default/$INIT_NAME" || true
  fi
  if [ -x "/etc/init.d/$INIT_NAME" ]; then
    # Stop it if running (no-op otherwise); never fail the script over this.
    as_root "/etc/init.d/$INIT_NAME" stop >/dev/null 2>&1 || true
  fi
  if command -v systemctl >/dev/null 2>&1 && [ -d /run/systemd/system ]; then
    as_root systemctl disable --now "$INIT_NAME" >/dev/null 2>&1 || true
  fi
}

if ! command -v virtuoso-t >/dev/null 2>&1; then
  start=$(date +%s)
  export DEBIAN_FRONTEND=noninteractive DEBCONF_NONINTERACTIVE_SEEN=true
  log "virtuoso-t not found; installing $PKG"

  # Preseed: an empty dba password means "leave the system daemon disabled".
  as_root debconf-set-selections <<'EOF'
virtuoso-opensource-7 virtuoso-opensource-7/dba-password password
virtuoso-opensource-7 virtuoso-opensource-7/dba-password-again password
virtuoso-opensource-7 virtuoso-opensource-7/register-odbc-dsn boolean false
libvirtodbc0 libvirtodbc0/register-odbc-driver boolean false
EOF

  # Keep invoke-rc.d from starting the system daemon during the install.
  policy=/usr/sbin/policy-rc.d
  created_policy=0
  if [ ! -e "$policy" ]; then
    as_root sh -c "printf '#!/bin/sh\nexit 101\n' > $policy && chmod 755 $policy"
    created_policy=1
  fi
  cleanup_policy() { if [ "$created_policy" = 1 ]; then as_root rm -f "$policy"; fi; }
  trap cleanup_policy EXIT

  apt_opts=(-y -q --no-install-recommends -o Dpkg::Options::=--force-confdef
            -o Dpkg::Options::=--force-confold)
  if ! as_root env DEBIAN_FRONTEND=noninteractive apt-get install "${apt_opts[@]}" "$PKG" \
      </dev/null; then
    log "apt-get install failed; refreshing package lists and retrying once"
    as_root apt-get update -q </dev/null
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install "${apt_opts[@]}" "$PKG" \
      </dev/null
  fi
  cleanup_policy
  trap - EXIT
  log "installed $PKG in $(( $(date +%s) - start ))s"
fi

disable_system_service

VIRTUOSO_T=$(command -v virtuoso-t) || { log "virtuoso-t still missing"; exit 1; }
ISQL=$(find_isql) || { log "isql-vt not found"; exit 1; }
echo "virtuoso-t: $VIRTUOSO_T"
echo "isql: $ISQL"
usage=$("$VIRTUOSO_T" -? 2>&1 || true)
echo "version: $(printf '%s\n' "$usage" | grep -m1 -i 'version' || echo unknown)"
