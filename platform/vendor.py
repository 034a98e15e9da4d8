"""The portals' third-party browser code, from the npm registry: `package.json` pins it,
`package-lock.json` holds its checksums, `npm ci` fetches it into node_modules/ and the files the
pages load are copied into static/vendor/ (both folders git-ignored), where the platform's static
files serve them. Nothing is copied into the repository.

`make run` and `make test` (run.py, test.py) call `ensure_vendor()`; it does nothing while
static/vendor/ matches the lock file. As root it installs Debian's `nodejs` and `npm` when `npm` is
missing. Run alone: `python platform/vendor.py` (before `manage.py collectstatic` in production).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LOCK = ROOT / "package-lock.json"
VENDOR = ROOT / "static" / "vendor"
STAMP = VENDOR / ".package-lock.sha256"
# What the pages load: node_modules/<path> -> static/vendor/<path>.
FILES = {
    "uplot/dist/uPlot.iife.min.js": "uplot/uPlot.iife.min.js",  # the charts (static/charts.js)
    "uplot/dist/uPlot.min.css": "uplot/uPlot.min.css",
    "uplot/LICENSE": "uplot/LICENSE",
}


def _lock_digest() -> str:
    return hashlib.sha256(LOCK.read_bytes()).hexdigest()


def up_to_date() -> bool:
    return STAMP.exists() and STAMP.read_text().strip() == _lock_digest() and all(
        (VENDOR / target).exists() for target in FILES.values()
    )  # fmt: skip


def ensure_npm() -> str:
    npm = shutil.which("npm")
    if npm:
        return npm
    if os.geteuid() != 0:
        raise SystemExit("The portals' browser code needs npm: apt-get install nodejs npm (as root).")
    print("\n== installing Debian's nodejs and npm for the portals' browser code", flush=True)
    apt_env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    subprocess.run(["apt-get", "update", "-qq"], check=True, env=apt_env)
    subprocess.run(["apt-get", "install", "-y", "-qq", "--no-install-recommends", "nodejs", "npm"], check=True,
                   env=apt_env)  # fmt: skip
    return shutil.which("npm") or "npm"


def ensure_vendor() -> None:
    """static/vendor/ as package-lock.json says: `npm ci` and the copies, unless already so."""
    if up_to_date():
        return
    npm = ensure_npm()
    print("\n== npm ci: the portals' browser code into static/vendor/", flush=True)
    subprocess.run([npm, "ci", "--no-audit", "--no-fund", "--ignore-scripts"], cwd=ROOT, check=True)
    for source, target in FILES.items():
        (VENDOR / target).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(ROOT / "node_modules" / source, VENDOR / target)
    STAMP.write_text(_lock_digest() + "\n")


if __name__ == "__main__":
    ensure_vendor()
    sys.exit(0)
