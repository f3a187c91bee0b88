"""The length of an audio input, read from its header before it is sent: what speech recognition is
priced by (reserved at once, charged whatever the provider's answer says).

    audio_seconds(blob)     seconds, or None when the format is not one read here or its header does not say

Formats: WAV (its data chunk's frames at its sample rate; a size left open by a streaming writer:
the rest of the file), FLAC (its STREAMINFO's samples at its sample rate), MP3 (the frame count of
its Xing, Info or VBRI header, else, constant bit rate, its audio bytes at the first frame's bit
rate; an ID3v2 tag before it is skipped), Ogg Opus and Vorbis (the granule position of the stream's
last page), MP4 and M4A (the movie header's duration, wherever the `moov` box is) and WebM /
Matroska (the segment's Duration; a live recording that never wrote one has no length here). Only
headers are read, never the audio: a forged header can understate a length, which the provider's
own figures, when it gives them, do not correct.
"""

from __future__ import annotations

import struct

from hubroute.inputs.decode import Binary
from hubroute.inputs.spool import Blob, blob_size

#: bytes of an audio input read for its header (a WAV's data chunk may follow others: LIST, bext...)
HEAD = 64 * 1024
#: at most this much of an ID3v2 tag (cover art...) is skipped to find an MP3's first frame
MAX_ID3 = 8 * 1024 * 1024


def audio_seconds(blob: Blob | None) -> float | None:
    if blob is None:
        return None
    head = _head(blob, HEAD)
    if head[:4] == b"RIFF" and head[8:12] == b"WAVE":
        return _wav_seconds(head, blob_size(blob))
    if head[:4] == b"fLaC" and len(head) >= 26 and head[4] & 0x7F == 0:  # STREAMINFO comes first
        packed = int.from_bytes(head[18:26], "big")  # rate 20 bits, channels 3, bits 5, samples 36
        rate, samples = packed >> 44, packed & (1 << 36) - 1
        return samples / rate if rate and samples else None
    size = blob_size(blob)
    if head[:4] == b"OggS":
        return _ogg_seconds(head, _at(blob, max(size - TAIL, 0), TAIL))
    if head[4:8] == b"ftyp":
        return _mp4_seconds(blob, size)
    if head[:4] == b"\x1a\x45\xdf\xa3":
        return _webm_seconds(head)
    start = 0
    if head[:3] == b"ID3" and len(head) >= 10:
        size = (head[6] & 0x7F) << 21 | (head[7] & 0x7F) << 14 | (head[8] & 0x7F) << 7 | (head[9] & 0x7F)
        start = 10 + size + (10 if head[5] & 0x10 else 0)  # (a footer after it)
        if start > MAX_ID3:
            return None
        if start + 4096 > len(head):
            head = _head(blob, start + 4096)
    return _mp3_seconds(head, start, size)


#: bytes read from an Ogg stream's end for its last page (a page holds at most 65,307)
TAIL = 72 * 1024


def _head(blob: Blob, n: int) -> bytes:
    return blob.data[:n] if isinstance(blob, Binary) else blob.head(n)


def _at(blob: Blob, offset: int, n: int) -> bytes:
    return blob.data[offset:offset + n] if isinstance(blob, Binary) else blob.read_at(offset, n)


#: WAV formats whose frames are one sample each (PCM, float, A-law, mu-law, extensible): their length is
#: what decoders play, frames at the sample rate (not the header's redundant byte rate)
_WAV_SAMPLED = frozenset({1, 3, 6, 7, 0xFFFE})


def _wav_seconds(head: bytes, size: int) -> float | None:
    byte_rate = 0
    at = 12
    while at + 8 <= len(head):
        chunk, length = head[at:at + 4], struct.unpack_from("<I", head, at + 4)[0]
        if chunk == b"fmt " and at + 22 <= len(head):
            tag, _, rate, byte_rate, align = struct.unpack_from("<HHIIH", head, at + 8)
            if tag in _WAV_SAMPLED:
                byte_rate = rate * align
        elif chunk == b"data":
            rest = size - at - 8
            data = length if 0 < length <= rest else rest
            return data / byte_rate if byte_rate and data > 0 else None
        at += 8 + length + (length & 1)  # chunks are padded to an even length
    return None


