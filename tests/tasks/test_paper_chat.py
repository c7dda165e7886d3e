"""chat at paper scale: Alpaca prompts, held-out eval prompts, configurable style scorers."""

from __future__ import annotations

from pathlib import Path

import pytest

from mobench.core.config import build_dataclass
from mobench.core.errors import ConfigError
from mobench.tasks.chat.paper import (
    ChatPaperSources,
    StyleScorerSource,
    alpaca_examples,
    alpaca_prompt,
    load_paper,
    paper_spec,
    style_scorer_table,
)

from .paper_checkpoints import (
    ALPACA_ROWS,
    save_gpt2_classifier,
    save_policy,
    tiny_tokenizer,
    write_alpaca_dataset,
    write_jsonl,
)

STYLES = ("helpful", "humorous", "philosophical")


def test_instruction_and_input_formatting() -> None:
    assert alpaca_prompt("Summarize this.", "A long text.") == "Summarize this.\n\nA long text."
    assert alpaca_prompt("Name a colour.", "") == "Name a colour."
    assert alpaca_prompt("Name a colour.", None) == "Name a colour."
    rows = alpaca_examples({"instruction": ["Add.", "Say hi."], "input": ["1 and 2", ""],
                            "output": ["3", "hi"]})
    assert rows == {"prompt": ["Add.\n\n1 and 2", "Say hi."], "response": ["3", "hi"]}


def test_style_scorers_accept_entries_pairs_and_mappings() -> None:
    forms = [(StyleScorerSource("humorous", "a/b", logit_index=1),),
             (("humorous", "a/b"),), {"humorous": "a/b"}]
    for form in forms:
        assert style_scorer_table(form)["humorous"].source == "a/b"
    with pytest.raises(ValueError, match="two scorers"):
        style_scorer_table((("x", "a"), ("x", "b")))


def test_style_scorers_from_a_config_file_shape() -> None:
    config = build_dataclass(ChatPaperSources, {
        "style_scorers": [{"style": "humorous", "source": "org/humor", "logit_index": 1,
                           "input": "response", "bounds": [-2, 2]}, ["helpful", "org/help"]]},
        "task.paper")
    table = style_scorer_table(config.style_scorers)
    assert table["humorous"].bounds == (-2.0, 2.0) and table["humorous"].input == "response"
    assert table["helpful"].source == "org/help"


def test_spec_for_any_style_list() -> None:
    sources = ChatPaperSources(style_scorers={"humorous": "a/b"})
    spec = paper_spec(sources, styles=STYLES, task_name="chat3")
    assert spec.objective_names == STYLES
    assert spec.base_model == "meta-llama/Meta-Llama-3-8B-Instruct"
    assert spec.format_prompt("Hi").startswith("<|start_header_id|>user<|end_header_id|>\n\nHi")
    assert spec.format_prompt("Hi").endswith("<|start_header_id|>assistant<|end_header_id|>\n\n")
    ten = paper_spec(sources, styles=tuple(f"style{i}" for i in range(10)), task_name="chat10")
    assert ten.name == "chat10" and ten.grid.shape[1] == 10


def test_missing_style_scorer_is_a_one_line_config_error(tmp_path: Path) -> None:
    from mobench.run.runner import check_scorers_ready

    write_alpaca_dataset(tmp_path / "alpaca")
    sources = ChatPaperSources(dataset=str(tmp_path / "alpaca"), n_eval_prompts=4,
                               style_scorers={"helpful": "a/b"})
    instance = load_paper(sources, 0, tmp_path / "cache", styles=STYLES, task_name="chat3")
    with pytest.raises(ConfigError, match="humorous, philosophical") as error:
        check_scorers_ready(instance)  # what run and eval do before any work
    assert "\n" not in str(error.value) and "not public" in str(error.value)


def test_load_end_to_end_on_local_sources(tmp_path: Path) -> None:
    tokenizer = tiny_tokenizer()
    write_alpaca_dataset(tmp_path / "alpaca")
    save_policy(tmp_path / "policy", tokenizer)
    save_gpt2_classifier(tmp_path / "scorer", tokenizer, seed=4)
    write_jsonl(tmp_path / "humor-pairs" / "train.jsonl",
                [{"prompt": "Tell a joke.", "chosen": "Knock knock.", "rejected": "No."}])
    sources = ChatPaperSources(
        dataset=str(tmp_path / "alpaca"), policy=str(tmp_path / "policy"),
        style_scorers=tuple((s, str(tmp_path / "scorer")) for s in STYLES),
        style_pairs=(("humorous", str(tmp_path / "humor-pairs")),),
        n_eval_prompts=4, dtype="float32", device="cpu")
    instance = load_paper(sources, 0, tmp_path / "cache", styles=STYLES, task_name="chat3")
    data = instance.data
    assert len(data.eval_prompts) == 4
    held_out = set(data.eval_prompts["prompt"])
    assert not held_out & set(data.train_prompts["prompt"])
    assert not held_out & set(data.sft_corpus["prompt"])
    assert len(data.train_prompts) + 4 == len(ALPACA_ROWS)
    assert "Give me tip number 1.\n\nabout cooking" in set(data.eval_prompts["prompt"]) | \
        set(data.train_prompts["prompt"])
    assert list(data.preference_pairs) == ["humorous"]
    scores = instance.scorer_sets["reward_model"]["humorous"](["Tell a joke."], ["Knock knock."])
    assert scores.shape == (1,)
    model, _ = instance.load_reference_policy()
    assert type(model).__name__ == "LlamaForCausalLM"
