"""Plots (issue 14): written whole or not at all, silent, and a comparison chart that says what
it shows: the models and tokens, hours and dollars, renting or owning, and the frontier."""

import errno
import os
import subprocess
import sys

import pytest
from matplotlib.figure import Figure

from traintime import plots
from traintime.compare import compare
from traintime.errors import SpecError


def _row(model, label, days, cost, kind="rent", fits=True):
    return {
        "model": model,
        "label": label,
        "fits": fits,
        "days": days if fits else None,
        "cost_usd": cost if fits else None,
        "cost_kind": kind if fits else "-",
    }


ROWS = [
    _row("small", "8 x H100", 1.0, 900.0),  # fastest
    _row("small", "1 x H100", 4.0, 950.0),  # slower and dearer than 8 x H100: dominated
    _row("small", "8 x 4090", 2.0, 300.0, "own"),  # on the frontier
    _row("small", "1 x 4090", 10.0, 250.0, "own"),  # cheapest: on the frontier
    _row("small", "1 x 4070", 20.0, 260.0, "own"),  # dominated by 1 x 4090
    _row("small", "1 x 3060", None, None, fits=False),
    _row("big", "8 x H100", 5.0, 4000.0),
    _row("big", "8 x 4090", 9.0, 1500.0, "own"),
    _row("big", "1 x 4090", None, None, fits=False),
    _row("big", "1 x A10", 30.0, None),  # fits, no price
]


def _legend_texts(fig):
    legend = fig.axes[0].get_legend()
    return [t.get_text() for t in legend.get_texts()]


def _frontier_lines(fig):
    return [ln for ln in fig.axes[0].get_lines() if ln.get_drawstyle() == "steps-post"]


def _files(directory):
    return sorted(p.name for p in directory.iterdir())


# --- whole or not at all -------------------------------------------------------------------


def _fail_midway(exc):
    def savefig(self, fname, *args, **kwargs):
        fname.write(b"\x89PNG half a picture")  # some bytes reach the file, then it fails
        raise exc

    return savefig


@pytest.mark.parametrize("exc", [OSError(errno.ENOSPC, "No space left on device"), RuntimeError])
def test_a_failed_save_leaves_no_file(tmp_path, monkeypatch, exc):
    monkeypatch.setattr(Figure, "savefig", _fail_midway(exc))
    target = tmp_path / "c.png"
    with pytest.raises(SpecError) as err:
        plots.save(plots.comparison_figure(ROWS), target)
    message = str(err.value)
    assert "\n" not in message and str(target) in message
    assert _files(tmp_path) == []  # no target, no temporary file


def test_a_failed_save_keeps_the_old_file(tmp_path, monkeypatch):
    target = tmp_path / "c.png"
    target.write_bytes(b"the previous plot")
    monkeypatch.setattr(Figure, "savefig", _fail_midway(OSError(errno.EIO, "I/O error")))
    with pytest.raises(SpecError, match="I/O error"):
        plots.save(plots.comparison_figure(ROWS), target)
    assert target.read_bytes() == b"the previous plot" and _files(tmp_path) == ["c.png"]


def test_a_failed_html_page_leaves_no_file(tmp_path, monkeypatch):
    def broken(title, bodies):
        raise ValueError("cannot serialize")

    monkeypatch.setattr(plots, "html_page", broken)
    with pytest.raises(SpecError, match="cannot serialize"):
        plots.save(plots.comparison_figure(ROWS), tmp_path / "c.html")
    assert _files(tmp_path) == []


def test_a_failed_rename_leaves_no_temporary_file(tmp_path, monkeypatch):
    def no_rename(src, dst):
        raise PermissionError(errno.EACCES, "Permission denied")

    monkeypatch.setattr(os, "replace", no_rename)
    with pytest.raises(SpecError, match="Permission denied"):
        plots.save(plots.comparison_figure(ROWS), tmp_path / "c.svg")
    assert _files(tmp_path) == []


