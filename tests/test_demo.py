"""`make demo` runs `python -m pyrolatent.demo`: its quick mode takes the same path."""

from pyrolatent.demo import main


def test_demo_writes_three_reports_and_says_where_they_are(tmp_path, capsys):
    assert main(["--quick", "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    for name in ("bpca-bishop", "bpca-digits", "vae-digits"):
        report = tmp_path / name / "report" / "index.html"
        assert report.is_file() and str(report) in out
    assert "tutorials/" in out
