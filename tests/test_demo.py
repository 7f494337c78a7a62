"""``make demo`` without the real data: a generated catalogue, indexed with the real towers."""
from retrieval import ClipEncoder, Searcher, ensure_demo_index, myntra_dir


def test_the_demo_without_the_real_catalogue_serves_a_generated_one(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("FASHION_DATA", str(tmp_path / "no-data"))
    monkeypatch.delenv("FASHION_MYNTRA", raising=False)
    out = ensure_demo_index(tmp_path / "demo")
    said = capsys.readouterr().out
    assert str(myntra_dir()) in said and "FASHION_DATA" in said and "generated catalogue" in said
    searcher = Searcher(out)
    assert len(searcher.index) == 60
    assert searcher.index.encoder.startswith("encoders/")          # the real towers, aligned here
    assert isinstance(searcher.encoder, ClipEncoder) and searcher.encoder.towers.locked
    assert len(searcher.text("jeans", k=5)) == 5
    built = (out / "CURRENT").read_text()
    assert ensure_demo_index(tmp_path / "demo") == out and (out / "CURRENT").read_text() == built
    assert "generated catalogue" in capsys.readouterr().out
