"""write_report: files, embedded images, netCDF, atomic replacement, and a real browser."""

import base64
import io
import json
import re

import numpy as np
import pytest
import torch
from matplotlib.image import imread
from report_models import relevance_quantities

from pyrolatent.diagnostics import (
    NUTSComparison,
    NUTSResult,
    _arviz,
    draw_quantities,
    load_inference_data,
    restart_diagnostics,
)
from pyrolatent.reports import write_report

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
IMG_SRC = re.compile(r'<img src="data:image/png;base64,([A-Za-z0-9+/=]+)"')
GROUPS = {"posterior", "posterior_predictive", "log_likelihood", "observed_data", "sample_stats", "vi_trace"}


def _fake_nuts(result):
    """A NUTSComparison against a synthetic reference (the report only renders it)."""
    svi = draw_quantities(result.model, result.guide, relevance_quantities, 20)
    rng = np.random.default_rng(0)
    ref = {k: v * (1 + 0.05 * rng.standard_normal(v.shape)) for k, v in svi.items()}
    nuts = NUTSResult(
        model=result.model, samples={"tau": torch.ones(20)}, num_warmup=10, num_samples=20, wall_time=1.0, divergences=0
    )
    return NUTSComparison(svi_draws=svi, nuts_draws=ref, nuts=nuts)


@pytest.fixture(scope="module")
def full_report(digits_fits, tmp_path_factory):
    data, fits = digits_fits
    restarts = restart_diagnostics(fits, relevance_quantities, num_samples=30)
    out = tmp_path_factory.mktemp("run")
    path = write_report(fits[0], data, out, restarts=restarts, nuts=_fake_nuts(fits[0]), num_samples=100)
    return out, path


def test_report_files(full_report):
    out, path = full_report
    assert path == out / "report" / "index.html" and path.is_file()
    names = {p.name for p in path.parent.iterdir()}
    expected_pngs = {
        "elbo",
        "ard_relevance",
        "ppc_x",
        "khat",
        "restarts",
        "svi_vs_nuts",
        "latent_scatter",
        "reconstructions",
        "samples",
    }
    assert {f"{n}.png" for n in expected_pngs} <= names
    assert {"index.html", "inference_data.nc", "diagnostics.json"} <= names
    assert not [p for p in out.iterdir() if p.name.startswith(".report")]  # no temporary folders left
    facts = json.loads((path.parent / "diagnostics.json").read_text())
    assert facts["psis"]["verdict"] in {"good", "usable", "unreliable"}
    assert "restarts" in facts and "nuts" in facts


def test_every_image_is_a_decodable_png_and_matches_its_file(full_report):
    out, path = full_report
    page = path.read_text(encoding="utf-8")
    sources = IMG_SRC.findall(page)
    assert len(sources) == page.count("<img ") == len(list(path.parent.glob("*.png")))
    files = {p.read_bytes() for p in path.parent.glob("*.png")}
    for src in sources:
        png = base64.b64decode(src, validate=True)
        assert png.startswith(PNG_MAGIC)
        pixels = imread(io.BytesIO(png), format="png")
        assert pixels.ndim == 3 and pixels.shape[0] > 50 and pixels.shape[1] > 50
        assert png in files


def test_page_sections_and_tables(full_report):
    _, path = full_report
    page = path.read_text(encoding="utf-8")
    for heading in (
        "Run",
        "ELBO",
        "Posterior summary",
        "Model figures",
        "Posterior predictive check",
        "PSIS k-hat",
        "Agreement across restarts",
        "SVI against NUTS",
        "Latent space",
        "Images",
    ):
        assert heading in page, heading
    assert page.startswith("<!DOCTYPE html>") and page.rstrip().endswith("</html>")
    assert "alpha[0]" in page and "tau" in page  # the az.summary table
    assert re.search(r'class="verdict (good|usable|unreliable)"', page)


def test_inference_data_reloads_with_all_groups(full_report):
    _, path = full_report
    idata = load_inference_data(path.parent / "inference_data.nc")
    assert set(_arviz.group_names(idata)) == GROUPS
    assert _arviz.group(idata, "posterior")["W"].shape == (1, 100, 4, 64)
    assert _arviz.group(idata, "observed_data")["x"].shape == (200, 64)


def test_report_opens_in_headless_chromium(full_report, chromium, tmp_path):
    """The page loads in a real browser and every image decodes (naturalWidth > 0)."""
    _, path = full_report
    probe = (
        "<script>window.addEventListener('load', function () {"
        " var imgs = Array.prototype.slice.call(document.images);"
        " var ok = imgs.length > 0 && imgs.every(function (i) { return i.complete && i.naturalWidth > 0; });"
        " document.body.setAttribute('data-images', String(imgs.length));"
        " document.body.setAttribute('data-images-ok', ok ? 'yes' : 'no'); });</script>"
    )
    probed = tmp_path / "probe.html"
    probed.write_text(path.read_text(encoding="utf-8").replace("</body>", probe + "</body>"), encoding="utf-8")
    dom, _ = chromium("--virtual-time-budget=10000", "--dump-dom", probed.as_uri())
    n_images = path.read_text(encoding="utf-8").count("<img ")
    assert f'data-images="{n_images}"' in dom
    assert 'data-images-ok="yes"' in dom
    shot = tmp_path / "page.png"
    chromium("--window-size=1200,3000", f"--screenshot={shot}", path.as_uri())
    assert shot.read_bytes().startswith(PNG_MAGIC) and shot.stat().st_size > 20_000


def test_generic_sections_atomic_failure_and_replacement(plain_result, tmp_path, monkeypatch):
    """A model with no hooks gets the generic sections; a failed report leaves the old
    one untouched and no temporary folder behind; a new report replaces the old one."""
    first = write_report(plain_result, None, tmp_path, num_samples=50, title="<b>first</b>")
    page = first.read_text(encoding="utf-8")
    assert "<title>&lt;b&gt;first&lt;/b&gt;</title>" in page and "<b>first" not in page
    for heading in ("ELBO", "Posterior summary", "Posterior predictive check", "PSIS k-hat"):
        assert heading in page
    for absent in ("Model figures", "Latent space", "Images", "Agreement across restarts", "SVI against NUTS"):
        assert absent not in page
    assert {p.name for p in first.parent.glob("*.png")} == {"elbo.png", "ppc_x.png", "khat.png"}
    before = first.read_bytes()

    def broken(model, guide, data):
        raise RuntimeError("figure failed")

    from pyrolatent.reports.model_figures import MODEL_FIGURES

    with monkeypatch.context() as patch:
        patch.setitem(MODEL_FIGURES, type(plain_result.model), broken)
        with pytest.raises(RuntimeError, match="figure failed"):
            write_report(plain_result, None, tmp_path, num_samples=50, title="second")
    assert first.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report"]

    second = write_report(plain_result, None, tmp_path, num_samples=50, title="second report")
    assert second == first and "second report" in second.read_text(encoding="utf-8")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report"]


def test_bad_arguments(plain_result, tmp_path):
    with pytest.raises(TypeError, match="'restarts' argument must be a RestartDiagnostic"):
        write_report(plain_result, None, tmp_path, restarts=[1, 2])
    with pytest.raises(TypeError, match="'nuts' argument must be a NUTSComparison"):
        write_report(plain_result, None, tmp_path, nuts="nuts")
    with pytest.raises(ValueError, match="'num_samples' argument must be an integer >= 10"):
        write_report(plain_result, None, tmp_path, num_samples=3)
    assert not (tmp_path / "report").exists()
