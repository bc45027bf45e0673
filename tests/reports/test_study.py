"""A report a paper can use as it is, built from a study-sized synthetic sweep: all six methods × their 6 study
settings × 5 seeds × 2 datasets (360 runs), the seven paper metrics.

Checks what a paper author needs: LaTeX tables of at most 7 metric columns under paper labels that compile in a
standard two-column article without overfull lines (and without ``\\resizebox``), every figure in two print
widths with no type under 8 pt, and a page that never scrolls sideways at 1,400 px.
"""

import re
import shutil
import struct
import subprocess
import zlib
from pathlib import Path

import pytest

from benchmark.config import METHODS
from benchmark.reports import load_results, runs_table
from benchmark.reports import paper as P
from benchmark.reports import plots
from benchmark.reports import tables as T
from benchmark.reports.report import write_report
from benchmark.reports.synthetic import write_synthetic_results
from browser import chromium, layout_width

ARTICLE = r"""\documentclass[twocolumn]{article}
\usepackage{booktabs}
\begin{document}
Text of the paper. %s
\end{document}
"""


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    d = tmp_path_factory.mktemp("study")
    write_synthetic_results(d / "results", models=tuple(METHODS), seeds=5, representations=("mean",),
                            metrics=T.PAPER_METRICS, failed=3)
    res = write_report(d / "results", d / "report", checkpoint_figures=False, jobs=2)
    return res, runs_table(load_results(d / "results"))


def _pdflatex(tmp: Path, body: str) -> str:
    """Compile ``body`` in the two-column article; returns the log (fails on an error)."""
    (tmp / "paper.tex").write_text(ARTICLE % body)
    proc = subprocess.run(["pdflatex", "-interaction=nonstopmode", "-halt-on-error", "paper.tex"], cwd=tmp,
                          capture_output=True, text=True, timeout=180)
    assert proc.returncode == 0, proc.stdout[-3000:]
    return (tmp / "paper.log").read_text(errors="replace")


def _metric_columns(tex: str) -> int:
    spec = re.search(r"\\begin\{tabular\}\{@\{\}l(r+)@\{\}\}", tex)
    assert spec, tex[:400]
    return len(spec.group(1))


def test_latex_tables_are_paper_tables(study):
    res, runs = study
    files = sorted(res.out_dir.glob("tables/paper__*.tex"))
    assert [f.name for f in files] == ["paper__dsprites_procedural__mean.tex", "paper__shapes3d_procedural__mean.tex"]
    labels = [P.latex_escape(T.paper_label(k)) for k in T.paper_metrics(runs)]
    for f in files:
        tex = f.read_text()
        assert _metric_columns(tex) == 7 and r"\begin{table*}" in tex  # 7 columns: the text width
        assert r"\resizebox" not in tex and P.latex_ascii(tex)
        header = next(line for line in tex.splitlines() if line.startswith(" & "))
        assert [re.sub(r"\\begin\{tabular\}\[b\]\{@\{\}c@\{\}\}|\\end\{tabular\}", "", h).replace("\\\\", " ").strip()
                for h in header.removesuffix(r" \\").split(" & ")[1:]] == labels
        assert "over 5 seeds per setting" in tex and tex.count(r"\multicolumn{8}{@{}l}{\textit{") == 6  # the methods
        assert len(re.findall(r"^\\hspace\{0\.6em\}", tex, re.M)) == 36  # 6 methods × 6 settings


@pytest.mark.skipif(shutil.which("pdflatex") is None, reason="pdflatex not installed (.ci/run installs texlive)")
def test_latex_tables_compile_in_a_two_column_article_without_overfull_lines(study, tmp_path):
    res, runs = study
    body = "\n".join(rf"\input{{{f}}}" for f in sorted(res.out_dir.glob("tables/paper__*.tex")))
    log = _pdflatex(tmp_path, body + rf"\input{{{res.out_dir / 'tables' / 'ranking.tex'}}}")
    assert "Overfull \\hbox" not in log, re.findall(r"Overfull \\hbox.*", log)
    # four metric columns: one column of the page (\columnwidth), the worst labels (λ_od, 3-digit NLL) included
    keys = ["mig", "dci.disentanglement", "sap", "reconstruction.bernoulli_nll"]
    tables = P.paper_tables(T.aggregate(runs, metrics=keys), "tex")
    tex = "\n".join(P.to_latex(t) for t in tables)
    assert tex.count(r"\begin{table}[t]") == 2 and r"\begin{table*}" not in tex and _metric_columns(tex) == 4
    log = _pdflatex(tmp_path, tex)
    assert "Overfull \\hbox" not in log, re.findall(r"Overfull \\hbox.*", log)
    if shutil.which("pdftoppm"):  # a page as a person sees it (docs/img/paper_tables.png is one)
        subprocess.run(["pdftoppm", "-png", "-r", "80", "-f", "1", "-l", "1", "paper.pdf", "page"], cwd=tmp_path,
                       check=True, timeout=120)
        assert next(tmp_path.glob("page*.png")).stat().st_size > 5000


