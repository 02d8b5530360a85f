"""Sends HL7 v2 messages to Homeward's MLLP port with an implementation that is not
Homeward's: the `hl7` package from PyPI (its MLLPClient frames and sends, hl7.parse reads
the ACKs). Used by tests/it/hl7.rs.

    python send.py HOST PORT FILE

FILE is a JSON list of messages (segments separated by CR); they are sent in order on one
connection, each waiting for its ACK. Prints a JSON list, one object per message:
{"msa1", "msa2", "text", "ack"} (MSA-1, MSA-2, MSA-3 as hl7.parse reads them)."""

import json
import sys

import hl7
from hl7.client import MLLPClient

SB, EB, CR = b"\x0b", b"\x1c", b"\x0d"


def read_ack(client, first):
    """MLLPClient.send returns what one recv() gave: read on until the frame ends."""
    data = first
    while not data.endswith(EB + CR):
        more = client.socket.recv(4096)
        if not more:
            raise RuntimeError("the server closed the connection before the ACK ended")
        data += more
    return data.strip(SB).rstrip(CR).rstrip(EB).decode("utf-8")


def main():
    host, port, path = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    with open(path, encoding="utf-8") as f:
        messages = json.load(f)
    out = []
    with MLLPClient(host, port) as client:
        for message in messages:
            raw = read_ack(client, client.send_message(message))
            ack = hl7.parse(raw)
            msa = ack.segment("MSA")
            out.append(
                {
                    "msa1": str(msa[1]),
                    "msa2": str(msa[2]),
                    "text": ack.unescape(str(msa[3])) if len(msa) > 3 else "",
                    "ack": raw,
                }
            )
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    main()
