"""audio_length.audio_seconds: the length speech recognition is priced by, read from the audio's header.
The MP3 streams are built frame by frame here (headers as the MPEG audio standard lays them out,
silent payloads), as an encoder writes them."""

from __future__ import annotations

import struct

import pytest

from hubroute.audio_length import audio_seconds
from hubroute.inputs.decode import Binary
from hubroute.inputs.spool import SpooledBody

# MPEG-1 layer III, 128 kbit/s, 44.1 kHz, joint stereo, no CRC: frames of 417 bytes (418 padded)
HEADER_128K = bytes([0xFF, 0xFB, 0x90, 0x40])
FRAME_128K = 1152 / 44100


def frame(header: bytes = HEADER_128K, size: int = 417, tag: bytes = b"") -> bytes:
    body = bytes(32) + tag  # the side information, then (first frame only) a Xing/Info tag
    return (header + body).ljust(size, b"\0")


def id3(size: int) -> bytes:
    syncsafe = bytes([size >> 21 & 0x7F, size >> 14 & 0x7F, size >> 7 & 0x7F, size & 0x7F])
    return b"ID3\x04\x00\x00" + syncsafe + bytes(size)


def test_a_constant_bit_rate_mp3_is_its_audio_bytes_at_its_bit_rate() -> None:
    mp3 = b"".join(frame() for _ in range(1000))
    assert audio_seconds(Binary(mp3)) == pytest.approx(1000 * 417 * 8 / 128_000)
    assert audio_seconds(Binary(mp3)) == pytest.approx(1000 * FRAME_128K, rel=0.01)  # (frames unpadded)


def test_a_variable_bit_rate_mp3_is_its_xing_frame_count_behind_an_id3_tag() -> None:
    xing = b"Xing" + struct.pack(">II", 1, 2500)  # flags: the frame count is there
    mp3 = id3(300_000) + frame(tag=xing) + b"".join(frame() for _ in range(10))
    body = SpooledBody(memory_limit=1024)  # most of it in a temporary file, as an upload would be
    body.write(mp3)
    try:
        assert audio_seconds(body.finish()) == pytest.approx(2500 * FRAME_128K)
    finally:
        body.close()


def test_mpeg2_frames_hold_576_samples_and_a_vbri_header_counts_them() -> None:
    header = bytes([0xFF, 0xF3, 0x80, 0xC4])  # MPEG-2 layer III, 64 kbit/s, 22.05 kHz, mono: 208-byte frames
    vbri = b"VBRI" + struct.pack(">HHHII", 1, 0, 75, 0, 100)
    mp3 = (header + bytes(32) + vbri).ljust(208, b"\0") + (header + bytes(204))
    assert audio_seconds(Binary(mp3)) == pytest.approx(100 * 576 / 22050)


def test_what_is_not_audio_it_knows_has_no_length() -> None:
    assert audio_seconds(None) is None
    assert audio_seconds(Binary(b"OggS" + bytes(100))) is None  # a format not read here
    assert audio_seconds(Binary(b"\xff\xfb" + bytes(100))) is None  # a lone sync word, no frame
    noise = HEADER_128K + bytes(413) + b"not a frame where the first said the next one starts"
    assert audio_seconds(Binary(noise)) is None
    assert audio_seconds(Binary(id3(9 * 1024 * 1024)[:20])) is None  # a tag beyond what is skipped
