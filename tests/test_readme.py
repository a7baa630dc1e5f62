"""The README's model table is the registry's: every registered model has its row."""

from pathlib import Path

from pyrolatent.models import REGISTRY

README = Path(__file__).resolve().parents[1] / "README.md"


def test_readme_lists_every_registered_model():
    text = README.read_text()
    table = [line for line in text.splitlines() if line.startswith("| ") and "`fit " in line]
    names = {line.split("`fit ")[1].split("`")[0].strip() for line in table}
    assert names == set(REGISTRY), f"README table lists {sorted(names)}, the registry has {sorted(REGISTRY)}"
    for spec in REGISTRY.values():
        row = next(line for line in table if f"`fit {spec.name}`" in line)
        assert spec.title in row and f"`{spec.cls.__module__.rsplit('.', 1)[0]}.{spec.cls.__name__}`" in row
