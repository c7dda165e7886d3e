"""Every cost column means the same in the CSV, the Markdown and the HTML page, and counts what it
says: read from the committed hh results (every built-in method; Best-of-N pays reward calls at
answer time, MOD two experts' passes per token)."""

from __future__ import annotations

import csv
import io
from html.parser import HTMLParser
from pathlib import Path

import pytest

from mobench.leaderboard.aggregate import build_leaderboards
from mobench.leaderboard.collect import load_runs
from mobench.leaderboard.cost import COST_COLUMNS, MARKDOWN_COST, cost_columns
from mobench.leaderboard.page import render_page
from mobench.leaderboard.table import csv_columns, number, to_csv, to_markdown

HH_RESULTS = Path(__file__).resolve().parents[1] / "reports" / "results" / "hh"


@pytest.fixture(scope="module")
def board_and_runs():  # type: ignore[no-untyped-def]
    # seed 0: the pinned counts below are that seed's runs (MOD reused Rewarded Soups' experts)
    runs = load_runs(sorted(HH_RESULTS.glob("*/tiny-seed0-*")))
    (board,) = build_leaderboards(runs, n_bootstrap=2)
    return board, runs


class CostTable(HTMLParser):
    """The page's cost table of one task: its header columns and each row's data-values."""

    def __init__(self, table_id: str) -> None:
        super().__init__()
        self.table_id, self.inside, self.in_body = table_id, False, False
        self.columns: list[str] = []
        self.rows: list[list[str]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        if tag == "table":
            self.inside = found.get("id") == self.table_id
        if not self.inside:
            return
        if tag == "th" and "data-column" in found:
            self.columns.append(str(found["data-column"]))
        elif tag == "tbody":
            self.in_body = True
        elif tag == "tr" and self.in_body:
            self.rows.append([])
        elif tag == "td" and self.in_body:
            self.rows[-1].append(str(found.get("data-value")))

    def handle_endtag(self, tag: str) -> None:
        if tag == "table":
            self.inside = self.in_body = False


def test_each_cost_column_has_one_name_and_one_value_in_csv_markdown_and_html(board_and_runs):
    board, runs = board_and_runs
    names = [column.name for column in COST_COLUMNS]
    assert len(set(names)) == len(names)
    csv_rows = list(csv.DictReader(io.StringIO(to_csv(board))))
    assert set(names) <= set(csv_columns())

    table = CostTable(f"cost-{board.task}")
    table.feed(render_page([board], runs))
    assert table.columns[:3] == ["rank", "method", "variant"]
    assert table.columns[3:] == names
    lines = to_markdown(board).splitlines()
    header = [cell.strip() for cell in lines[0].strip("|").split("|")]
    assert header[-len(MARKDOWN_COST):] == list(MARKDOWN_COST)
    assert set(MARKDOWN_COST) <= set(names)

    assert len(csv_rows) == len(table.rows) == len(board.rows) == len(lines) - 2
    for row, csv_row, html_row, line in zip(board.rows, csv_rows, table.rows, lines[2:],
                                            strict=True):
        markdown = [cell.strip() for cell in line.strip("|").split("|")]
        assert csv_row["method"] == html_row[1] == row.method
        for k, column in enumerate(COST_COLUMNS):
            value = column.value(row)
            assert csv_row[column.name] == number(value)
            assert float(html_row[3 + k]) == value
        for name, text in zip(MARKDOWN_COST, markdown[-len(MARKDOWN_COST):], strict=True):
            column = cost_columns((name,))[0]
            assert text == column.text(row)
            assert float(text.replace(",", "")) == pytest.approx(
                float(csv_row[name]), abs=0.5 * 10.0 ** -column.digits, rel=1e-5)


def test_totals_add_training_and_inference_and_inference_counts_what_methods_do(board_and_runs):
    board, _ = board_and_runs
    rows = {row.method: row for row in board.rows}
    value = {name: (lambda row, c=cost_columns((name,))[0]: c.value(row))
             for name in [c.name for c in COST_COLUMNS]}
    for row in board.rows:
        for what in ("seconds", "tokens_generated", "reward_calls"):
            train = value["train_" + what](row)
            assert value["total_" + what](row) == train + value["inference_" + what](row)
        assert value["inference_token_passes"](row) >= value["inference_tokens_generated"](row)
    # Best-of-N trains nothing and pays at answer time: 16 candidates, each scored by 2 reward
    # models, for 528 (preference, prompt) answers
    best = rows["best-of-n"]
    assert value["train_seconds"](best) < 1 and value["train_reward_calls"](best) == 0
    assert value["inference_reward_calls"](best) == 16_896 == 16 * 2 * 528
    assert value["inference_tokens_generated"](best) == 116_378
    # MOD mixes two experts' logits: two forward passes per sampled token
    mod = rows["mod"]
    assert value["inference_token_passes"](mod) == 2 * value["inference_tokens_generated"](mod)
    # its experts were trained by another method first: their seconds are counted back in
    assert value["train_seconds"](mod) - value["reused_train_seconds"](mod) == pytest.approx(
        0.047, abs=1e-9)
    assert value["reused_train_seconds"](mod) > 80


def test_an_unknown_cost_column_is_refused():
    with pytest.raises(ValueError, match="unknown cost column"):
        cost_columns(("train_seconds", "gpu_hours"))
