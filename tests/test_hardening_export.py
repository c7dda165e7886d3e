"""``mobench export``: a policy at one λ as a standard peft LoRA adapter or a merged transformers
model, which plain transformers + peft load without mobench and which answers with the very
tokens ``mobench generate`` gives at that λ, greedy and sampled with the same seed."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from hardening_support import QUICK_TRAIN, one_error_line, run_toy

from mobench.cli import main
from mobench.core.policy import derive_seed

PROMPTS = ("apple dog sun", "idea river kite")
MAX_NEW_TOKENS = 10
GENERATE_SEED = 3

# Loads an export with transformers and peft only, and answers each prompt greedily and sampled
# (seeded as mobench seeds a generate call); prints the answers as JSON.
PLAIN_LOADER = r"""
import json, sys
from pathlib import Path
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer
folder, prompts = Path(sys.argv[1]), json.loads(sys.argv[2])
seed, max_new = int(sys.argv[3]), int(sys.argv[4])
about = json.loads((folder / "export.json").read_text())
if about["kind"] == "merged-model":
    model = AutoModelForCausalLM.from_pretrained(folder)
else:
    from peft import AutoPeftModelForCausalLM
    model = AutoPeftModelForCausalLM.from_pretrained(folder)
model.eval()
tokenizer = AutoTokenizer.from_pretrained(folder)
stop = {tokenizer.eos_token_id, tokenizer.pad_token_id}
def answer(prompt, **sampling):
    batch = tokenizer(about["prompt_template"].replace("{prompt}", prompt), return_tensors="pt")
    with torch.no_grad():
        out = model.generate(**batch, max_new_tokens=max_new, pad_token_id=tokenizer.pad_token_id,
                             eos_token_id=tokenizer.eos_token_id, **sampling)
    kept = []
    for token in out[0, batch["input_ids"].shape[1]:].tolist():
        if token in stop:
            break
        kept.append(token)
    text = tokenizer.decode(kept, skip_special_tokens=True).strip()
    return {"response": text, "n_tokens": len(kept)}
results = []
for prompt in prompts:
    greedy = answer(prompt, do_sample=False)
    torch.manual_seed(seed)
    sampled = answer(prompt, do_sample=True, temperature=1.0, top_p=1.0, top_k=0)
    results.append({"greedy": greedy, "sampled": sampled})
assert not any(name.split(".")[0] == "mobench" for name in sys.modules), "mobench was imported"
print(json.dumps(results))
"""


@pytest.fixture(scope="module")
def cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("cache")


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory, cache: Path) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("runs")
    folders = {}
    for method, settings in (("panacea", QUICK_TRAIN), ("rewarded-soups", QUICK_TRAIN),
                             ("dps", (*QUICK_TRAIN, "method.grid_points=3")),
                             ("base", ("eval.n_bootstrap=5",))):
        folders[method] = root / method
        run_toy(folders[method], cache, method, *settings)
    return folders


def mobench_answers(capsys: pytest.CaptureFixture[str], run: Path, preference: str,
                    cache: Path, monkeypatch: pytest.MonkeyPatch) -> list[dict]:
    """``mobench generate`` at ``preference``, one prompt per call, greedy and sampled."""
    monkeypatch.setenv("MOBENCH_CACHE", str(cache))
    answers = []
    for prompt in PROMPTS:
        pair = {}
        for mode, flags in (("greedy", ["--greedy"]), ("sampled", [])):
            capsys.readouterr()
            assert main(["generate", str(run), "--preference", preference, "--prompt", prompt,
                         "--json", "--seed", str(GENERATE_SEED), "--max-new-tokens",
                         str(MAX_NEW_TOKENS), *flags]) == 0
            line = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
            pair[mode] = {"response": line["response"], "n_tokens": line["n_tokens"]}
        answers.append(pair)
    return answers


def plain_answers(export: Path) -> list[dict]:
    seed = derive_seed(GENERATE_SEED, 0)  # what `mobench generate --seed S` decodes with
    result = subprocess.run([sys.executable, "-c", PLAIN_LOADER, str(export), json.dumps(PROMPTS),
                             str(seed), str(MAX_NEW_TOKENS)], capture_output=True, text=True,
                            timeout=300, env={"PATH": "/usr/bin:/bin", "CI": "true",
                                                          "HF_HUB_OFFLINE": "1"})
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("method, preference", [
    ("panacea", "0.3,0.7"), ("rewarded-soups", "0.6,0.4"), ("dps", "0.5,0.5")])
@pytest.mark.parametrize("merge", [False, True])
def test_export_answers_as_mobench_generate(runs, cache, tmp_path, capsys, monkeypatch, method,
                                            preference, merge):
    want = mobench_answers(capsys, runs[method], preference, cache, monkeypatch)
    out = tmp_path / "export"
    assert main(["export", str(runs[method]), "--preference", preference, "--output", str(out),
                 *(["--merge"] if merge else [])]) == 0
    about = json.loads((out / "export.json").read_text())
    assert about["kind"] == ("merged-model" if merge else "peft-lora-adapter")
    assert about["answered_preference"] == [float(x) for x in preference.split(",")]
    if merge:
        assert (out / "config.json").is_file() and not (out / "adapter_config.json").exists()
    else:
        config = json.loads((out / "adapter_config.json").read_text())
        assert config["peft_type"] == "LORA"
        assert config["base_model_name_or_path"] == str((out / "base").resolve())
        assert (out / "base" / "config.json").is_file()
    got = plain_answers(out)
    assert got == want
    # greedy decoding of the toy model repeats one token; the sampled answers differ from it, so
    # the comparison also covers tokens drawn from the whole distribution
    assert all(a["sampled"] != a["greedy"] for a in want)


def test_grid_policy_exports_its_nearest_trained_preference(runs, tmp_path, capsys):
    out = tmp_path / "export"
    assert main(["export", str(runs["dps"]), "--preference", "0.3,0.7", "--output",
                 str(out)]) == 0
    captured = capsys.readouterr()
    assert "exported the nearest, (0.5, 0.5)" in captured.err
    assert captured.out.strip().endswith(
        f"exported a peft LoRA adapter at (0.5, 0.5) to {out} (its base model, named in "
        f"adapter_config.json: {(out / 'base').resolve()})")
    assert json.loads((out / "export.json").read_text())["answered_preference"] == [0.5, 0.5]


def test_a_policy_without_export_is_refused_in_one_line(runs, tmp_path, capsys):
    out = tmp_path / "export"
    line = one_error_line(capsys, ["export", str(runs["base"]), "--preference", "0.5,0.5",
                                   "--output", str(out)])
    assert "the base policy cannot be exported" in line
    assert not out.exists()


def test_export_refuses_a_non_empty_output_and_bad_preferences(runs, tmp_path, capsys):
    out = tmp_path / "taken"
    out.mkdir()
    (out / "notes.txt").write_text("keep me")
    line = one_error_line(capsys, ["export", str(runs["panacea"]), "--preference", "0.5,0.5",
                                   "--output", str(out)])
    assert "already exists and is not empty" in line
    assert (out / "notes.txt").read_text() == "keep me"
    line = one_error_line(capsys, ["export", str(runs["panacea"]), "--preference", "-0.2,1.2",
                                   "--output", str(tmp_path / "new")])
    assert "must not be negative" in line and not (tmp_path / "new").exists()
