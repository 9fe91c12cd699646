"""The house's import direction, read from the source so that it cannot rot:

    errors, paths, version  <-  core  <-  optim, data, nn  <-  tasks  <-  the milestones  <-  registry  <-  runs
                                                                    <-  cli, __init__ (train, load)  <-  __main__

A floor imports only the floors below it (and itself). A milestone imports the shared floors and
its own files; of another milestone, only an earlier one's model.py (history builds on itself:
SimCLR's encoder is a ResNet), never its task, claim or sample.
"""

import ast
from pathlib import Path

from milestones import registry

PKG = Path(__file__).resolve().parents[1] / "src" / "milestones"
ORDER = {m.name: m.number for m in registry.MILESTONES}
FLOOR = {"errors": 0, "paths": 0, "version": 0, "core": 1, "optim": 2, "data": 2, "nn": 2, "tasks": 3,
         "registry": 5, "runs": 6, "cli": 7, "__init__": 7, "__main__": 8}  # the CLI and the Python API both call runs


def floor(top: str) -> int:
    return 4 if top in ORDER else FLOOR[top]


def _modules() -> set[str]:
    return {".".join(p.relative_to(PKG).with_suffix("").parts).removesuffix(".__init__")
            for p in PKG.rglob("*.py")}


def imports(path: Path) -> list[str]:
    """Modules of the package that `path` imports, as dotted names below `milestones`."""
    package = list(path.relative_to(PKG).parts[:-1])  # the folder the file is in
    modules = _modules()
    out = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                parts = package[: len(package) - node.level + 1] + (node.module.split(".") if node.module else [])
            elif node.module and node.module.split(".")[0] == "milestones":
                parts = node.module.split(".")[1:]
            else:
                continue
            for alias in node.names:
                sub = ".".join(parts + [alias.name])
                # a name that is not a module comes from the module named, or from the top package's
                # __init__ (`from .. import __version__`, `from . import load`), which sits above all
                out.append(sub if sub in modules else ".".join(parts) or "__init__")
        elif isinstance(node, ast.Import):
            out += [a.name.split(".", 1)[1] if "." in a.name else "__init__"
                    for a in node.names if a.name == "milestones" or a.name.startswith("milestones.")]
    return out


def allowed(src: str, dst: str) -> bool:
    s, d = src.split("."), dst.split(".")
    if s[0] == d[0]:
        return True
    if d[0] in ORDER and s[0] in ORDER:  # one milestone using another's
        return ORDER[d[0]] < ORDER[s[0]] and len(d) > 1 and d[1] == "model"
    if d[0] in ORDER:
        return floor(s[0]) > 4
    return floor(d[0]) < floor(s[0]) or (floor(d[0]) == floor(s[0]) == 0)


def test_every_import_points_down():
    bad = []
    for path in sorted(PKG.rglob("*.py")):
        src = ".".join(path.relative_to(PKG).with_suffix("").parts)
        for dst in imports(path):
            if not allowed(src, dst):
                bad.append(f"{src} imports {dst}")
    assert not bad, "\n".join(bad)


def test_the_rule_itself():
    assert allowed("core.trainer", "errors") and not allowed("core.report", "registry")
    assert allowed("data.images", "core.config")
    assert not allowed("core.config", "data.images")
    assert allowed("gan.metrics", "tasks.classification") and not allowed("tasks.translation", "seq2seq.model")
    assert allowed("transformer.claim", "seq2seq.model") and not allowed("transformer.claim", "seq2seq.claim")
    assert not allowed("gan.metrics", "resnet.model")  # ResNet (2015) came after GAN (2014)
    assert allowed("registry", "gan.task") and allowed("cli", "registry")
    assert allowed("runs", "registry") and allowed("cli", "runs") and allowed("__init__", "runs")
    assert not allowed("runs", "cli") and not allowed("cli", "__init__") and not allowed("core.checkpoint", "__init__")
    assert allowed("core.checkpoint", "version") and allowed("cli", "version")


def test_a_name_imported_from_the_package_counts_as_its_init(tmp_path, monkeypatch):
    """`from .. import __version__` or `from . import load` reads the package's __init__, which sits
    above every floor: the reader must see it, not drop it because the name is not a module."""
    pkg = tmp_path / "milestones"
    (pkg / "core").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "cli.py").write_text("from . import load\nfrom .core import trainer\n")
    (pkg / "core" / "__init__.py").write_text("")
    (pkg / "core" / "trainer.py").write_text("from .. import __version__\nimport milestones\nfrom .config import X\n")
    (pkg / "core" / "config.py").write_text("X = 1\n")
    monkeypatch.setitem(globals(), "PKG", pkg)  # imports() reads the package at PKG
    assert imports(pkg / "cli.py") == ["__init__", "core.trainer"]
    assert imports(pkg / "core" / "trainer.py") == ["__init__", "__init__", "core.config"]
