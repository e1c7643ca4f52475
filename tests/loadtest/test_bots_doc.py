"""docs/BOTS.md shows the example bot exactly as shipped."""

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_bots_guide_embeds_the_example_bot_verbatim() -> None:
    guide = (ROOT / "docs" / "BOTS.md").read_text(encoding="utf-8")
    source = (ROOT / "loadtest" / "examples" / "simple_bot.py").read_text(encoding="utf-8")
    assert f"```python\n{source}```" in guide