def _png_inches(path: Path) -> tuple[float, float, float]:
    """(width in, height in, dpi) from the PNG's IHDR and pHYs chunks."""
    data = path.read_bytes()
    w, h = struct.unpack(">II", data[16:24])
    i = data.index(b"pHYs")
    ppm_x, _, unit = struct.unpack(">IIB", data[i + 4:i + 13])
    assert unit == 1  # pixels per metre
    dpi = ppm_x * 0.0254
    return w / dpi, h / dpi, dpi


def _pdf_facts(path: Path) -> tuple[float, float, set[float]]:
    """(width in, height in, every font size in points the PDF's text operators select)."""
    data = path.read_bytes()
    box = [float(v) for v in re.search(rb"/MediaBox \[([^\]]*)\]", data).group(1).split()]
    sizes = set()
    for m in re.finditer(rb"stream\r?\n(.*?)\r?\nendstream", data, re.S):
        try:
            text = zlib.decompress(m.group(1))
        except zlib.error:
            continue
        sizes |= {float(v) for v in re.findall(rb"/F\d+ ([\d.]+) Tf", text)}
    return box[2] / 72, box[3] / 72, sizes


def test_every_figure_in_two_print_widths_with_type_of_8_points_or_more(study):
    res, runs = study
    figures = sorted(p for p in res.files if p.parent.name == "figures")
    stems = sorted({re.sub(r"__(1col|2col)\.(pdf|png)$", "", p.name) for p in figures})
    # per dataset: the 7 paper metrics by method and setting, the trade-off; rank correlation; variance split
    assert len(stems) == 2 * 8 + 2
    assert {s.split("__")[0] for s in stems} == {"metric", "tradeoff", "rank_correlation", "variance"}
    for stem in stems:
        for suffix, width in plots.WIDTHS.items():
            w, h, dpi = _png_inches(res.out_dir / "figures" / f"{stem}__{suffix}.png")
            assert (round(w, 2), round(dpi) >= 200) == (width, True), (stem, suffix, w, dpi)
            pw, ph, sizes = _pdf_facts(res.out_dir / "figures" / f"{stem}__{suffix}.pdf")
            assert (round(pw, 2), round(ph, 2)) == (width, round(h, 2)), (stem, suffix)
            assert sizes and min(sizes) >= plots.FONT_PT, (stem, suffix, sorted(sizes))
            assert h < 9.5  # fits a page


def test_the_figures_wrap_into_grids_and_keep_each_methods_colour(study):
    res, runs = study
    fig = plots.plot_metric_by_setting(runs, "mig", dataset="shapes3d_procedural", width=plots.ONE_COLUMN)
    rows = {round(ax.get_position().y0, 3) for ax in fig.axes}
    assert len(fig.axes) == 6 and len(rows) == 3  # 2 panels a row in one column, 3 rows
    fig = plots.plot_metric_by_setting(runs, "mig", dataset="shapes3d_procedural", width=plots.TWO_COLUMNS)
    assert len({round(ax.get_position().y0, 3) for ax in fig.axes}) == 2
    for ax in fig.axes:  # every point of a method's panel in the method's colour
        colours = {tuple(round(c, 3) for c in fc[:3]) for fc in ax.collections[-1].get_facecolors()}
        assert colours == {tuple(round(c, 3) for c in plots.to_rgb(plots.method_colour(ax.get_title())))}


@pytest.mark.skipif(chromium() is None, reason="no chromium binary installed (.ci/run installs one)")
def test_the_page_of_the_study_never_scrolls_sideways_at_1400_px(study, tmp_path):
    res, _ = study
    probe = layout_width(res.html, 1400, tmp_path)
    assert probe["scroll"] <= probe["client"] == 1400 and probe["wide"] == [], probe
