"""The web API (traintime/web/app.py) with an in-process client: the same numbers as the CLI
for the same scenario, clear 422s beside the field, and the bounds on work per request."""

import json

import pytest

pytest.importorskip("fastapi")
pytest.importorskip("httpx2")

from fastapi.testclient import TestClient  # noqa: E402

from traintime.cli import main  # noqa: E402
from traintime.web.app import MAX_BODY_BYTES, create_app  # noqa: E402


@pytest.fixture(scope="module")
def client():
    return TestClient(create_app())


def _cli_json(args, capsys):
    with pytest.raises(SystemExit) as exit_:
        main([*args, "--json"])
    assert exit_.value.code == 0
    return json.loads(capsys.readouterr().out)


def test_founding_question_matches_the_cli(client, capsys):
    """The page's defaults are the founding question and get `traintime --json`'s answer."""
    defaults = client.get("/api/options").json()["defaults"]
    assert defaults["model"] == "nanochat-d32" and defaults["gpus"] == 1
    web = client.post("/api/estimate", json=defaults)
    assert web.status_code == 200
    cli = _cli_json([], capsys)
    assert web.json() == cli


def test_a_scenario_with_settings_matches_the_cli(client, capsys):
    body = {
        "model": "nanochat-d20", "gpu": "4090", "gpus": 2,
        "training": {"tokens": "2B", "micro_batch": 4, "act_ckpt": "full", "compiled": False},
        "economics": {"rent_usd_per_gpu_hour": 0.5},
    }  # fmt: skip
    web = client.post("/api/estimate", json=body).json()
    command = client.post("/api/command", json=body).json()["command"]
    assert command.startswith("traintime estimate ")
    cli = _cli_json(command.split()[1:], capsys)
    assert web == cli
    assert web["time"]["total_hours"] > 0 and web["cost"]["rent_usd_per_gpu_hour"] == 0.5


def test_a_finetune_matches_the_cli_and_its_scenario_file(client, tmp_path, capsys):
    # issue 17: the fine-tuning settings through the API, the command line and a scenario file
    body = {
        "model": "llama-3.1-8b", "gpu": "4070",
        "training": {"finetune": "qlora", "tokens": "100M", "seq_len": 2048, "lora_rank": 8,
                     "lora_targets": "q,v", "base_dtype": "nf4", "epochs": 2, "mean_seq_len": 512},
    }  # fmt: skip
    web = client.post("/api/estimate", json=body).json()
    assert web["training"]["recipe"]["finetune"] == "qlora"
    assert web["training"]["padding_factor"] == 4.0
    # 32 layers x rank 8 x (q: 4,096 + 4,096, v: 4,096 + 1,024)
    assert web["training"]["trainable_params"] == 32 * 8 * (8192 + 5120)
    command = client.post("/api/command", json=body).json()["command"]
    assert "--finetune qlora" in command and "--base-dtype nf4" in command
    assert _cli_json(command.split()[1:], capsys) == web
    path = tmp_path / "s.toml"
    path.write_text(client.post("/api/scenario", json=body).text)
    assert _cli_json(["estimate", "--scenario", str(path)], capsys) == web


def test_scenario_file_reads_back_as_the_same_question(client, tmp_path, capsys):
    body = {"model": "llama-3.2-1b", "gpu": "a100", "gpus": 8, "training": {"tokens": "5B"}}
    text = client.post("/api/scenario", json=body)
    assert text.status_code == 200 and "attachment" in text.headers["content-disposition"]
    path = tmp_path / "s.toml"
    path.write_text(text.text)
    web = client.post("/api/estimate", json=body).json()
    assert _cli_json(["estimate", "--scenario", str(path)], capsys) == web


