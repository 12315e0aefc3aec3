"""Headless Chromium for the end-to-end tests and the README screenshot: the app served by
uvicorn in a thread on a free loopback port, and a Selenium driver on Debian's chromium and
chromium-driver. ``browser_or_reason()`` says why there is none instead of failing."""

from __future__ import annotations

import contextlib
import shutil
import socket
import threading
import time
from collections.abc import Iterator

CHROMIUM = ("chromium", "chromium-browser", "google-chrome")
DRIVER = ("chromedriver", "chromium-driver")


def _which(names: tuple[str, ...]) -> str | None:
    return next((p for n in names if (p := shutil.which(n))), None)


def browser_or_reason() -> tuple[str, str] | str:
    """(browser, driver) paths, or why they are missing."""
    browser, driver = _which(CHROMIUM), _which(DRIVER)
    if browser is None or driver is None:
        return (
            f"no headless browser: chromium {'found' if browser else 'missing'}, "
            f"chromedriver {'found' if driver else 'missing'} "
            "(apt-get install chromium chromium-driver)"
        )
    try:
        import selenium  # noqa: F401
    except ImportError:
        return "selenium is not installed (pip install selenium)"
    return browser, driver


@contextlib.contextmanager
def served() -> Iterator[str]:
    """The app on a free loopback port, for the duration of the block; yields its URL."""
    import uvicorn

    from traintime.web.app import create_app

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = uvicorn.Server(
        uvicorn.Config(create_app(), host="127.0.0.1", port=port, log_level="warning")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline:
            raise RuntimeError("the app did not start within 20 s")
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}/"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


@contextlib.contextmanager
def chromium(browser: str, driver: str, *, width: int = 1280, height: int = 1800) -> Iterator:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = browser
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                f"--window-size={width},{height}"):  # fmt: skip
        options.add_argument(arg)
    web = webdriver.Chrome(service=Service(driver), options=options)
    try:
        yield web
    finally:
        web.quit()


def wait_ready(web, timeout_s: float = 60.0) -> str:
    """Wait until the page shows a result (``#status`` ready) or an error; returns it."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    def state(d):
        text = (
            d.find_element(By.ID, "status").get_attribute("data-state")
            or d.find_element(By.ID, "status").text
        )
        return text if text in ("ready", "error") else False

    return WebDriverWait(web, timeout_s).until(state)
