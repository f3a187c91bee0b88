"""Audio files built in memory, their headers laid out as their formats' specifications say and their
audio silent: what tests of pricing by length send (no encoder is needed, nor any file in the repo)."""

from __future__ import annotations

import io
import struct
import wave

# MPEG-1 layer III, 128 kbit/s, 44.1 kHz, joint stereo, no CRC: frames of 417 bytes (418 padded)
MP3_HEADER_128K = bytes([0xFF, 0xFB, 0x90, 0x40])
MP3_FRAME_SECONDS = 1152 / 44100


def wav(seconds: float, rate: int = 16_000) -> bytes:
    """`seconds` of 16-bit mono silence (the standard library writes the header)."""
    out = io.BytesIO()
    with wave.open(out, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(bytes(round(seconds * rate) * 2))
    return out.getvalue()


def mp3_frame(header: bytes = MP3_HEADER_128K, size: int = 417, tag: bytes = b"") -> bytes:
    return (header + bytes(32) + tag).ljust(size, b"\0")  # side information, then (first frame) a tag


def mp3_cbr(frames: int) -> bytes:
    """Constant bit rate: its length is its bytes at 128 kbit/s, frames * 417 * 8 / 128,000 s."""
    return b"".join(mp3_frame() for _ in range(frames))


def id3(size: int) -> bytes:
    syncsafe = bytes([size >> 21 & 0x7F, size >> 14 & 0x7F, size >> 7 & 0x7F, size & 0x7F])
    return b"ID3\x04\x00\x00" + syncsafe + bytes(size)


def ogg_page(serial: int, granule: int, packet: bytes, header_type: int = 0) -> bytes:
    segments = [255] * (len(packet) // 255) + [len(packet) % 255]
    return (b"OggS" + bytes([0, header_type]) + struct.pack("<qIII", granule, serial, 0, 0)
            + bytes([len(segments), *segments]) + packet)


def ogg_opus(seconds: float, pre_skip: int = 312) -> bytes:
    head = b"OpusHead" + bytes([1, 1]) + struct.pack("<HIhB", pre_skip, 48000, 0, 0)
    audio = b"".join(ogg_page(7, 960 * i, bytes(200)) for i in range(1, 20))
    return ogg_page(7, 0, head, 2) + audio + ogg_page(7, round(seconds * 48000) + pre_skip, bytes(200), 4)


def box(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", 8 + len(body)) + kind + body


FTYP_M4A = box(b"ftyp", b"M4A \x00\x00\x02\x00isomiso2")


def m4a_moov(seconds: float, timescale: int = 44100) -> bytes:
    mvhd = box(b"mvhd", bytes(4) + struct.pack(">IIII", 0, 0, timescale, round(seconds * timescale)) + bytes(80))
    return box(b"moov", mvhd + box(b"trak", bytes(40)))


def m4a(seconds: float, media: int = 1000) -> bytes:
    """Its `moov` after its media, as encoders that do not move it to the front write it."""
    return FTYP_M4A + box(b"mdat", bytes(media)) + m4a_moov(seconds)


def ebml(element_id: int, body: bytes) -> bytes:
    assert len(body) < 127
    return element_id.to_bytes((element_id.bit_length() + 7) // 8, "big") + bytes([0x80 | len(body)]) + body


WEBM_HEADER = ebml(0x1A45DFA3, ebml(0x4282, b"webm"))
#: a segment whose size is not known (as a recording still being written)
WEBM_SEGMENT = b"\x18\x53\x80\x67" + b"\x01\xff\xff\xff\xff\xff\xff\xff"


def webm(seconds: float) -> bytes:
    info = ebml(0x1549A966, ebml(0x2AD7B1, (1_000_000).to_bytes(3, "big"))
                + ebml(0x4489, struct.pack(">d", seconds * 1000)))
    return WEBM_HEADER + WEBM_SEGMENT + ebml(0xEC, bytes(4)) + info + ebml(0x1F43B675, bytes(50))
