"""The HTML report (issue 14): no empty header rows, every range with its unit, and a file
written whole or not at all."""

import os
import re
from html.parser import HTMLParser

import pytest

import traintime
from traintime import htmlreport, plots
from traintime.errors import SpecError

UNIT = r"(?:s|min|h|days|years)"
RANGE = re.compile(rf"likely [\d.,]+ {UNIT} to [\d.,]+ {UNIT}")


class Rows(HTMLParser):
    """Every table row as a list of (tag, text) cells, and the tags seen in <thead>."""

    def __init__(self):
        super().__init__()
        self.rows, self.heads, self._cell, self._in_head = [], [], None, False

    def handle_starttag(self, tag, attrs):
        if tag == "thead":
            self._in_head = True
            self.heads.append([])
        elif tag == "tr":
            self.rows.append([])
        elif tag in ("th", "td"):
            self._cell = [tag, ""]

    def handle_endtag(self, tag):
        if tag == "thead":
            self._in_head = False
        elif tag in ("th", "td") and self._cell is not None:
            self.rows[-1].append(tuple(self._cell))
            if self._in_head:
                self.heads[-1].append(self._cell[1])
            self._cell = None

    def handle_data(self, data):
        if self._cell is not None:
            self._cell[1] += data


def _parse(text):
    parser = Rows()
    parser.feed(text)
    return parser


def _summary(text):
    """The summary table as {name: value} (the first cell of each row heads it)."""
    start = text.index("<h2>Summary</h2>")
    table = _parse(text[start : text.index("</table>", start)])
    return {cells[0][1]: cells[1][1] for cells in table.rows}


@pytest.fixture(scope="module")
def est():
    return traintime.estimate("gpt2", "h100", tokens="20B")


def test_no_empty_header_rows(tmp_path, est):
    text = htmlreport.write_report(est, tmp_path / "r.html").read_text()
    parsed = _parse(text)
    assert parsed.rows
    for cells in parsed.rows:
        headers = [t for tag, t in cells if tag == "th"]
        assert all(t.strip() for t in headers), cells  # no empty <th>
        assert cells and not all(tag == "th" and not t.strip() for tag, t in cells)
    assert parsed.heads and all(h and all(x.strip() for x in h) for h in parsed.heads)
    assert not re.search(r"<th[^>]*>\s*</th>", text)
    assert "<thead></thead>" not in text and "<tr></tr>" not in text


def test_summary_ranges_carry_units(est):
    summary = _summary(htmlreport.render_report(est))
    time = summary["time"]
    assert est.time.low_hours < 48  # this run's band is in hours
    assert RANGE.search(time) and re.search(r"likely [\d.]+ h to [\d.]+ h", time), time
    assert re.search(r"^[\d.]+ h ", time)
    assert re.search(r"[\d.]+ GiB of [\d.]+ GiB per GPU", summary["memory"])
    assert "tokens/s per GPU" in summary["throughput"]
    assert "tokens/s in all" in summary["throughput"]
    assert re.search(r"[\d,]+ kWh", summary["energy"])


def test_days_and_the_unlimited_memory_label():
    summary = _summary(htmlreport.render_report(traintime.estimate_scenario()))
    time = summary.get("time") or summary["time if memory were unlimited"]
    assert re.search(r"likely [\d.]+ days to [\d.]+ days", time), time


def test_moe_load_imbalance_is_a_range_with_units():
    est = traintime.estimate("olmoe-1b-7b", "h100", gpus=8, tokens="1B")
    summary = _summary(htmlreport.render_report(est))
    assert est.time.balanced_routing_hours
    assert re.search(
        rf"[\d.]+ {UNIT} with routing forced even to [\d.]+ {UNIT}", summary["load imbalance"]
    )


def test_a_finetune_names_its_adapters():
    # issue 17: the report says what a LoRA run trains (Llama-3.1-8B r16 all-linear)
    est = traintime.estimate("llama-3.1-8b", "4090", finetune="lora", tokens=1e8, seq_len=2048)
    summary = _summary(htmlreport.render_report(est))
    assert "LoRA rank 16: 41,943,040 trainable parameters" in summary["fine-tune"]
    full = _summary(htmlreport.render_report(traintime.estimate_scenario()))
    assert "fine-tune" not in full


def test_plan_table_has_one_named_header_row(est):
    text = htmlreport.render_report(est)
    start = text.index("<h2>Plan and alternatives</h2>")
    parsed = _parse(text[start : text.index("</table>", start)])
    assert parsed.heads == [list(htmlreport.PLAN_COLUMNS)]
    assert all(tag == "td" for cells in parsed.rows[1:] for tag, _ in cells)


def test_write_report_returns_the_path(tmp_path, est):
    path = tmp_path / "r.html"
    assert htmlreport.write_report(est, str(path)) == path
    assert path.read_text().endswith("</html>")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r.html"]


def test_a_failed_report_keeps_the_old_file_and_leaves_no_temporary(tmp_path, est, monkeypatch):
    path = tmp_path / "r.html"
    path.write_text("the previous report")

    def broken(fig):
        raise RuntimeError("svg went wrong")

    monkeypatch.setattr(plots, "svg_text", broken)
    with pytest.raises(SpecError) as err:
        htmlreport.write_report(est, path)
    message = str(err.value)
    assert "\n" not in message and str(path) in message and "svg went wrong" in message
    assert path.read_text() == "the previous report"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r.html"]


def test_a_failure_midway_through_writing_leaves_no_file(tmp_path, est, monkeypatch):
    """The page's bytes are written when the disk reports it full: neither the page nor a
    temporary file stays."""

    def full(fd):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", full)
    path = tmp_path / "r.html"
    with pytest.raises(SpecError, match="No space left on device"):
        htmlreport.write_report(est, path)
    assert list(tmp_path.iterdir()) == []


def test_report_errors_name_the_path(tmp_path, est):
    with pytest.raises(SpecError, match="must end in .html"):
        htmlreport.write_report(est, tmp_path / "r.txt")
    missing = tmp_path / "no" / "r.html"
    with pytest.raises(SpecError) as err:
        htmlreport.write_report(est, missing)
    assert str(missing) in str(err.value) and "No such file" in str(err.value)


def test_report_prints_nothing(tmp_path, est, capfd):
    htmlreport.write_report(est, tmp_path / "r.html")
    assert capfd.readouterr() == ("", "")
