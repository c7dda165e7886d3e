"""One self-contained HTML page: every task's leaderboard (sortable by any column), its fronts,
quality against cost, reward models against the truth, and each run's spec one click away.

Nothing is fetched: the figures are embedded as PNG data, the sorting is a few lines of inline
script, and the styles are inline. The page is deterministic for given runs (no dates), so a
regenerated page diffs cleanly.
"""

from __future__ import annotations

import base64
import html
import json
from collections.abc import Mapping, Sequence
from pathlib import Path

from mobench import __version__
from mobench.core.store import write_text_atomic
from mobench.core.text import plural
from mobench.leaderboard import figures
from mobench.leaderboard.aggregate import Leaderboard, LeaderboardRow, Summary
from mobench.leaderboard.collect import RunScores
from mobench.leaderboard.cost import COST_COLUMNS
from mobench.metrics.compute import METRICS

SHOWN_METRICS = ("hypervolume", "hypervolume_share", "inner_product", "controllability",
                 "eum", "spacing", "sparsity", "igd_plus", "non_dominated_share")

STYLE = """
body { font-family: system-ui, sans-serif; margin: 1.5em; color: #111; max-width: 1340px; }
p, ul { max-width: 72em; }
h1 { font-size: 1.5em; } h2 { margin-top: 2.2em; border-bottom: 1px solid #bbb; }
table { border-collapse: collapse; font-size: 0.82em; margin: 0.8em 0; }
th, td { border: 1px solid #bbb; padding: 3px 6px; text-align: right; }
th { background: #eee; font-weight: 600; }
th[data-index] { cursor: pointer; user-select: none; }
th.group { text-align: center; background: #e2e2e2; }
th.sorted-asc::after { content: " \\25B2"; } th.sorted-desc::after { content: " \\25BC"; }
td.name, th.name { text-align: left; }
.ci { color: #555; font-size: 0.85em; white-space: nowrap; }
figure { margin: 0.8em 0; } figcaption { font-size: 0.9em; color: #333; }
img { max-width: 100%; height: auto; border: 1px solid #ddd; }
pre { background: #f6f6f6; padding: 0.6em; overflow-x: auto; font-size: 0.8em; }
details { margin: 0.3em 0; } .note { color: #444; font-size: 0.9em; }
dl.legend { font-size: 0.82em; color: #333; columns: 2; max-width: 72em; }
dl.legend dt { font-family: monospace; } dl.legend dd { margin: 0 0 0.3em 1em; }
@media print { th[data-index] { cursor: default; } details { display: none; } }
"""

# Sorting: the first click on a column shows its best rows first (higher-is-better columns
# descending, lower-is-better and names ascending), the next click reverses; empty cells last.
SCRIPT = """
document.querySelectorAll("table.leaderboard").forEach(function (table) {
  var headers = table.querySelectorAll("th[data-index]");
  headers.forEach(function (header) {
    header.addEventListener("click", function () {
      var column = parseInt(header.getAttribute("data-index"), 10);
      var bestFirstDescending = header.getAttribute("data-better") === "higher";
      var descending = header.classList.contains("sorted-asc") ||
        (!header.classList.contains("sorted-desc") && bestFirstDescending);
      headers.forEach(function (h) { h.classList.remove("sorted-asc", "sorted-desc"); });
      header.classList.add(descending ? "sorted-desc" : "sorted-asc");
      var body = table.tBodies[0];
      var rows = Array.prototype.slice.call(body.rows);
      rows.sort(function (a, b) {
        var x = a.cells[column].getAttribute("data-value");
        var y = b.cells[column].getAttribute("data-value");
        if (x === "" || y === "") { return (x === "") - (y === ""); }
        var nx = parseFloat(x), ny = parseFloat(y);
        var order = (isNaN(nx) || isNaN(ny)) ? x.localeCompare(y) : nx - ny;
        return descending ? -order : order;
      });
      rows.forEach(function (row) { body.appendChild(row); });
    });
  });
});
"""


def _cell(text: str, value: object, css: str = "") -> str:
    attribute = "" if value is None else html.escape(str(value), quote=True)
    klass = f' class="{css}"' if css else ""
    return f'<td{klass} data-value="{attribute}">{text}</td>'