# --- MP3 (MPEG-1, -2 and 2.5 audio, layers I to III) ------------------------------------------------
#: kbit/s by bitrate index: (MPEG-1 layer I, II, III), then MPEG-2 and 2.5 (layer I; layers II and III)
_BITRATES = {
    (1, 1): (0, 32, 64, 96, 128, 160, 192, 224, 256, 288, 320, 352, 384, 416, 448),
    (1, 2): (0, 32, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320, 384),
    (1, 3): (0, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320),
    (2, 1): (0, 32, 48, 56, 64, 80, 96, 112, 128, 144, 160, 176, 192, 224, 256),
    (2, 2): (0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160),
}
#: Hz by sample-rate index, per version (1: MPEG-1, 2: MPEG-2, 25: MPEG-2.5)
_RATES = {1: (44100, 48000, 32000), 2: (22050, 24000, 16000), 25: (11025, 12000, 8000)}


def _frame(head: bytes, at: int) -> tuple[int, int, int, int, int, bool] | None:
    """An MPEG audio frame header at `at`: (version, layer, kbit/s, Hz, frame bytes, mono), or None."""
    if at + 4 > len(head) or head[at] != 0xFF or head[at + 1] & 0xE0 != 0xE0:
        return None
    b1, b2, b3 = head[at + 1], head[at + 2], head[at + 3]
    version = {3: 1, 2: 2, 0: 25}.get(b1 >> 3 & 3)
    layer = {3: 1, 2: 2, 1: 3}.get(b1 >> 1 & 3)
    bitrate_index, rate_index = b2 >> 4, b2 >> 2 & 3
    if version is None or layer is None or bitrate_index in (0, 15) or rate_index == 3:
        return None
    table = (1, layer) if version == 1 else (2, 1 if layer == 1 else 2)
    kbps, rate, padding = _BITRATES[table][bitrate_index], _RATES[version][rate_index], b2 >> 1 & 1
    if layer == 1:
        size = (12 * kbps * 1000 // rate + padding) * 4
    else:
        size = (144 if layer == 2 or version == 1 else 72) * kbps * 1000 // rate + padding
    return version, layer, kbps, rate, size, b3 >> 6 == 3


def _mp3_seconds(head: bytes, start: int, size: int) -> float | None:
    at = start
    while at < min(start + 4096, len(head)) and head[at] == 0:  # padding some encoders leave
        at += 1
    first = _frame(head, at)
    if first is None:
        return None
    after = _frame(head, at + first[4])  # a second frame where the first says it ends: a real stream
    if after is None and at + first[4] + 4 <= len(head):
        return None
    version, layer, kbps, rate, _, mono = first
    samples = 384 if layer == 1 else 1152 if layer == 2 or version == 1 else 576
    side = (17 if mono else 32) if version == 1 else (9 if mono else 17)
    for tag_at in (at + 4 + side, at + 36):  # Xing / Info after the side information; VBRI at 32
        tag = head[tag_at:tag_at + 4]
        if tag in (b"Xing", b"Info") and tag_at + 12 <= len(head):
            flags, frames = struct.unpack_from(">II", head, tag_at + 4)
            if flags & 1 and frames:
                return float(frames * samples / rate)
        elif tag == b"VBRI" and tag_at + 18 <= len(head):
            frames = struct.unpack_from(">I", head, tag_at + 14)[0]
            if frames:
                return float(frames * samples / rate)
    audio = size - at  # (an ID3v1 tag at its end, 128 bytes, is left in: 8 ms at 128 kbit/s)
    return audio * 8 / (kbps * 1000) if audio > 0 else None


# --- Ogg (Opus, Vorbis) ------------------------------------------------------------------------------
def _ogg_seconds(head: bytes, tail: bytes) -> float | None:
    """The last page's granule position (samples) of the first page's stream, at its codec's rate."""
    if len(head) < 28:
        return None
    serial, packet = head[14:18], head[27 + head[26]:]
    if packet[:8] == b"OpusHead" and len(packet) >= 12:
        rate, skip = 48000, struct.unpack_from("<H", packet, 10)[0]  # Opus counts at 48 kHz, less its pre-skip
    elif packet[:7] == b"\x01vorbis" and len(packet) >= 16:
        rate, skip = struct.unpack_from("<I", packet, 12)[0], 0
    else:
        return None
    at = tail.rfind(b"OggS")
    while at >= 0:
        if tail[at + 14:at + 18] == serial and at + 14 <= len(tail):
            granule = struct.unpack_from("<q", tail, at + 6)[0]
            return (granule - skip) / rate if rate and granule > skip else None
        at = tail.rfind(b"OggS", 0, at)
    return None


# --- MP4 / M4A ----------------------------------------------------------------------------------------
def _mp4_seconds(blob: Blob, size: int) -> float | None:
    """The movie header's (`moov` / `mvhd`) duration over its timescale; the top-level boxes are walked
    by their headers (a `moov` after the media data is found without reading the media)."""
    at = 0
    while at + 8 <= size:
        box = _at(blob, at, 16)
        length, kind = struct.unpack_from(">I4s", box)
        if length == 1 and len(box) >= 16:
            length = struct.unpack_from(">Q", box, 8)[0]
        elif length == 0:
            length = size - at
        if length < 8:
            return None
        if kind == b"moov":
            moov = _at(blob, at + 8, min(length - 8, 4096))
            return _mvhd_seconds(moov)
        at += length
    return None


def _mvhd_seconds(moov: bytes) -> float | None:
    at = 0
    while at + 8 <= len(moov):
        length, kind = struct.unpack_from(">I4s", moov, at)
        if kind == b"mvhd":
            version = moov[at + 8] if at + 8 < len(moov) else None
            if version == 0 and at + 28 <= len(moov):
                timescale, duration = struct.unpack_from(">II", moov, at + 20)
            elif version == 1 and at + 40 <= len(moov):
                timescale, duration = struct.unpack_from(">IQ", moov, at + 28)
            else:
                return None
            return duration / timescale if timescale and duration not in (0, 0xFFFFFFFF) else None
        if length < 8:
            return None
        at += length
    return None


# --- WebM / Matroska ----------------------------------------------------------------------------------
_SEGMENT, _INFO, _CLUSTER = 0x18538067, 0x1549A966, 0x1F43B675
_TIMECODE_SCALE, _DURATION = 0x2AD7B1, 0x4489


def _ebml(data: bytes, at: int, keep_marker: bool) -> tuple[int, int] | None:
    """An EBML variable-size integer at `at`: (its value, its length); an element id keeps its length
    marker, a size does not. None past the end or for a malformed one."""
    if at >= len(data) or data[at] == 0:
        return None
    first = data[at]
    length = 8 - first.bit_length() + 1
    if at + length > len(data):
        return None
    value = first if keep_marker else first & (0xFF >> length)
    for byte in data[at + 1:at + length]:
        value = value << 8 | byte
    return value, length


def _webm_seconds(head: bytes) -> float | None:
    """The Segment's Info Duration (in TimecodeScale nanoseconds), read from the header bytes: Info
    comes before the first Cluster."""
    at = 0
    element = _ebml(head, at, True)
    size = _ebml(head, at + element[1], False) if element else None
    if element is None or size is None:
        return None
    at += element[1] + size[1] + size[0]  # past the EBML header
    element = _ebml(head, at, True)
    size = _ebml(head, at + element[1], False) if element else None
    if element is None or size is None or element[0] != _SEGMENT:
        return None
    at += element[1] + size[1]  # into the Segment (its size may be "unknown": a live recording)
    while True:
        element = _ebml(head, at, True)
        size = _ebml(head, at + element[1], False) if element else None
        if element is None or size is None or element[0] == _CLUSTER:
            return None
        body = at + element[1] + size[1]
        if element[0] == _INFO:
            return _info_seconds(head[body:body + size[0]])
        at = body + size[0]


def _info_seconds(info: bytes) -> float | None:
    scale, duration, at = 1_000_000, None, 0
    while (element := _ebml(info, at, True)) is not None and (size := _ebml(info, at + element[1], False)):
        body = at + element[1] + size[1]
        value = info[body:body + size[0]]
        if element[0] == _TIMECODE_SCALE and value:
            scale = int.from_bytes(value, "big")
        elif element[0] == _DURATION and len(value) in (4, 8):
            duration = struct.unpack(">f" if len(value) == 4 else ">d", value)[0]
        at = body + size[0]
    return duration * scale / 1e9 if duration and duration > 0 else None
