"""The `milestones` command: smoke runs and bad input, in this process (a subprocess spends
seconds importing torch and proves nothing more, except where a test says why it needs one)."""

import json
import os

import pytest

from milestones import registry

from conftest import cli, run_cli


def test_help_list_info(capsys):
    code, out, _ = cli(capsys, "--help")
    assert code == 0 and "reproduce" in out and "evaluate" in out and "plot" in out
    assert all(v in out for v in ("MILESTONES_RUNS", "MILESTONES_CACHE", "MILESTONES_WORKERS"))
    code, out, _ = cli(capsys, "list")
    assert code == 0 and "alexnet" in out and "simclr" in out and "on 10 seeds" in out
    code, out, _ = cli(capsys, "info", "resnet")
    assert code == 0 and "--model.depth --depth" in out and "degradation" in out and "on 10 seeds" in out
    code, out, _ = cli(capsys, "train", "resnet", "--help")
    assert code == 0 and "--optim.lr --lr" in out
    for verb in ("list", "info", "reproduce", "tour", "sample", "evaluate", "plot", "export"):  # every verb's own
        code, out, err = cli(capsys, verb, *(["gpt"] if verb in ("reproduce", "sample") else []), "--help")
        assert code == 0 and out.startswith(f"usage: milestones {verb}") and "MILESTONES_CACHE" in out, (verb, err)
    code, out, _ = cli(capsys, "reproduce", "--help")  # no milestone named: still the usage, not an error
    assert code == 0 and "--first-seed" in out and "--data" in out


def test_every_verb_answers_help_with_its_usage_and_an_example(capsys):
    """`--help` and `-h` on every verb, with and without a milestone: exit 0, its usage, an example;
    `milestones` alone is the overview; `sample NAME --help` lists that milestone's options; a
    mistyped milestone is still one line."""
    from milestones import cli as C

    code, out, _ = cli(capsys)
    assert code == 0 and out.startswith("usage: milestones VERB")
    named = {"info": "resnet", "train": "resnet", "reproduce": "gpt", "sample": "gpt", "evaluate": "resnet",
             "export": "gpt"}
    for verb in C.VERBS:
        for flag in ("--help", "-h"):
            for args in ([], [named[verb]] if verb in named else None):
                if args is None:
                    continue
                code, out, err = cli(capsys, verb, *args, flag)
                assert code == 0 and "example" in out and f"milestones {verb}" in out, (verb, args, flag, err)
                assert out.startswith(f"usage: milestones {verb}"), (verb, args, flag)
    code, out, _ = cli(capsys, "train", "--help")
    assert code == 0 and "milestones train resnet --help" in out
    code, out, _ = cli(capsys, "sample", "gpt", "-h")
    assert "--top-k" in out and "--temperature" in out
    code, _, err = cli(capsys, "sample", "gtp", "--help")
    assert code == 2 and "did you mean gpt?" in err and len(err.strip().splitlines()) == 1


def test_train_tiny_writes_a_run(tmp_path, capsys):
    out = tmp_path / "run"
    code, _, err = cli(capsys, "train", "resnet", "--preset", "tiny", "--out", out, "--steps", "6", "--lr", "0.01")
    assert code == 0, err
    assert (out / "metrics.jsonl").exists() and (out / "config.json").exists()
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert rows[-1]["split"] == "eval" and "test_acc" in rows[-1]
    saved = json.loads((out / "config.json").read_text())
    assert saved["config"]["optim"]["lr"] == 0.01 and saved["model"]["n_classes"] == 10
    assert list((out / "ckpt").glob("step_0000006/COMPLETE"))
    assert list((out / "tb").iterdir())  # TensorBoard scalars


def test_reproduce_tiny(tmp_path, capsys):
    code, _, err = cli(capsys, "reproduce", "adam", "--preset", "tiny", "--seeds", "1", "--first-seed", "5",
                       "--out", tmp_path / "rep")
    assert code == 0, err
    ev = json.loads((tmp_path / "rep" / "converges-fastest" / "evidence.json").read_text())
    assert ev["verdict"] == "n/a (tiny)" and ev["holds"] in (0, 1)  # tiny is a smoke test, never evidence
    assert ev["reproduce"] == "milestones reproduce adam --preset tiny --seeds 1 --first-seed 5"
    assert ev["seeds"] == [5] and all(c.startswith("OMP_NUM_THREADS=1 milestones train adam") for c in ev["runs"])
    assert all("--seed 5" in c for c in ev["runs"])
    assert (tmp_path / "rep" / "converges-fastest" / "figure.png").stat().st_size > 1000