def _metric_cell(summary: Summary) -> str:
    if summary.value is None:
        return _cell("n/a", None)
    text = f"{summary.value:.4g}"
    if summary.ci_low is not None and summary.ci_high is not None:
        text += f'<br><span class="ci">[{summary.ci_low:.3g}, {summary.ci_high:.3g}]</span>'
    return _cell(text, repr(summary.value))


def _header(name: str, index: int, better: str, text: str | None = None, title: str = "",
            attributes: str = "") -> str:
    """A sortable header cell: ``name`` is the column's name (the CSV's), ``better`` which way
    its best rows lie (``higher``, ``lower`` or ``name``)."""
    css = ' class="name"' if better == "name" else ""
    tip = f' title="{html.escape(title, quote=True)}"' if title else ""
    return (f'<th{css}{tip}{attributes} data-index="{index}" data-column="{html.escape(name)}" '
            f'data-better="{better}">{html.escape(text or name)}</th>')


def _identity(row: LeaderboardRow) -> list[str]:
    name = html.escape(row.method) + (" <em>(point)</em>" if row.serves == "point" else "")
    if not row.reproducible:
        reasons = "; ".join(sorted(set(row.unreproducible.values())))
        name += (f' <strong title="{html.escape(reasons, quote=True)}">(not reproducible)'
                 "</strong>")
    return [_cell(str(row.rank), row.rank), _cell(name, row.method, "name"),
            _cell(html.escape(row.variant), row.variant, "name")]


IDENTITY_HEADERS = (("rank", "lower"), ("method", "name"), ("variant", "name"))


def _quality_table(board: Leaderboard) -> str:
    heads = [_header(name, i, better) for i, (name, better) in enumerate(IDENTITY_HEADERS)]
    heads.append(_header("seeds", 3, "higher"))
    heads += [_header(name, 4 + i, METRICS[name][0], name.replace("_", " "), METRICS[name][1])
              for i, name in enumerate(SHOWN_METRICS)]
    body = []
    for row in board.rows:
        cells = [*_identity(row), _cell(str(len(row.seeds)), len(row.seeds))]
        cells += [_metric_cell(row.metrics[m]) for m in SHOWN_METRICS]
        body.append("<tr>" + "".join(cells) + "</tr>")
    return (f'<table class="leaderboard quality" id="table-{html.escape(board.task)}"><thead>'
            f"<tr>{''.join(heads)}</tr></thead><tbody>{''.join(body)}</tbody></table>")


def _cost_table(board: Leaderboard) -> str:
    """The cost columns (:data:`COST_COLUMNS`), grouped under what they count: training,
    inference and total side by side."""
    top = [_header(name, i, better, attributes=' rowspan="2"')
           for i, (name, better) in enumerate(IDENTITY_HEADERS)]
    sub = []
    offset = len(IDENTITY_HEADERS)
    groups: dict[str, int] = {}
    for column in COST_COLUMNS:
        if column.group is not None:
            groups[column.group] = groups.get(column.group, 0) + 1
    placed: set[str] = set()
    for i, column in enumerate(COST_COLUMNS):
        cell = _header(column.name, offset + i, "lower",
                       column.stage if column.group else column.name.replace("_", " "),
                       f"{column.name}: {column.meaning}",
                       "" if column.group else ' rowspan="2"')
        if column.group is None:
            top.append(cell)
            continue
        if column.group not in placed:
            placed.add(column.group)
            top.append(f'<th class="group" colspan="{groups[column.group]}">'
                       f"{html.escape(column.group)}</th>")
        sub.append(cell)
    body = []
    for row in board.rows:
        cells = _identity(row) + [_cell(column.text(row), column.value(row))
                                  for column in COST_COLUMNS]
        body.append("<tr>" + "".join(cells) + "</tr>")
    legend = "".join(f"<dt>{html.escape(c.name)}</dt><dd>{html.escape(c.meaning)}</dd>"
                     for c in COST_COLUMNS)
    return (f'<table class="leaderboard cost" id="cost-{html.escape(board.task)}"><thead>'
            f"<tr>{''.join(top)}</tr><tr>{''.join(sub)}</tr></thead>"
            f"<tbody>{''.join(body)}</tbody></table>"
            f'<details><summary class="note">What each cost column counts</summary>'
            f'<dl class="legend">{legend}</dl></details>')


def _image(png: bytes, alt: str) -> str:
    data = base64.b64encode(png).decode("ascii")
    return (f'<figure><img alt="{html.escape(alt, quote=True)}" '
            f'src="data:image/png;base64,{data}"><figcaption>{html.escape(alt)}</figcaption>'
            "</figure>")


