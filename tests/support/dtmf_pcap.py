"""RFC 2833 (4733) DTMF events as pcap files for SIPp's play_pcap_audio.

The stock dtmf_2833_N.pcap files all carry the same RTP timestamps, so a
second one reads to Asterisk as a retransmission of the first event. These
are written per key press, each with its own timestamp and sequence numbers.
"""

from __future__ import annotations

import struct
from pathlib import Path

PAYLOAD_TYPE = 101


def _udp_ip_eth(payload: bytes, sport: int = 6000, dport: int = 6002) -> bytes:
    udp = struct.pack("!HHHH", sport, dport, 8 + len(payload), 0) + payload
    ip_header = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), 0, 0, 64, 17, 0,
                            bytes([127, 0, 0, 1]), bytes([127, 0, 0, 1]))
    csum = 0
    for i in range(0, 20, 2):
        csum += (ip_header[i] << 8) + ip_header[i + 1]
    csum = (csum & 0xFFFF) + (csum >> 16)
    ip_header = ip_header[:10] + struct.pack("!H", ~csum & 0xFFFF) + ip_header[12:]
    eth = b"\x00" * 12 + b"\x08\x00"
    return eth + ip_header + udp


def write_dtmf_pcap(path: Path, digit: str, press: int, duration_ms: int = 200) -> None:
    """One key press: event packets every 20 ms, then three end packets.
    ``press`` (0, 1, 2 ...) gives each press its own RTP timestamp and seq."""
    event = "0123456789*#".index(digit)
    ts = 100_000 + press * 80_000
    seq = 1_000 + press * 100
    ssrc = 0x48544C4E  # "HTLN"
    packets = []
    steps = duration_ms // 20
    for i in range(steps + 3):
        end = i >= steps
        dur = min(i + 1, steps) * 160
        marker = 0x80 if i == 0 else 0
        rtp = struct.pack("!BBHII", 0x80, marker | PAYLOAD_TYPE, seq + i, ts, ssrc)
        body = struct.pack("!BBH", event, (0x80 if end else 0) | 10, dur)
        packets.append((i * 0.02, _udp_ip_eth(rtp + body)))
    with open(path, "wb") as fh:
        fh.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))
        for t, frame in packets:
            sec = int(t)
            usec = int((t - sec) * 1_000_000)
            fh.write(struct.pack("<IIII", sec, usec, len(frame), len(frame)))
            fh.write(frame)
