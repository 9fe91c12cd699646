"""The house's import direction, read from the source so that it cannot rot:

    errors, paths  <-  core  <-  optim, data, nn  <-  tasks  <-  the milestones  <-  registry  <-  cli
                                                                          <-  __init__ (train, load), __main__

A floor imports only the floors below it (and itself). A milestone imports the shared floors and
its own files; of another milestone, only an earlier one's model.py (history builds on itself:
SimCLR's encoder is a ResNet), never its task, claim or sample.
"""

import ast
from pathlib import Path

from milestones import registry

PKG = Path(__file__).resolve().parents[1] / "src" / "milestones"
ORDER = {m.name: m.number for m in registry.MILESTONES}
FLOOR = {"errors": 0, "paths": 0, "core": 1, "optim": 2, "data": 2, "nn": 2, "tasks": 3, "registry": 5,
         "cli": 6, "__init__": 7, "__main__": 7}  # the Python API (train, load) sits on the CLI


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
                out.append(sub if sub in modules else ".".join(parts))
        elif isinstance(node, ast.Import):
            out += [a.name.split(".", 1)[1] for a in node.names if a.name.startswith("milestones.")]
    return [m for m in out if m]


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
