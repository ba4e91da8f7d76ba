#!/usr/bin/env python3
"""Verifies the DKIM signature of a saved message with dkimpy, an
independent implementation, as a receiving mail server would.

    dkim_verify.py --record NAME TXT MESSAGE.eml

The public key is not looked up in DNS: the lookup of NAME (for example
`postbode._domainkey.example.org`) answers TXT (`v=DKIM1; k=ed25519; p=...`),
any other name answers nothing. Prints one JSON object: `verified` (bool),
the signature's tags `a`, `d`, `s`, `c` and `h` (the signed headers, lower
case), and `log` (dkimpy's reasons when it fails).

Python 3.11, `dkimpy` and `pynacl` for ed25519-sha256
(tests/tools/requirements.txt).
"""

import argparse
import json
import logging

import dkim


class Collect(logging.Handler):
    def __init__(self):
        super().__init__()
        self.lines = []

    def emit(self, record):
        self.lines.append(record.getMessage())


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--record", nargs=2, metavar=("NAME", "TXT"), required=True)
    parser.add_argument("message")
    args = parser.parse_args()
    name, txt = args.record
    with open(args.message, "rb") as f:
        raw = f.read()

    def dnsfunc(asked, timeout=5):
        asked = asked.decode() if isinstance(asked, bytes) else asked
        return txt.encode() if asked.rstrip(".").lower() == name.lower() else None

    logger = logging.getLogger("dkim_verify")
    logger.setLevel(logging.DEBUG)
    collect = Collect()
    logger.addHandler(collect)
    d = dkim.DKIM(raw, logger=logger)
    try:
        verified = bool(d.verify(dnsfunc=dnsfunc))
    except dkim.DKIMException as e:
        verified = False
        collect.lines.append(str(e))
    tags = {}
    if d.signature_fields:
        tags = {
            k.decode(): d.signature_fields[k].decode()
            for k in (b"a", b"d", b"s", b"c", b"h")
            if k in d.signature_fields
        }
    if "h" in tags:
        tags["h"] = [h.strip().lower() for h in tags["h"].split(":")]
    print(json.dumps({"verified": verified, **tags, "log": collect.lines}))


if __name__ == "__main__":
    main()
