"""Regenerate docs/web.png: the founding question in the web page (headless Chromium).

    python bench/screenshot.py [--width 1280] [--height 2000]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.web.browser import browser_or_reason, chromium, served, wait_ready  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--width", type=int, default=1280)
    parser.add_argument("--height", type=int, default=2000)
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "web.png")
    args = parser.parse_args()
    found = browser_or_reason()
    if isinstance(found, str):
        sys.exit(found)
    with served() as url, chromium(*found, width=args.width, height=args.height) as web:
        web.get(url)
        if wait_ready(web) != "ready":
            sys.exit("the page showed an error")
        web.save_screenshot(str(args.out))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
