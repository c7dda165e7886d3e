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
from collections.abc import Sequence
from pathlib import Path

from mobench import __version__
from mobench.core.store import write_text_atomic
from mobench.leaderboard import figures
from mobench.leaderboard.aggregate import Leaderboard, LeaderboardRow, Summary
from mobench.leaderboard.collect import RunScores

SHOWN_METRICS = ("hypervolume", "inner_product", "controllability", "eum", "spacing",
                 "sparsity", "igd_plus", "non_dominated_share")

STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em; color: #111; max-width: 1250px; }
h1 { font-size: 1.5em; } h2 { margin-top: 2.2em; border-bottom: 1px solid #bbb; }
table { border-collapse: collapse; font-size: 0.85em; margin: 0.8em 0; }
th, td { border: 1px solid #bbb; padding: 3px 7px; text-align: right; }
th { background: #eee; cursor: pointer; user-select: none; }
th.sorted-asc::after { content: " \\25B2"; } th.sorted-desc::after { content: " \\25BC"; }
td.name, th.name { text-align: left; }
.ci { color: #555; font-size: 0.85em; }
figure { display: inline-block; margin: 0.5em 1em 0.5em 0; vertical-align: top; }
img { max-width: 100%; border: 1px solid #ddd; }
pre { background: #f6f6f6; padding: 0.6em; overflow-x: auto; font-size: 0.8em; }
details { margin: 0.3em 0; } .note { color: #444; font-size: 0.9em; }
@media print { th { cursor: default; } details { display: none; } }
"""

SCRIPT = """
document.querySelectorAll("table.leaderboard").forEach(function (table) {
  table.querySelectorAll("th").forEach(function (header, column) {
    header.addEventListener("click", function () {
      var ascending = !header.classList.contains("sorted-asc");
      table.querySelectorAll("th").forEach(function (h) {
        h.classList.remove("sorted-asc", "sorted-desc");
      });
      header.classList.add(ascending ? "sorted-asc" : "sorted-desc");
      var body = table.tBodies[0];
      var rows = Array.prototype.slice.call(body.rows);
      rows.sort(function (a, b) {
        var x = a.cells[column].getAttribute("data-value");
        var y = b.cells[column].getAttribute("data-value");
        var nx = parseFloat(x), ny = parseFloat(y);
        var order = (isNaN(nx) || isNaN(ny)) ? x.localeCompare(y) : nx - ny;
        return ascending ? order : -order;
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
        return _cell("n/a", "")
    text = f"{summary.value:.4g}"
    if summary.ci_low is not None and summary.ci_high is not None:
        text += f'<br><span class="ci">[{summary.ci_low:.3g}, {summary.ci_high:.3g}]</span>'
    return _cell(text, repr(summary.value))


def _table(board: Leaderboard) -> str:
    headers = ["rank", "method", "variant", "seeds", *SHOWN_METRICS, "train s", "adapters",
               "models", "trainable params", "train tokens", "reward calls", "eval s",
               "eval tokens sampled"]
    head = "".join(f'<th class="{"name" if h in ("method", "variant") else ""}">'
                   f"{html.escape(h)}</th>" for h in headers)
    body = []
    for row in board.rows:
        name = html.escape(row.method) + (" <em>(point)</em>" if row.serves == "point" else "")
        if not row.reproducible:
            reasons = "; ".join(sorted(set(row.unreproducible.values())))
            name += (f' <strong title="{html.escape(reasons, quote=True)}">(not reproducible)'
                     "</strong>")
        cells = [_cell(str(row.rank), row.rank), _cell(name, row.method, "name"),
                 _cell(html.escape(row.variant), row.variant, "name"),
                 _cell(str(len(row.seeds)), len(row.seeds))]
        cells += [_metric_cell(row.metrics[m]) for m in SHOWN_METRICS]
        for key in ("train_seconds", "adapters_trained", "models_trained",
                    "trainable_parameters", "generated_tokens", "reward_calls"):
            value = row.cost[key]
            cells.append(_cell(f"{value:,.0f}" if key != "train_seconds" else f"{value:.1f}",
                               value))
        for key in ("seconds", "sampled_tokens"):
            value = row.evaluation_cost[key]
            cells.append(_cell(f"{value:,.1f}" if key == "seconds" else f"{value:,.0f}", value))
        body.append("<tr>" + "".join(cells) + "</tr>")
    return (f'<table class="leaderboard" id="table-{html.escape(board.task)}"><thead><tr>{head}'
            f"</tr></thead><tbody>{''.join(body)}</tbody></table>")


def _image(png: bytes, alt: str) -> str:
    data = base64.b64encode(png).decode("ascii")
    return (f'<figure><img alt="{html.escape(alt, quote=True)}" '
            f'src="data:image/png;base64,{data}"></figure>')


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
                     f"{len(row.runs)} run(s)</summary>{''.join(items)}</details>")
    return "".join(parts)


def _section(board: Leaderboard, runs_by_folder: dict[str, RunScores]) -> str:
    images = [_image(figures.fronts_figure(board), f"{board.task}: fronts")]
    if len(board.objectives) > 2:
        images.append(_image(figures.parallel_figure(board),
                             f"{board.task}: parallel coordinates"))
    images.append(_image(figures.cost_figure(board), f"{board.task}: quality against cost"))
    for other in sorted({s for row in board.rows for s in row.other_sets}):
        images.append(_image(figures.truth_figure(board, other),
                             f"{board.task}: {other} against {board.scorer_set}"))
    note = (f"Ranked by hypervolume on {html.escape(board.scorer_set)} scores. Values are means "
            f"over seeds; intervals ({board.confidence:.0%}) come from a bootstrap over seeds and "
            f"prompts ({board.n_bootstrap} replicates). A rank is 1 plus the number of rows whose "
            "hypervolume interval lies wholly above; overlapping rows share a rank. GD, IGD and "
            f"IGD+ are measured to the {html.escape(board.distance_reference)}. "
            "<em>(point)</em>: one policy whatever the preference, drawn as one marker.")
    flagged = [f"{html.escape(Path(folder).name)} ({html.escape(reason)})"
               for row in board.rows for folder, reason in sorted(row.unreproducible.items())]
    if flagged:
        note += (" <strong>Not reproducible from a commit</strong> (so not a committed "
                 f"result): {'; '.join(flagged)}.")
    return (f'<section id="task-{html.escape(board.task)}"><h2>{html.escape(board.task)}</h2>'
            f'<p class="note">{note}</p>{_table(board)}{"".join(images)}'
            f"<h3>Runs</h3>{_specs(board.rows, runs_by_folder)}</section>")


def render_page(boards: Sequence[Leaderboard], runs: Sequence[RunScores]) -> str:
    by_folder = {str(run.folder): run for run in runs}
    sections = "".join(_section(board, by_folder) for board in boards)
    toc = " · ".join(f'<a href="#task-{html.escape(b.task)}">{html.escape(b.task)}</a>'
                     for b in boards)
    return ("<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">"
            "<title>mobench leaderboards</title>"
            f"<style>{STYLE}</style></head><body><h1>mobench leaderboards</h1>"
            f'<p class="note">{len(runs)} runs; mobench {html.escape(__version__)}. Tasks: {toc}'
            f"</p>{sections}<script>{SCRIPT}</script></body></html>\n")


def write_page(path: Path, boards: Sequence[Leaderboard], runs: Sequence[RunScores]) -> None:
    write_text_atomic(Path(path), render_page(boards, runs))