def _specs(rows: Sequence[LeaderboardRow], runs_by_folder: dict[str, RunScores]) -> str:
    parts = []
    for row in rows:
        items = []
        for folder in row.runs:
            spec = runs_by_folder[folder].spec
            text = html.escape(json.dumps(spec, indent=2, sort_keys=True))
            items.append(f"<details><summary>seed {runs_by_folder[folder].result.label.seed}: "
                         f"<code>{html.escape(Path(folder).name)}</code></summary>"
                         f"<pre>{text}</pre></details>")
        parts.append(f"<details><summary>{html.escape(figures.row_name(row))}: "
                     f"{plural(len(row.runs), 'run')}</summary>{''.join(items)}</details>")
    return "".join(parts)


def _section(board: Leaderboard, runs_by_folder: dict[str, RunScores],
             drawn: Sequence[tuple[str, str, bytes]]) -> str:
    images = [_image(png, f"{board.task}: {caption}") for _, caption, png in drawn]
    note = (f"Ranked by hypervolume on {html.escape(board.scorer_set)} scores. Values are means "
            f"over seeds; intervals ({board.confidence:.0%}) come from a bootstrap over seeds and "
            f"prompts ({board.n_bootstrap} replicates). A rank is 1 plus the number of rows whose "
            "hypervolume interval lies wholly above; overlapping rows share a rank. GD, IGD and "
            f"IGD+ are measured to the {html.escape(board.distance_reference)}. "
            "<em>(point)</em>: one policy whatever the preference, drawn as one marker. "
            "A first click on a column puts its best rows first.")
    flagged = [f"{html.escape(Path(folder).name)} ({html.escape(reason)})"
               for row in board.rows for folder, reason in sorted(row.unreproducible.items())]
    if flagged:
        note += (" <strong>Not reproducible from a commit</strong> (so not a committed "
                 f"result): {'; '.join(flagged)}.")
    cost_note = ("Cost, training and inference side by side (inference: answering the "
                 "evaluation, every preference of the grid on every prompt, the same work for "
                 "every method); means over seeds. Tokens processed in training are not "
                 "recorded by runs.")
    steering_note = ("" if len(board.objectives) <= figures.MAX_FRONT_OBJECTIVES else
                     f"<p class=\"note\">{len(board.objectives)} objectives: pairwise fronts "
                     "are not drawn; the steering matrices show how each weight moves every "
                     "objective.</p>")
    return (f'<section id="task-{html.escape(board.task)}"><h2>{html.escape(board.task)}</h2>'
            f'<p class="note">{note}</p>{_quality_table(board)}'
            f'<h3>Cost</h3><p class="note">{cost_note}</p>{_cost_table(board)}'
            f"<h3>Figures</h3>{steering_note}{''.join(images)}"
            f"<h3>Runs</h3>{_specs(board.rows, runs_by_folder)}</section>")


Drawn = Mapping[str, Sequence[tuple[str, str, bytes]]]


def render_page(boards: Sequence[Leaderboard], runs: Sequence[RunScores],
                drawn: Drawn | None = None) -> str:
    """The page; ``drawn`` holds each task's figures when they were already drawn (see
    :func:`mobench.leaderboard.figures.all_figures`), else they are drawn here."""
    by_folder = {str(run.folder): run for run in runs}
    if drawn is None:
        drawn = figures.all_figures(boards, figures.Styles.of(boards))
    sections = "".join(_section(board, by_folder, drawn[board.task]) for board in boards)
    toc = " · ".join(f'<a href="#task-{html.escape(b.task)}">{html.escape(b.task)}</a>'
                     for b in boards)
    return ("<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">"
            '<meta name="viewport" content="width=device-width, initial-scale=1">'
            "<title>mobench leaderboards</title>"
            f"<style>{STYLE}</style></head><body><h1>mobench leaderboards</h1>"
            f'<p class="note">{plural(len(runs), "run")}; mobench {html.escape(__version__)}. '
            f"Tasks: {toc}</p>{sections}<script>{SCRIPT}</script></body></html>\n")


def write_page(path: Path, boards: Sequence[Leaderboard], runs: Sequence[RunScores],
               drawn: Drawn | None = None) -> None:
    write_text_atomic(Path(path), render_page(boards, runs, drawn))
