"""hubroute.providers._multipart: the form bodies built by hand, checked byte for byte and read back."""

from __future__ import annotations

import email.parser
import email.policy

from hubroute.providers._multipart import FilePart, boundary, encode, field_text


def parse(body: bytes, content_type: str) -> list[tuple[dict[str, str], bytes]]:
    raw = f"Content-Type: {content_type}\r\n\r\n".encode() + body
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(raw)
    assert message.is_multipart() and not message.defects
    return [(dict(p.get_params(header="content-disposition")[1:]), p.get_payload(decode=True))
            for p in message.iter_parts()]


def test_exact_bytes():
    body, content_type = encode({"model": "m", "n": 2}, [FilePart("file", "a.wav", "audio/wav", b"RIFF\r\n--x")],
                                boundary_value="XyZ")
    assert content_type == "multipart/form-data; boundary=XyZ"
    assert body == (
        b"--XyZ\r\n"
        b'Content-Disposition: form-data; name="file"; filename="a.wav"\r\n'
        b"Content-Type: audio/wav\r\n"
        b"\r\n"
        b"RIFF\r\n--x\r\n"
        b"--XyZ\r\n"
        b'Content-Disposition: form-data; name="model"\r\n'
        b"\r\n"
        b"m\r\n"
        b"--XyZ\r\n"
        b'Content-Disposition: form-data; name="n"\r\n'
        b"\r\n"
        b"2\r\n"
        b"--XyZ--\r\n"
    )


def test_boundaries_are_random_and_bodies_read_back():
    assert len({boundary() for _ in range(50)}) == 50
    data = bytes(range(256)) * 4
    body, content_type = encode([("model", "whisper"), ("skip", None), ("flag", True)],
                                [FilePart("file", 'we"ird\nname.mp3', "audio/mpeg", data)])
    parts = parse(body, content_type)
    assert [p[0]["name"] for p in parts] == ["file", "model", "flag"]  # None values are left out
    assert parts[0][1] == data
    assert parts[0][0]["filename"] == "we%22ird%0Aname.mp3"  # no header injection
    assert parts[1][1] == b"whisper" and parts[2][1] == b"true"


def test_field_values():
    assert field_text("x") == "x"
    assert field_text(False) == "false"
    assert field_text(0.5) == "0.5"
    assert field_text(3) == "3"
    assert field_text(["a", 1]) == '["a",1]'
    assert field_text({"k": None}) == '{"k":null}'