def test_a_pasted_config_is_a_model(client):
    config = {
        "model_type": "llama", "hidden_size": 512, "intermediate_size": 1376,
        "num_hidden_layers": 4, "num_attention_heads": 8, "num_key_value_heads": 4,
        "vocab_size": 32000, "max_position_embeddings": 2048,
    }  # fmt: skip
    r = client.post("/api/estimate", json={"model_config": config, "gpu": "4090"})
    assert r.status_code == 200, r.text
    assert r.json()["model"]["spec"]["d_model"] == 512
    bad = client.post("/api/estimate", json={"model_config": {"model_type": "nope"}, "gpu": "4090"})
    assert bad.status_code == 422
    assert bad.json()["detail"][0]["loc"] == ["body", "model_config"]


@pytest.mark.parametrize(
    ("body", "loc", "words"),
    [
        ({"gpu": "rtx 4071"}, ["body", "gpu"], "unknown gpu"),
        ({"model": "llama-9"}, ["body", "model"], "unknown model"),
        ({"model": "llama-3.1-8b", "gpus": 8, "training": {"tp": 64}},
         ["body", "training", "tp"], "tp"),
        ({"gpus": 0}, ["body", "gpus"], "greater than or equal to 1"),
        ({"training": {"precision": "fp7"}}, ["body", "training", "precision"], "fp7"),
        ({"surprise": 1}, ["body", "surprise"], "Extra inputs"),
    ],
)  # fmt: skip
def test_bad_input_is_a_422_beside_its_field(client, body, loc, words):
    r = client.post("/api/estimate", json=body)
    assert r.status_code == 422, r.text
    detail = r.json()["detail"][0]
    assert detail["loc"] == loc and words in detail["msg"], detail


def test_body_over_one_megabyte_is_refused(client):
    big = {"model": "nanochat-d12", "training": {}, "economics": {}, "gpu": "4090"}
    big["model_config"] = {"pad": "x" * (MAX_BODY_BYTES + 10)}
    r = client.post("/api/estimate", json=big)
    assert r.status_code == 413 and "limit" in r.json()["detail"]


def test_compare_matches_the_cli_and_is_bounded(client, capsys):
    scenario = {"model": "nanochat-d12", "gpu": "4070", "gpus": 1}  # replaced by the lists
    body = {"scenario": scenario, "gpus": ["4070", "4090"], "counts": [1, 2]}
    web = client.post("/api/compare", json=body)
    assert web.status_code == 200
    cli = _cli_json(["compare", "--model", "nanochat-d12", "--gpu", "4070,4090", "--count",
                     "1,2"], capsys)  # fmt: skip
    assert web.json() == cli
    over = client.post("/api/compare", json={"gpus": ["4090"] * 1501, "counts": [1, 2]})
    assert over.status_code == 422 and "at most 3,000" in over.json()["detail"][0]["msg"]


def test_pickers_and_docs_are_served_offline(client):
    assert any(m["name"] == "nanochat-d32" for m in client.get("/api/models").json())
    assert client.get("/api/gpus", params={"q": "4070"}).json()[0]["memory_gib"] > 0
    assert any(s["gpus_per_node"] == 8 for s in client.get("/api/systems").json())
    docs = client.get("/docs").text
    assert "/swagger/swagger-ui-bundle.js" in docs and "cdn" not in docs.lower()
    assert client.get("/swagger/swagger-ui-bundle.js").status_code == 200
    assert "/api/estimate" in client.get("/openapi.json").json()["paths"]
    page = client.get("/")
    assert page.status_code == 200 and "<html" in page.text.lower()
    assert "http://" not in page.text.replace("http://www.w3.org", "")


def test_serve_binds_loopback_by_default_and_says_so(monkeypatch, capsys):
    import uvicorn

    seen = {}
    monkeypatch.setattr(uvicorn, "run", lambda app, **kw: seen.update(kw))
    with pytest.raises(SystemExit) as exit_:
        main(["serve", "--port", "8123"])
    assert exit_.value.code == 0
    assert seen["host"] == "127.0.0.1" and seen["port"] == 8123
    assert "loopback only" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["serve", "--host", "0.0.0.0"])
    assert seen["host"] == "0.0.0.0"
    assert "reachable from other machines" in capsys.readouterr().err
