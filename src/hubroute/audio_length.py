"""The length of an audio input, read from its header before it is sent: what speech recognition is
priced by (reserved at once, charged whatever the provider's answer says).

    audio_seconds(blob)     seconds, or None when the format is not one read here or its header does not say

Formats: WAV (its data chunk's frames at its sample rate; a size left open by a streaming writer:
the rest of the file), FLAC (its STREAMINFO's samples at its sample rate) and MP3 (the frame count
of its Xing, Info or VBRI header, else, constant bit rate, its audio bytes at the first frame's bit
rate; an ID3v2 tag before it is skipped). Only headers are read, never the audio: a forged header
can understate a length (a FLAC's sample count; an MP3's frame count), which the provider's own
figures, when it gives them, do not correct.
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
    start = 0
    if head[:3] == b"ID3" and len(head) >= 10:
        size = (head[6] & 0x7F) << 21 | (head[7] & 0x7F) << 14 | (head[8] & 0x7F) << 7 | (head[9] & 0x7F)
        start = 10 + size + (10 if head[5] & 0x10 else 0)  # (a footer after it)
        if start > MAX_ID3:
            return None
        if start + 4096 > len(head):
            head = _head(blob, start + 4096)
    return _mp3_seconds(head, start, blob_size(blob))


def _head(blob: Blob, n: int) -> bytes:
    return blob.data[:n] if isinstance(blob, Binary) else blob.head(n)


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