def test_tour_tiny(tmp_path, capsys):
    import re

    code, out, err = cli(capsys, "tour", "--preset", "tiny", "--seeds", "1", "--only", "resnet,adam",
                         "--out", tmp_path / "tour")
    assert code == 0, err
    assert "smoke test" in out and "N/A (TINY)" in out
    page = (tmp_path / "tour" / "index.html").read_text()
    for text in ("resnet", "adam", "not in this tour", "n/a (tiny)", "Not evidence", 'name="viewport"',
                 "milestones reproduce resnet --preset tiny --seeds 1", "What to look at", "torch ",
                 "Preset tiny", "Made by"):
        assert text in page, text
    verdicts = re.findall(r'<span class="(?:ok|mx|no|na)">([^<]+)</span>', page)
    assert len(verdicts) == 4 and set(verdicts) == {"n/a (tiny)"}  # each claim in the table and its section
    images = re.findall(r'<img [^>]*src="([^"]+)"', page)
    assert len(images) == 2 and all((tmp_path / "tour" / src).stat().st_size > 1000 for src in images)
    md = (tmp_path / "tour" / "report.md").read_text()
    assert "| 4 | adam (2014) |" in md and "gpt" in md and "Not evidence" in md
    assert all((tmp_path / "tour" / src).exists() for src in re.findall(r"!\[[^]]*\]\(([^)]+)\)", md))


BAD = [
    (["train", "nosuchnet"], "unknown milestone"),
    (["train", "resnet", "--preset", "tiny", "--no-such-option", "1"], "unknown option --no-such-option"),
    (["train", "resnet", "--preset", "tiny", "--lr", "fast"], "bad value 'fast' for --optim.lr"),
    (["train", "resnet", "--preset", "tiny", "--lr", "nan"], "--optim.lr must be a finite number"),
    (["train", "resnet", "--preset", "tiny", "--model.widths", "16,0,64"], "--model.widths must be positive"),
    (["train", "resnet", "--preset", "tiny", "--depth", "21"], "--model.depth 21 fits neither"),
    (["train", "resnet", "--preset", "tiny", "--model.n-classes", "3"], "comes from the data"),
    (["train", "resnet", "--preset", "tiny", "--lr"], "--lr needs a value"),
    (["train", "resnet", "--preset", "tiny", "--dpth", "3"], "did you mean --depth"),
    (["train", "dqn", "--preset", "tiny", "--steps", "100"], "--steps is computed, not set"),
    (["train", "resnet", "--preset", "tiny", "--schedule", "wavy"], "expected {constant,cosine,step,inverse_sqrt}"),
    (["train", "resnet", "--preset", "huge"], "unknown preset"),
    (["train", "resnet", "--preset", "tiny", "--data", "/no/such/folder"], "does not exist"),
    (["sample", "adam", "--run", "/no/such/run"], "adam has nothing to sample"),
    (["sample", "resnet", "--run", "/no/such/run"], "does not exist"),
    (["evaluate", "resnet"], "evaluate needs --run DIR"),
    (["evaluate", "resnet", "--run", "/no/such/run"], "does not exist"),
    (["evaluate"], "evaluate needs a milestone name"),
    (["plot"], "plot needs one or more run folders"),
    (["plot", "/no/such/run"], "/no/such/run is not a run folder"),
    (["frobnicate"], "unknown verb"),
    (["trian", "gan"], "did you mean train?"),
    (["resnte"], "a milestone? milestones info resnet"),
    (["train", "resnte"], "did you mean resnet?"),
    (["reproduce", "adam", "--seeds", "zero"], "expected an integer"),
    (["reproduce", "adam", "--first-seed", "-1"], "--first-seed must be at least 0"),
    (["tour", "--only", "resnet,nosuch"], "unknown milestone 'nosuch'"),
    (["sample", "dqn", "--run", "/no/such/run"], "does not exist"),
]


