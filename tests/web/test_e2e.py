"""End to end in headless Chromium: fill the form for the founding question, wait for the
answer, and check its numbers against the CLI's for the same scenario; then change the GPU and
check again; then a phone-sized window. Skips (saying why) only where no browser is installed.

Ground truth: `traintime --json` (the same one evaluation path)."""

import json

import pytest

pytest.importorskip("fastapi")
pytest.importorskip("uvicorn")

from tests.web.browser import browser_or_reason, chromium, served, wait_ready  # noqa: E402
from traintime.cli import main  # noqa: E402

FOUND = browser_or_reason()
pytestmark = pytest.mark.skipif(isinstance(FOUND, str), reason=str(FOUND))


def _cli(args, capsys):
    with pytest.raises(SystemExit):
        main([*args, "--json"])
    return json.loads(capsys.readouterr().out)


def _set(web, element_id, value):
    from selenium.webdriver.common.by import By

    field = web.find_element(By.ID, element_id)
    web.execute_script(
        "const e = arguments[0]; e.value = arguments[1];"
        "e.dispatchEvent(new Event('input', {bubbles: true}));"
        "e.dispatchEvent(new Event('change', {bubbles: true}));",
        field,
        value,
    )


def _days(web):
    from selenium.webdriver.common.by import By

    return web.find_element(By.ID, "result-days").text.strip()


def _wait_days(web, expected, timeout_s=60):
    from selenium.webdriver.support.ui import WebDriverWait

    WebDriverWait(web, timeout_s).until(lambda d: _days(d) == expected)


def test_founding_question_in_the_browser_matches_the_cli(capsys):
    from selenium.webdriver.common.by import By

    browser, driver = FOUND
    founding = _cli([], capsys)
    on_4090 = _cli(["estimate", "--gpu", "GeForce RTX 4090"], capsys)
    qlora = _cli(
        ["estimate", "--model", "llama-3.1-8b", "--gpu", "GeForce RTX 4070", "--tokens", "100M",
         "--seq-len", "2048", "--finetune", "qlora"],
        capsys,
    )  # fmt: skip
    with served() as url, chromium(browser, driver) as web:
        web.get(url)
        assert wait_ready(web) == "ready"
        _set(web, "model", "nanochat-d32")
        _set(web, "gpu", "GeForce RTX 4070")
        _set(web, "gpus", "1")
        _wait_days(web, f"{founding['time']['total_days']:.1f}")
        assert wait_ready(web) == "ready"
        fit = web.find_element(By.ID, "result-fit").text.lower()
        assert ("fits" in fit) == founding["memory"]["fits"] or "does not fit" in fit
        assert "traintime" in web.find_element(By.ID, "command").text
        _set(web, "gpu", "GeForce RTX 4090")
        _wait_days(web, f"{on_4090['time']['total_days']:.1f}")
        # the second founding question (issue 17): QLoRA of Llama-3.1-8B on the 4070
        _set(web, "model", "llama-3.1-8b")
        _set(web, "gpu", "GeForce RTX 4070")
        _set(web, "tokens", "100M")
        _set(web, "seq-len", "2048")
        _set(web, "finetune", "qlora")
        _wait_days(web, f"{qlora['time']['total_days']:.1f}")
        assert "41,943,040 trainable" in web.find_element(By.ID, "result-details").text
        errors = [e for e in web.get_log("browser") if e["level"] == "SEVERE"]
        assert not errors, errors


def test_phone_sized_window_does_not_scroll_sideways():
    browser, driver = FOUND
    with served() as url, chromium(browser, driver, width=390, height=844) as web:
        web.get(url)
        assert wait_ready(web) == "ready"
        width = web.execute_script("return document.documentElement.scrollWidth")
        inner = web.execute_script("return window.innerWidth")
        assert width <= inner + 1, (width, inner)
