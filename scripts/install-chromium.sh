#!/usr/bin/env bash
# Install Debian's Chromium and its WebDriver (packages `chromium`, `chromium-driver`) for the
# `browser` tests (tests/browser: selenium drives a headless Chromium against the web page).
#
# Idempotent and fully non-interactive (works with no stdin, e.g. in CI):
#   * does nothing but report paths and versions when both binaries are already there;
#   * otherwise refreshes the package lists (apt-get update) and installs both packages with
#     DEBIAN_FRONTEND=noninteractive and --no-install-recommends (no fonts, no extras the
#     headless tests do not use).
# Needs root (or passwordless sudo) only when something is missing. Browsers that an install
# step downloads from elsewhere (Playwright's, Chrome for Testing) are not used: the Debian
# ones come from the same mirror as everything else.
set -euo pipefail

PKGS=(chromium chromium-driver)

log() { printf '[install-chromium] %s\n' "$*" >&2; }

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

# The first of these names on PATH (Debian installs /usr/bin/chromium; other distributions
# and older packages use the other names).
find_first() {
  local c
  for c in "$@"; do
    if command -v "$c" >/dev/null 2>&1; then command -v "$c"; return 0; fi
  done
  return 1
}

find_browser() { find_first chromium chromium-browser; }
find_driver() { find_first chromedriver chromium-driver; }

if ! find_browser >/dev/null || ! find_driver >/dev/null; then
  start=$(date +%s)
  log "chromium or chromedriver not found; installing ${PKGS[*]}"
  as_root apt-get update -q </dev/null
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
    -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold "${PKGS[@]}" \
    </dev/null
  log "installed ${PKGS[*]} in $(( $(date +%s) - start ))s"
fi

BROWSER=$(find_browser) || { log "chromium still missing"; exit 1; }
DRIVER=$(find_driver) || { log "chromedriver still missing"; exit 1; }
echo "chromium: $BROWSER"
echo "chromedriver: $DRIVER"
# Both print one line; neither needs a display for --version.
echo "chromium version: $("$BROWSER" --version 2>/dev/null | head -n1 || echo unknown)"
echo "chromedriver version: $("$DRIVER" --version 2>/dev/null | head -n1 || echo unknown)"
