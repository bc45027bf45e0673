import re
from html.parser import HTMLParser

import numpy as np
import pytest

from benchmark.reports.report import write_report
from browser import chromium, layout_width, screenshot
from report_records import make_record, write_record

VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}


class _Checker(HTMLParser):
    """Balanced tags (void elements excepted) and every URL-bearing attribute a data: URI."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.stack, self.errors, self.tags, self.urls = [], [], {}, []

    def handle_starttag(self, tag, attrs):
        self.tags[tag] = self.tags.get(tag, 0) + 1
        for name, value in attrs:
            if name in ("src", "href", "srcset", "action", "poster", "data", "background"):
                self.urls.append(value or "")
        if tag not in VOID:
            self.stack.append((tag, self.getpos()))

    def handle_startendtag(self, tag, attrs):
        self.handle_starttag(tag, attrs)
        if tag not in VOID:
            self.stack.pop()

    def handle_endtag(self, tag):
        if tag in VOID:
            return
        if not self.stack or self.stack[-1][0] != tag:
            self.errors.append(f"</{tag}> at {self.getpos()} does not close {self.stack[-1] if self.stack else None}")
        else:
            self.stack.pop()


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    d = tmp_path_factory.mktemp("res")
    for seed, (mig, nll) in enumerate([(0.1, 30.0), (0.3, 40.0), (0.2, 35.0)]):
        for hp, shift in ((1.0, 0.0), (8.0, 0.2)):
            rid = f"b{hp:g}-s{seed}"
            write_record(d, make_record(run_id=rid, metric="mig", hparam=hp, seed=seed, steps=2_000,
                                        values={"mig": mig + shift},
                                        protocol={"num_train": 10_000, "num_bins": 20, "factors": ["scale", "x"]}))
            write_record(d, make_record(run_id=rid, metric="reconstruction", hparam=hp, seed=seed, steps=2_000,
                                        values={"reconstruction.bernoulli_nll": nll + 50 * shift,
                                                "reconstruction.mse": (nll + 50 * shift) / 1e3}))
            write_record(d, make_record(run_id=rid, metric="sap", hparam=hp, seed=seed, steps=2_000,
                                        values={"sap": 0.05 + shift / 4 + 0.01 * seed}))
        rid = f"shapes-s{seed}"
        write_record(d, make_record(run_id=rid, metric="mig", dataset="shapes3d_procedural", seed=seed,
                                    values={"mig": 0.2 + 0.05 * seed}, protocol={"num_train": 10_000, "num_bins": 20}))
    write_record(d, make_record(run_id="b1-s0", metric="dci", hparam=1.0, seed=0, steps=2_000, status="failed",
                                error="ValueError: <bad> & worse"))
    out = tmp_path_factory.mktemp("report")
    res = write_report(d, out)
    return res, (out / "report.html").read_text(encoding="utf-8")


def test_html_is_well_formed_and_self_contained(report):
    res, page = report
    assert page.startswith("<!DOCTYPE html>")
    checker = _Checker()
    checker.feed(page)
    checker.close()
    assert checker.errors == []
    assert checker.stack == []
    assert checker.tags["table"] >= 4 and checker.tags["img"] >= 5
    images = [u for u in checker.urls if not u.startswith("#")]  # "#..." are the page's own anchors
    assert images and all(u.startswith("data:image/png;base64,") for u in images)
    anchors = [u[1:] for u in checker.urls if u.startswith("#")]
    assert anchors and all(f'id="{a}"' in page for a in anchors)
    assert not re.search(r"https?:", page)
    assert not re.search(r"<(script|link|iframe|object|embed)\b", page, re.I)
    assert "url(" not in page  # no CSS fetches either
    assert "@import" not in page


def test_html_has_tables_protocol_provenance_and_warnings(report):
    res, page = report
    # comparability warnings
    assert "shapes3d_procedural: 3 run(s) use the procedural 3D Shapes stand-in" in page
    assert "Protocol deviations from the reference (Locatello et al. 2019): steps 2,000 (reference 300,000) in 6 of " \
           "9 runs." in page
    # protocol: which MIG and the metric parameters, each beside its reference
    assert "Which MIG: <code>mig</code>: the discrete MIG of disentanglement_lib" in page
    assert "<code>mig.num_bins</code></td><td>20</td><td>20</td>" in page
    assert "<code>mig.factors</code></td><td>[&quot;scale&quot;, &quot;x&quot;]</td><td>(no reference)</td>" in page
    # a plain results folder: what is missing is inferred, and the page says so
    assert "a run that left no record cannot be known to be missing" in page
    # provenance: versions and dataset kinds
    assert "<td>torch</td><td>2.4.1</td>" in page and "<td>sklearn</td><td>1.5.2</td>" in page
    assert "<td>dsprites_procedural</td><td>procedural twin</td>" in page
    # failures shown, escaped
    assert "ValueError: &lt;bad&gt; &amp; worse" in page
    # tables: the caption with ddof, bold best
    assert "mean ± sample standard deviation over 3 seeds per setting" in page
    assert "<td><b>0.40 ± 0.10</b></td>" in page  # β = 8 MIG: 0.3, 0.5, 0.4
    assert "<th>MIG ↑</th>" in page and "<th>SAP ↑</th>" in page  # paper labels
    assert "Every expected evaluation has a result" not in page
    # checkpoints are missing: skipped with a note
    assert "have no checkpoint directory here" in page


def test_report_writes_every_format(report):
    res, _ = report
    out = res.out_dir
    for rel in ("tables/summary.csv", "tables/runs.csv", "tables/ranking.csv", "tables/failures.csv",
                "tables/variance.csv", "tables/paper.md", "tables/paper__dsprites_procedural__mean.tex",
                "tables/paper__shapes3d_procedural__mean.tex", "tables/ranking.tex", "tables/ranking.md",
                "figures/metric__dsprites_procedural__mig__mean__1col.pdf",
                "figures/metric__dsprites_procedural__mig__mean__2col.png",
                "figures/tradeoff__dsprites_procedural__mean__1col.png", "figures/rank_correlation__mean__2col.pdf",
                "figures/variance__mean__2col.png"):
        assert (out / rel).is_file(), rel
    assert res.n_failed == 1
    assert res.n_missing == 5  # dci was attempted on one dSprites run, so the other five lack it


@pytest.mark.skipif(chromium() is None, reason="no chromium binary installed (.ci/run installs one)")
def test_report_renders_in_headless_chromium_without_sideways_scrolling(report, tmp_path):
    import matplotlib.image

    res, _ = report
    shot = tmp_path / "shot.png"
    proc = screenshot(res.html, shot, 1400, 6000, tmp_path)
    assert shot.is_file(), proc.stderr[-2000:]
    img = matplotlib.image.imread(shot)[..., :3]
    assert img.shape[:2] == (6000, 1400)
    ink = (img.min(axis=2) < 0.5).mean()  # dark pixels: text, table rules, plot marks
    assert ink > 0.005
    # saturated colours exist only in the embedded figures (the page's own palette is grey, beige, blue-grey):
    # method colours and heat-map pixels prove the base64 images were decoded and drawn
    saturation = img.max(axis=2) - img.min(axis=2)
    assert (saturation > 0.5).sum() > 2000
    rgb = (img * 255).astype(np.uint32).reshape(-1, 3)
    assert len(np.unique(rgb[:, 0] << 16 | rgb[:, 1] << 8 | rgb[:, 2])) > 200
    probe = layout_width(res.html, 1400, tmp_path)
    assert probe["scroll"] <= probe["client"] == 1400 and probe["wide"] == [], probe


def test_parallel_rendering_gives_the_same_figures(grid_results, tmp_path):
    one = write_report(grid_results, tmp_path / "one", formats=("csv",), checkpoint_figures=False, jobs=1)
    two = write_report(grid_results, tmp_path / "two", formats=("csv",), checkpoint_figures=False, jobs=2)
    names = sorted(p.relative_to(one.out_dir) for p in one.files)
    assert names == sorted(p.relative_to(two.out_dir) for p in two.files)
    for rel in names:
        if rel.suffix == ".png":
            assert (one.out_dir / rel).read_bytes() == (two.out_dir / rel).read_bytes(), rel
