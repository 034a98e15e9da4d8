"""The portals' translations: `locale/<code>/LC_MESSAGES/django.po` (and the engine's spoken prompts,
`prompts.po`, read by telephony/media/prompts.py) are committed, the compiled `.mo` files are not
(git-ignored); `make run` and `make test` (run.py, test.py) call `ensure_messages()`, which compiles
them with Django's `compilemessages` (GNU gettext's msgfmt, Debian's `gettext`, installed as root
when missing) whenever a `.po` is newer than its `.mo`. Run alone: `python platform/locales.py`.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LOCALE = ROOT / "locale"


def stale() -> list[Path]:
    """The .po files whose .mo is missing or older."""
    found = sorted(LOCALE.glob("*/LC_MESSAGES/*.po"))
    return [po for po in found if not po.with_suffix(".mo").exists() or _older(po.with_suffix(".mo"), po)]


def _older(path: Path, than: Path) -> bool:
    return path.stat().st_mtime < than.stat().st_mtime


def ensure_msgfmt() -> None:
    if shutil.which("msgfmt"):
        return
    if os.geteuid() != 0:
        raise SystemExit("The portals' translations need GNU gettext: apt-get install gettext (as root).")
    print("\n== installing Debian's gettext for the portals' translations", flush=True)
    apt_env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    subprocess.run(["apt-get", "update", "-qq"], check=True, env=apt_env)
    subprocess.run(["apt-get", "install", "-y", "-qq", "--no-install-recommends", "gettext"], check=True, env=apt_env)


def ensure_messages() -> None:
    if not stale():
        return
    ensure_msgfmt()
    print("\n== compiling the portals' translations (locale/)", flush=True)
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": os.environ.get("DJANGO_SETTINGS_MODULE", "config.settings")}
    languages = [arg for po in stale() for arg in ("--locale", po.parent.parent.name)]
    ignore = [arg for folder in ("node_modules", "var", "static", ".venv") for arg in ("--ignore", folder)]
    command = [sys.executable, "manage.py", "compilemessages", *languages, *ignore, "-v", "0"]
    subprocess.run(command, cwd=ROOT, check=True, env=env)


if __name__ == "__main__":
    ensure_messages()
