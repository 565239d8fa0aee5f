"""Strings from data reach the page escaped, and error text never shows server paths."""
from dashboards.text import md, one_line, plain, public_message, shorten


def test_markdown_text_is_inert():
    s = md('<img src=x onerror="alert(1)"> **bold** [link](http://x) normal_-1_-1')
    assert "<" not in s and ">" not in s and "&lt;img" in s
    assert "\\*\\*bold\\*\\*" in s and "\\[link\\]" in s and "normal\\_\\-1\\_\\-1" in s
    assert plain("<b>&") == "&lt;b&gt;&amp;"


def test_public_message_hides_server_paths(tmp_path):
    roots = {"data": tmp_path / "data", "runs": tmp_path / "runs"}
    msg = public_message(f"[Errno 2] No such file: '{tmp_path}/data/sub/x.nc' and /etc/secret/key.pem", roots)
    assert "data:sub/x.nc" in msg and "key.pem" in msg
    assert str(tmp_path) not in msg and "/etc/secret" not in msg
    assert public_message("units 1/omega_p and (0.01c)²/frame", roots) == "units 1/omega_p and (0.01c)²/frame"
    long = public_message("x" * 5000)
    assert len(long) == 300 and long.endswith("...")
    assert one_line("a\n  b\tc") == "a b c" and one_line(ValueError()) == "ValueError"
    assert shorten("abcdefghij", 5) == "ab…ij"
