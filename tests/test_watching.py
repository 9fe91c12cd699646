"""Watching and judging a run: curves.png and the next commands after `train`, `milestones plot`
over several runs, `milestones evaluate` (a confusion matrix for the classifiers), `sample` for
the classifiers, the progress line (watched metrics first, evaluations on a line of their own,
DQN counting environment steps), and translation samples beside their reference."""

import json

import pytest

from milestones.core.logging import RunLogger

from conftest import cli


@pytest.fixture(scope="module")
def two_resnets(tmp_path_factory):
    """A residual and a plain net, trained briefly through the CLI."""
    import subprocess
    import sys

    root = tmp_path_factory.mktemp("runs")
    for name, extra in (("res", []), ("plain", ["--plain"])):
        r = subprocess.run([sys.executable, "-m", "milestones", "train", "resnet", "--preset", "tiny", "--out",
                            str(root / name), "--steps", "12", *extra], capture_output=True, text=True, timeout=300,
                           env={**__import__("os").environ, "OMP_NUM_THREADS": "1"})
        assert r.returncode == 0, r.stderr
    return root, r.stdout


def test_train_draws_curves_and_says_what_to_try_next(two_resnets):
    root, out = two_resnets
    run = root / "plain"
    assert (run / "curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert f"curves: {run / 'curves.png'}" in out
    for command in (f"milestones evaluate resnet --run {run}", f"milestones sample resnet --run {run}",
                    f"milestones plot {run}", f"tensorboard --logdir {run}/tb",
                    f"milestones train resnet --out {run} --resume --steps N"):
        assert command in out, command


def test_plot_overlays_runs(two_resnets, tmp_path, capsys):
    root, _ = two_resnets
    out = tmp_path / "both.png"
    code, printed, err = cli(capsys, "plot", root / "res", root / "plain", "--out", out)
    assert code == 0, err
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and str(out) in printed
    code, _, err = cli(capsys, "plot", root / "res", "--metric", "test_acc", "--out", tmp_path / "acc.png")
    assert code == 0 and (tmp_path / "acc.png").exists(), err
    code, _, err = cli(capsys, "plot", root / "res", "--metric", "bleu", "--out", tmp_path / "x.png")
    assert code == 2 and "no run logged 'bleu'" in err and not (tmp_path / "x.png").exists()


def test_the_loss_panel_holds_every_loss_and_the_panels_follow_the_watch():
    from milestones.core.curves import panels

    rows = [{"step": 1, "split": "train", "loss": 1.0, "loss_d": 0.5, "loss_g": 0.5, "lr": 1e-3},
            {"step": 1, "split": "eval", "fd": 40.0, "score": 2.0, "classes": 3.0}]
    assert panels([rows], ("loss_d", "loss_g", "fd", "score", "modes")) == ["loss", "fd", "score"]
    assert panels([rows], ("loss",), only=["classes"]) == ["classes"]


def test_evaluate_prints_test_metrics_and_draws_the_confusion_matrix(two_resnets, tmp_path, capsys):
    root, _ = two_resnets
    code, out, err = cli(capsys, "evaluate", "resnet", "--run", root / "res", "--out", tmp_path / "ev")
    assert code == 0, err
    metrics = dict(line.split() for line in out.splitlines() if line.startswith("  "))
    saved = [json.loads(x) for x in (root / "res" / "metrics.jsonl").read_text().splitlines()][-1]
    assert float(metrics["test_acc"]) == pytest.approx(saved["test_acc"], abs=1e-5)  # the run's own final numbers
    assert (tmp_path / "ev" / "confusion.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    code, _, err = cli(capsys, "evaluate", "alexnet", "--run", root / "res")
    assert code == 2 and "is a run of 'resnet', not 'alexnet'" in err


def test_sample_shows_a_classifier_on_test_examples(two_resnets, tmp_path, capsys):
    root, _ = two_resnets
    code, out, err = cli(capsys, "sample", "resnet", "--run", root / "res", "--count", "5", "--out", tmp_path / "s")
    assert code == 0, err
    assert "test accuracy" in out and len([x for x in out.splitlines() if x.startswith("  test #")]) == 5
    assert (tmp_path / "s" / "predictions.png").exists()
    code, out, err = cli(capsys, "sample", "resnet", "--run", root / "res", "--wrong", "true", "--out", tmp_path / "w")
    assert code == 0 and all(line.endswith("WRONG") for line in out.splitlines() if line.startswith("  test #"))


def test_progress_lines_show_watched_metrics_and_evaluations_apart(capsys):
    log = RunLogger(None, 100, enabled=True, tensorboard=False, watch=("episode_return", "eval_return"),
                    unit="env_steps")
    log.advance_to(500)
    log.log(7, "train", {"q": 1.0, "lr": 0.1, "episode_return": 21.0})
    log.log(7, "eval", {"eval_return": 30.0})
    err = capsys.readouterr().err.splitlines()
    assert err[0].startswith("[train step 7, 500/100 env steps] episode_return=21 q=1")
    assert err[1] == "[eval at step 7, 500/100 env steps] eval_return=30"
    assert log.history[-1]["env_steps"] == 500  # an evaluation row says where it was measured


def test_dqn_counts_environment_steps(tmp_path):
    from milestones import registry
    from milestones.core.trainer import train

    m = registry.get("dqn")
    cfg = m.config("tiny", {"tensorboard": False})
    result = train(m.make_task(cfg), tmp_path / "d", verbose=False)
    rows = [json.loads(x) for x in (tmp_path / "d" / "metrics.jsonl").read_text().splitlines()]
    assert rows[-1]["split"] == "eval" and rows[-1]["env_steps"] == cfg.env_steps
    assert result.step < cfg.env_steps  # the bar's total is the environment steps, not the updates


def test_number_words_round_trip_to_their_reference():
    from milestones.data.translation import number_of, reference_translation

    assert number_of("seven thousand three hundred and twenty-one") == 7321
    assert number_of("three hundred and forty-one million, two hundred and six thousand, nine hundred and eighty") \
        == 341_206_980
    assert number_of("hello world") is None and number_of("twenty twenty") is None
    assert reference_translation("four hundred and twelve", "fr") == "quatre cent douze"


@pytest.mark.parametrize("name,opts", [("alexnet", ["--inputs", "mean_image"]),
                                       ("resnet", ["--augment.pad", "1", "--augment.crop", "6"])])
def test_sample_feeds_the_test_images_as_evaluation_does(name, opts, tmp_path, capsys):
    """AlexNet's mean-image inputs and a cropped run's centre patches: `sample`'s accuracy is the run's."""
    code, _, err = cli(capsys, "train", name, "--preset", "tiny", *opts, "--tensorboard", "false",
                       "--out", tmp_path / "run")
    assert code == 0, err
    final = [json.loads(x) for x in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()][-1]
    code, out, err = cli(capsys, "sample", name, "--run", tmp_path / "run", "--out", tmp_path / "s")
    assert code == 0, err
    assert f"test accuracy {final['test_acc']:.1%}" in out, (out.splitlines()[0], final["test_acc"])
