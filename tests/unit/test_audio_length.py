"""audio_length.audio_seconds: the length speech recognition is priced by, read from the audio's header
(the files are built by tests/audio_files.py, their headers as their formats lay them out)."""

from __future__ import annotations

import struct

import pytest

from hubroute.audio_length import audio_seconds
from hubroute.inputs.decode import Binary
from hubroute.inputs.spool import SpooledBody
from tests.audio_files import (
    FTYP_M4A,
    MP3_FRAME_SECONDS,
    WEBM_HEADER,
    WEBM_SEGMENT,
    box,
    ebml,
    id3,
    m4a,
    m4a_moov,
    mp3_cbr,
    mp3_frame,
    ogg_opus,
    ogg_page,
    webm,
)


def test_a_constant_bit_rate_mp3_is_its_audio_bytes_at_its_bit_rate() -> None:
    mp3 = mp3_cbr(1000)
    assert audio_seconds(Binary(mp3)) == pytest.approx(1000 * 417 * 8 / 128_000)
    assert audio_seconds(Binary(mp3)) == pytest.approx(1000 * MP3_FRAME_SECONDS, rel=0.01)  # (frames unpadded)


def test_a_variable_bit_rate_mp3_is_its_xing_frame_count_behind_an_id3_tag() -> None:
    xing = b"Xing" + struct.pack(">II", 1, 2500)  # flags: the frame count is there
    mp3 = id3(300_000) + mp3_frame(tag=xing) + mp3_cbr(10)
    body = SpooledBody(memory_limit=1024)  # most of it in a temporary file, as an upload would be
    body.write(mp3)
    try:
        assert audio_seconds(body.finish()) == pytest.approx(2500 * MP3_FRAME_SECONDS)
    finally:
        body.close()


def test_mpeg2_frames_hold_576_samples_and_a_vbri_header_counts_them() -> None:
    header = bytes([0xFF, 0xF3, 0x80, 0xC4])  # MPEG-2 layer III, 64 kbit/s, 22.05 kHz, mono: 208-byte frames
    vbri = b"VBRI" + struct.pack(">HHHII", 1, 0, 75, 0, 100)
    mp3 = (header + bytes(32) + vbri).ljust(208, b"\0") + (header + bytes(204))
    assert audio_seconds(Binary(mp3)) == pytest.approx(100 * 576 / 22050)


def test_what_is_not_audio_it_knows_has_no_length() -> None:
    assert audio_seconds(None) is None
    assert audio_seconds(Binary(b"RIFF\x00\x00\x00\x00AVI " + bytes(100))) is None  # a format not read here
    assert audio_seconds(Binary(b"OggS" + bytes(100))) is None  # a codec not read here
    assert audio_seconds(Binary(b"\xff\xfb" + bytes(100))) is None  # a lone sync word, no frame
    noise = mp3_frame()[:4] + bytes(413) + b"not a frame where the first said the next one starts"
    assert audio_seconds(Binary(noise)) is None
    assert audio_seconds(Binary(id3(9 * 1024 * 1024)[:20])) is None  # a tag beyond what is skipped


def test_ogg_opus_and_vorbis_are_their_last_pages_granule_at_their_rate() -> None:
    other = ogg_page(9, 10**9, bytes(10))  # another stream's page after it: not this one's length
    assert audio_seconds(Binary(ogg_opus(3.0) + other)) == pytest.approx(3.0)
    vorbis_id = b"\x01vorbis" + struct.pack("<IBIiiiBB", 0, 2, 44100, 0, 128000, 0, 0xB8, 1)
    vorbis = ogg_page(3, 0, vorbis_id, 2) + ogg_page(3, 2 * 44100, bytes(4000), 4)
    assert audio_seconds(Binary(vorbis)) == pytest.approx(2.0)


def test_an_m4a_is_its_movie_headers_duration_even_after_its_media() -> None:
    faststart = FTYP_M4A + m4a_moov(10.0) + box(b"mdat", bytes(1000))
    assert audio_seconds(Binary(faststart)) == pytest.approx(10.0)
    assert audio_seconds(Binary(m4a(10.0))) == pytest.approx(10.0)
    body = SpooledBody(memory_limit=1024)  # the moov after 2 MB of media, on disk
    body.write(FTYP_M4A + box(b"free", b"") + box(b"mdat", bytes(2 * 1024 * 1024)) + m4a_moov(10.0))
    try:
        assert audio_seconds(body.finish()) == pytest.approx(10.0)
    finally:
        body.close()
    v1 = box(b"moov", box(b"mvhd", bytes([1, 0, 0, 0]) + struct.pack(">QQIQ", 0, 0, 1000, 61_500) + bytes(80)))
    assert audio_seconds(Binary(FTYP_M4A + v1)) == pytest.approx(61.5)


def test_a_webm_is_its_segments_duration_and_a_live_recording_has_none() -> None:
    assert audio_seconds(Binary(webm(12.345))) == pytest.approx(12.345)
    live = WEBM_HEADER + WEBM_SEGMENT + ebml(0x1549A966, ebml(0x2AD7B1, b"\x0f\x42\x40")) + ebml(0x1F43B675, bytes(50))
    assert audio_seconds(Binary(live)) is None  # a recording that never wrote its length
