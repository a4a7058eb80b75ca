#!/usr/bin/env bash
# Makes sure headless Chromium is there for the console's browser tests: IAT_CHROMIUM, or
# chromium on the PATH, else Debian's package (as root, or through sudo).
set -euo pipefail
if [[ -n "${IAT_CHROMIUM:-}" && -x "${IAT_CHROMIUM}" ]] || command -v chromium >/dev/null 2>&1 \
  || command -v chromium-browser >/dev/null 2>&1 || command -v google-chrome >/dev/null 2>&1; then
  exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
  echo "install-browser: no Chromium and no apt-get; install Chromium and put it on the PATH (or set IAT_CHROMIUM)" >&2
  exit 1
fi
sudo=""
if [[ "$(id -u)" != 0 ]]; then
  command -v sudo >/dev/null 2>&1 || { echo "install-browser: installing Chromium needs root or sudo" >&2; exit 1; }
  sudo="sudo"
fi
echo "installing headless Chromium (Debian package chromium) for the console's browser tests" >&2
install() { $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends chromium >/dev/null; }
install || { $sudo apt-get update -q >/dev/null && install; }
command -v chromium >/dev/null