def test_an_interrupted_save_leaves_no_file(tmp_path, monkeypatch):
    monkeypatch.setattr(Figure, "savefig", _fail_midway(KeyboardInterrupt()))
    with pytest.raises(KeyboardInterrupt):
        plots.save(plots.comparison_figure(ROWS), tmp_path / "c.png")
    assert _files(tmp_path) == []


def test_a_missing_directory_is_one_line_naming_the_path(tmp_path):
    target = tmp_path / "nowhere" / "c.png"
    with pytest.raises(SpecError) as err:
        plots.save(plots.comparison_figure(ROWS), target)
    assert str(target) in str(err.value) and "No such file" in str(err.value)


def test_save_returns_the_path_and_writes_whole_files(tmp_path):
    for name in ("c.png", "c.svg", "c.html"):
        path = plots.save(plots.comparison_figure(ROWS), tmp_path / name)
        assert path == tmp_path / name and path.stat().st_size > 1000
    assert (tmp_path / "c.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert (tmp_path / "c.svg").read_text().rstrip().endswith("</svg>")
    assert (tmp_path / "c.html").read_text().endswith("</html>")
    assert _files(tmp_path) == ["c.html", "c.png", "c.svg"]


def test_new_files_follow_the_umask_and_replaced_files_keep_their_mode(tmp_path):
    umask = os.umask(0)
    os.umask(umask)
    new = plots.save(plots.comparison_figure(ROWS), tmp_path / "new.png")
    assert new.stat().st_mode & 0o777 == 0o666 & ~umask
    old = tmp_path / "old.png"
    old.write_bytes(b"x")
    old.chmod(0o600)
    plots.save(plots.comparison_figure(ROWS), old)
    assert old.stat().st_mode & 0o777 == 0o600 and old.stat().st_size > 1000


def test_a_symlink_is_written_through(tmp_path):
    real = tmp_path / "real.png"
    real.write_bytes(b"old")
    link = tmp_path / "link.png"
    link.symlink_to(real)
    plots.save(plots.comparison_figure(ROWS), link)
    assert link.is_symlink() and real.stat().st_size > 1000


# --- the comparison figure ---------------------------------------------------------------


def test_frontier_is_the_setups_nothing_beats_on_both():
    points = [(1.0, 900.0), (4.0, 950.0), (2.0, 300.0), (10.0, 250.0), (20.0, 260.0)]
    assert plots.frontier(points) == [0, 2, 3]
    assert plots.frontier([(1.0, 5.0), (1.0, 5.0), (1.0, 6.0), (2.0, 5.0)]) == [0, 1]
    assert plots.frontier([]) == []


def test_comparison_says_what_it_shows():
    fig = plots.comparison_figure(ROWS, tokens=10e9)
    ax = fig.axes[0]
    assert "hours" in ax.get_xlabel() and "time to train" in ax.get_xlabel()
    assert "US dollars" in ax.get_ylabel() and "cost" in ax.get_ylabel()
    assert ax.get_xscale() == "log" and ax.get_yscale() == "log"
    heading = fig.get_suptitle()
    assert "small" in heading and "big" in heading and "10B tokens" in heading
    # what was left out, and why
    assert (
        ax.get_title() == "7 of 10 setups shown; not shown: 2 do not fit in memory, 1 have no price"
    )
    texts = _legend_texts(fig)
    assert "small" in texts and "big" in texts  # one colour per model
    assert plots.COST_KINDS["rent"][1] in texts and plots.COST_KINDS["own"][1] in texts
    assert any(t.startswith(plots.FRONTIER_LABEL) for t in texts)


def test_comparison_plots_only_setups_that_fit_and_have_a_price():
    fig = plots.comparison_figure(ROWS)
    offsets = [tuple(p) for c in fig.axes[0].collections for p in c.get_offsets()]
    shown = [r for r in ROWS if r["fits"] and r["cost_usd"] is not None]
    assert sorted(offsets) == sorted((r["days"] * 24, r["cost_usd"]) for r in shown)
    marks = {c.get_paths()[0].vertices.shape for c in fig.axes[0].collections}
    assert len(marks) == 2  # circles (rent) and squares (own) are different markers


def test_comparison_marks_the_frontier_of_each_model_in_hours():
    fig = plots.comparison_figure(ROWS)
    lines = {tuple(ln.get_xdata()): list(ln.get_ydata()) for ln in _frontier_lines(fig)}
    assert lines == {(24.0, 48.0, 240.0): [900.0, 300.0, 250.0], (120.0, 216.0): [4000.0, 1500.0]}
    colours = {ln.get_color() for ln in _frontier_lines(fig)}
    assert len(colours) == 2


def test_one_model_needs_no_model_legend_and_a_title_can_be_given():
    rows = [r for r in ROWS if r["model"] == "small"]
    fig = plots.comparison_figure(rows, title="my run")
    texts = _legend_texts(fig)
    assert "small" not in texts and texts[-1] == plots.FRONTIER_LABEL
    assert fig.get_suptitle() == "my run"
    assert plots.comparison_figure(rows).get_suptitle() == "Time against cost: small"
    with_tokens = [dict(r, tokens=2.5e9) for r in rows]
    assert plots.comparison_figure(with_tokens).get_suptitle().endswith("on 2.5B tokens")


def test_comparison_with_nothing_to_plot(tmp_path):
    rows = [_row("big", "1 x 4070", None, None, fits=False)]
    fig = plots.comparison_figure(rows, tokens=1e9)
    ax = fig.axes[0]
    assert ax.get_legend() is None and not _frontier_lines(fig)
    assert any("no setup" in t.get_text() for t in ax.texts)
    assert "1 do not fit" in ax.get_title()
    assert plots.save(fig, tmp_path / "empty.png").stat().st_size > 1000


def test_comparison_of_real_rows(tmp_path):
    rows = compare("gpt2,nanochat-d20", ["4090", "h100"], counts=[1, 8], tokens="2B")
    fig = plots.comparison_figure([r.model_dump() for r in rows], tokens=2e9)
    assert "gpt2-124m" in fig.get_suptitle() and "2B tokens" in fig.get_suptitle()
    assert _frontier_lines(fig)
    assert plots.save(fig, tmp_path / "c.png") == tmp_path / "c.png"


# --- silence -------------------------------------------------------------------------------


def test_nothing_printed(tmp_path, capfd):
    plots.save(plots.comparison_figure(ROWS, tokens=1e9), tmp_path / "c.svg")
    plots.save(plots.comparison_figure([]), tmp_path / "e.png")
    assert capfd.readouterr() == ("", "")


SCRIPT = """
import sys
import traintime
from traintime import plots
est = traintime.estimate("gpt2", "4090", tokens="1B")
plots.save(plots.estimate_figure(est), sys.argv[1] + "/e.png")
plots.save(plots.comparison_figure([{"model": "m", "label": "x\\u2728", "fits": True,
    "days": 1.0, "cost_usd": 2.0, "cost_kind": "rent"}]), sys.argv[1] + "/c.png")
assert "matplotlib.pyplot" not in sys.modules  # no global backend chosen for the caller
"""


@pytest.mark.parametrize("config", ["fresh", "unwritable"])
def test_nothing_printed_while_matplotlib_builds_its_font_cache(tmp_path, config):
    """A first run builds the font cache and an unusable config directory makes a temporary
    one; matplotlib says so on stderr unless told to keep quiet."""
    env = dict(os.environ, MPLCONFIGDIR=str(tmp_path / "mpl"))
    if config == "unwritable":
        env["MPLCONFIGDIR"] = "/proc/traintime-nonexistent"
    env.pop("PYTHONWARNINGS", None)
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(tmp_path)], env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    assert (done.stdout, done.stderr) == ("", "")
    assert (tmp_path / "c.png").stat().st_size > 1000