@pytest.mark.parametrize("args,message", BAD)
def test_bad_input_is_one_clear_line(args, message, tmp_path, capsys):
    """In process (each subprocess would spend seconds importing torch); the first case also runs
    as a real process to show the exit status reaches the shell."""
    from milestones import cli

    full = [*args, "--out", str(tmp_path / "out")] if args[0] == "train" else list(args)
    with pytest.raises(SystemExit) as exit_info:
        cli.main(full)
    err = capsys.readouterr().err
    assert exit_info.value.code == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("milestones: error:") and message in lines[0], err
    assert "Traceback" not in err
    assert not (tmp_path / "out").exists()  # nothing half-written
    if args == BAD[0][0]:
        r = run_cli(*full)
        assert r.returncode == 2 and r.stderr.strip() == lines[0], r.stderr


def test_truncated_checkpoint_and_wrong_milestone(tmp_path, capsys):
    """In process, like the bad-input cases: each case is one clear line and exit status 2."""
    from milestones import cli

    def run(*args):
        with pytest.raises(SystemExit) as exit_info:
            cli.main([str(a) for a in args])
        err = capsys.readouterr().err
        assert exit_info.value.code == 2 and "Traceback" not in err, err
        return err

    out = tmp_path / "run"
    with pytest.raises(SystemExit) as ok:
        cli.main(["train", "adam", "--preset", "tiny", "--out", str(out), "--steps", "4"])
    assert ok.value.code in (0, None)
    capsys.readouterr()
    ck = next((out / "ckpt").glob("step_*"))
    # a checkpoint of another milestone
    assert "is a run of 'adam', not 'resnet'" in run("train", "resnet", "--resume", "--out", out)
    # a truncated state file
    raw = (ck / "state.pt").read_bytes()
    (ck / "state.pt").write_bytes(raw[: len(raw) // 2])
    err = run("train", "adam", "--resume", "--out", out, "--steps", "8")
    assert "cannot read" in err and len(err.strip().splitlines()) == 1
    # a truncated weights file
    (ck / "state.pt").write_bytes(raw)
    w = (ck / "model.safetensors").read_bytes()
    (ck / "model.safetensors").write_bytes(w[:100])
    assert "cannot read weights" in run("train", "adam", "--resume", "--out", out, "--steps", "8")
    # an unfinished checkpoint (no completion marker) is never resumed: the run starts again
    for p in (out / "ckpt").glob("step_*"):
        (p / "COMPLETE").unlink()
    with pytest.raises(SystemExit) as again:
        cli.main(["train", "adam", "--resume", "--out", str(out)])
    assert again.value.code in (0, None) and "starting it again from step 0" in capsys.readouterr().err


# -- every bad value, every damaged file: one line, exit 2, nothing written --------------------------


@pytest.mark.parametrize("name", registry.built_names())
def test_every_bad_value_of_every_field_is_one_line_and_writes_nothing(name, tmp_path, capsys):
    """Each numeric field given nan, inf, a negative or zero where its range refuses them."""
    import typing

    from milestones import cli as command
    from milestones.core.config import fields_of

    tried = 0
    for f in fields_of(registry.get(name).config_cls):
        inner = typing.get_args(f.tp)[0] if typing.get_origin(f.tp) is tuple else f.tp
        if f.from_data or inner not in (int, float):
            continue
        assert f.range is not None, f"{name}: --{f.path} has no declared range"
        for text in ("nan", "inf", "-1", "0"):
            v = float(text)
            finite = v == v and abs(v) != float("inf")
            if finite and f.range.ok(v):
                continue  # a value the field allows
            out = tmp_path / f"out-{tried}"
            with pytest.raises(SystemExit) as exit_info:
                command.main(["train", name, "--preset", "tiny", f"--{f.path.replace('_', '-')}", text,
                              "--out", str(out)])
            err = capsys.readouterr().err
            assert exit_info.value.code == 2 and len(err.strip().splitlines()) == 1, (f.path, text, err)
            assert f.path.replace("_", "-") in err and not out.exists(), (f.path, text, err)
            tried += 1
    assert tried >= 20


def test_a_bad_out_path_is_one_line(tmp_path, capsys):
    a_file = tmp_path / "file"
    a_file.write_text("x")
    for out, message in ((a_file, "is a file; give a folder"), (a_file / "run", "is a file, so no folder")):
        code, _, err = cli(capsys, "train", "adam", "--preset", "tiny", "--out", out)
        assert code == 2 and message in err and len(err.strip().splitlines()) == 1, err


def test_damaged_run_files_are_one_line(tmp_path, capsys):
    run = tmp_path / "run"
    code, _, err = cli(capsys, "train", "seq2seq", "--preset", "tiny", "--steps", "2", "--out", run,
                       "--tensorboard", "false")
    assert code == 0, err
    ck = next((run / "ckpt").glob("step_*"))

    def one_line(*args):
        code, _, err = cli(capsys, *args)
        assert code == 2 and len(err.strip().splitlines()) == 1 and "Traceback" not in err, err
        return err

    tok = (ck / "tokenizer.json").read_text()
    (ck / "tokenizer.json").write_text(tok[: len(tok) // 2])
    assert "tokenizer.json is damaged" in one_line("sample", "seq2seq", "--run", run, "seven")
    assert "tokenizer.json is damaged" in one_line("train", "seq2seq", "--resume", "--out", run, "--steps", "4")
    (ck / "tokenizer.json").write_text(tok)
    config = (run / "config.json").read_text()
    for damaged, message in (("[1, 2]", "is not a run's config"), ('{"milestone": "seq2seq"}', "is not a run's config"),
                             (config.replace('"steps": 2', '"steps": "two"'), "bad value 'two' for --steps"),
                             ("{", "is damaged (not JSON)")):
        (run / "config.json").write_text(damaged)
        assert message in one_line("train", "seq2seq", "--resume", "--out", run, "--steps", "4")
    (run / "config.json").write_text(config)

    class Evil:
        def __reduce__(self):
            return (print, ("this must never run",))

    import pickle

    state = (ck / "state.pt").read_bytes()
    (ck / "state.pt").write_bytes(pickle.dumps({"step": 2, "payload": Evil()}))
    err = one_line("train", "seq2seq", "--resume", "--out", run, "--steps", "4")
    assert "is not a checkpoint this program wrote" in err and "refused" in err
    (ck / "state.pt").write_bytes(state)


def test_a_closed_pipe_ends_quietly():
    import subprocess
    import sys

    r = subprocess.run(f"{sys.executable} -m milestones info gan | head -1", shell=True, capture_output=True,
                       text=True, env={**os.environ, "OMP_NUM_THREADS": "1"}, timeout=120)
    assert r.stdout.startswith("gan (2014/2016)") and r.stderr == "", r.stderr


def test_an_os_error_is_one_line_naming_the_path(tmp_path, capsys):
    run = tmp_path / "run"
    code, _, err = cli(capsys, "train", "gan", "--preset", "tiny", "--steps", "2", "--out", run,
                       "--tensorboard", "false")
    assert code == 0, err
    (tmp_path / "file").write_text("x")
    code, _, err = cli(capsys, "sample", "gan", "--run", run, "--out", tmp_path / "file" / "samples")
    assert code == 2 and len(err.strip().splitlines()) == 1 and str(tmp_path / "file") in err, err


def test_a_milestone_name_is_read_in_any_case(capsys):
    from milestones import cli

    with pytest.raises(SystemExit) as exit_info:
        cli.main(["info", "ResNet"])
    assert exit_info.value.code == 0 and capsys.readouterr().out.startswith("resnet (2015)")


def test_info_reads_in_a_terminal(capsys):
    """Every line of `info` fits a wide terminal: prose is wrapped, a field's line holds its options,
    type and value."""
    from milestones import cli, registry

    for name in registry.built_names():
        with pytest.raises(SystemExit):
            cli.main(["info", name])
        lines = capsys.readouterr().out.splitlines()
        assert max(len(line) for line in lines) <= 110, (name, max(lines, key=len))


def test_a_run_is_never_written_inside_another(tmp_path, capsys, monkeypatch):
    """`train gan --out runs/gan`, then `train gan` and `train gan --resume` with no --out: the new run
    goes beside it (runs/gan-TIME), the latest-run lookup finds runs/gan itself and then the newer one,
    and an --out inside a run is refused in one line."""
    monkeypatch.setenv("MILESTONES_RUNS", str(tmp_path / "runs"))
    first = tmp_path / "runs" / "gan"
    code, _, err = cli(capsys, "train", "gan", "--preset", "tiny", "--steps", "4", "--out", first,
                       "--tensorboard", "false")
    assert code == 0, err
    code, _, err = cli(capsys, "train", "gan", "--resume", "--steps", "6")
    assert code == 0 and f"resuming {first} at step 4 of 6" in err, err
    code, out, err = cli(capsys, "train", "gan", "--preset", "tiny", "--steps", "4", "--tensorboard", "false")
    assert code == 0, err
    (second,) = (tmp_path / "runs").glob("gan-*")
    assert not list(first.glob("2*")) and (second / "config.json").exists()
    code, _, err = cli(capsys, "train", "gan", "--resume", "--steps", "5")
    assert code == 0 and f"resuming {second} at step 4 of 5" in err, err
    code, _, err = cli(capsys, "train", "gan", "--preset", "tiny", "--out", first / "inner")
    assert code == 2 and err.strip() == (f"milestones: error: --out {first / 'inner'} lies inside the run "
                                         f"{first.resolve()}; give a folder outside it"), err
    assert not (first / "inner").exists()


def test_one_process_trains_a_run_folder(tmp_path, capsys):
    """A second `train` into a folder another live process is training is refused in one line and
    changes nothing there; a lock left by a process that is gone is taken over; the lock goes when
    the training ends."""
    import subprocess
    import sys

    run = tmp_path / "run"
    code, _, err = cli(capsys, "train", "gan", "--preset", "tiny", "--steps", "2", "--out", run,
                       "--tensorboard", "false")
    assert code == 0 and not (run / ".lock").exists(), err
    before = (run / "metrics.jsonl").read_text()
    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        (run / ".lock").write_text(str(other.pid))
        code, _, err = cli(capsys, "train", "gan", "--out", run, "--resume", "--steps", "4")
        assert code == 2 and f"is being trained by process {other.pid}" in err, err
        assert (run / "metrics.jsonl").read_text() == before
    finally:
        other.kill()
        other.wait()
    code, _, err = cli(capsys, "train", "gan", "--out", run, "--resume", "--steps", "4")  # its process is gone
    assert code == 0 and "resuming" in err and not (run / ".lock").exists(), err


def test_config_file_starts_a_run_with_options_on_top(tmp_path, capsys):
    """--config takes a run's own config.json (the same config, its preset) or a user's JSON or TOML of
    fields (nested or dotted, any option's name) over the preset; options go on top; every check of
    an option applies, and a bad file is one line with nothing written. A run resumed with the file
    that started it goes on."""
    import milestones

    first = tmp_path / "first"
    code, _, err = cli(capsys, "train", "adam", "--preset", "tiny", "--steps", "4", "--hidden", "32", "--out", first,
                       "--tensorboard", "false")
    assert code == 0, err
    code, _, err = cli(capsys, "train", "adam", "--config", first / "config.json", "--steps", "6",
                       "--out", tmp_path / "again")
    assert code == 0, err
    a, b = (json.loads((d / "config.json").read_text()) for d in (first, tmp_path / "again"))
    assert b["preset"] == "tiny" and {k for k in a["config"] if a["config"][k] != b["config"][k]} == {"steps"}
    (tmp_path / "mine.toml").write_text('steps = 5\n"optim.lr" = 0.01\n[model]\nhidden = 16\n')
    milestones.train("adam", tmp_path / "toml", preset="tiny", config=tmp_path / "mine.toml", tensorboard=False)
    c = json.loads((tmp_path / "toml" / "config.json").read_text())["config"]
    assert c["steps"] == 5 and c["model"]["hidden"] == 16 and c["optim"]["lr"] == 0.01
    code, _, err = cli(capsys, "train", "adam", "--config", first / "config.json", "--out", first, "--resume",
                       "--steps", "6")
    assert code == 0 and "at step 4 of 6" in err, err
    bad = {"unknown.json": ('{"modle.hidden": 3}', "unknown option --modle.hidden"),
           "range.json": ('{"steps": -5}', "--steps must be positive"),
           "broken.json": ('{"steps": 5', "not JSON"),
           "list.json": ("[1, 2]", "not a mapping"),
           "data.json": ('{"model": {"n_classes": 3}}', "comes from the data"),
           "broken.toml": ("steps = ", "not TOML")}
    for name, (text, message) in bad.items():
        (tmp_path / name).write_text(text)
        code, _, err = cli(capsys, "train", "adam", "--config", tmp_path / name, "--out", tmp_path / "never")
        assert code == 2 and message in err and len(err.strip().splitlines()) == 1, (name, err)
    for args, message in ((["gan", "--config", first / "config.json"], "is a run of 'adam', not 'gan'"),
                          (["adam", "--config", tmp_path / "nope.json"], "no such file")):
        code, _, err = cli(capsys, "train", *args, "--out", tmp_path / "never")
        assert code == 2 and message in err, err
    assert not (tmp_path / "never").exists()
