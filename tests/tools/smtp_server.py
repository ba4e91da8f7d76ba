#!/usr/bin/env python3
"""A real SMTP server for postbode's tests (aiosmtpd).

Listens on 127.0.0.1 on an ephemeral port and prints `PORT <n>` on stdout
once it accepts connections. Runs until stdin closes (the test process
ends) or it is killed.

Options:
  --starttls CERT KEY    offer STARTTLS with this PEM certificate and key,
                         and require it before MAIL
  --tls CERT KEY         implicit TLS (smtps) with this certificate and key
  --auth USER:PASS       require AUTH (PLAIN or LOGIN; over TLS only)
  --maildir DIR          save message n as DIR/<n>.eml plus DIR/<n>.json:
                         mail_from, rcpt_tos, connection (1 for the first
                         connection accepted, 2 for the next...) and, parsed
                         by Python's email
                         package, subject, message_id, the list headers and
                         the text and HTML parts
  --reject-rcpt ADDR:CODE  answer RCPT TO:<ADDR> with CODE (450, 550, ...);
                         repeatable
  --timeout SECONDS      close connections idle this long (default 300)
  --fault STAGE:WHAT[:N] a fault for the next N transactions (default: all)
                         at STAGE, repeatable (in order, per stage):
                           greeting  instead of the 220 banner
                           mail      in reply to MAIL FROM
                           rcpt      in reply to RCPT TO
                           data      in reply to the DATA command
                           message   as the final reply, after the body
                         WHAT is a reply code (421, 451, 550, 552...; a 421
                         is followed by closing the connection, as RFC 5321
                         §3.8 has it), `drop` (close the connection without
                         a reply; at `message` the message is saved first:
                         the server has it, the client never hears so) or,
                         at `greeting`, `silent` (never say anything)

Python 3.11, `aiosmtpd` (tests/tools/requirements.txt).
"""

import argparse
import asyncio
import email
import email.policy
import itertools
import json
import logging
import os
import ssl
import sys
import warnings

from aiosmtpd.smtp import SMTP, AuthResult, LoginPassword


class Faults:
    """The scripted faults: per stage, a list of [what, times left]."""

    def __init__(self, specs):
        self.stages = {}
        for spec in specs:
            stage, _, rest = spec.partition(":")
            what, _, times = rest.partition(":")
            self.stages.setdefault(stage, []).append([what, int(times) if times else None])

    def take(self, stage):
        """The fault for this transaction at `stage`, or None."""
        for fault in self.stages.get(stage, []):
            if fault[1] is None:
                return fault[0]
            if fault[1] > 0:
                fault[1] -= 1
                return fault[0]
        return None


def reply_text(code):
    return f"{code} fault injected by the test server"


class FaultySMTP(SMTP):
    """aiosmtpd's server with the scripted faults before MAIL, RCPT, DATA."""

    def __init__(self, handler, faults, **options):
        super().__init__(handler, **options)
        self.faults = faults

    async def fault(self, stage):
        what = self.faults.take(stage)
        if what is None:
            return False
        if what != "drop":
            await self.push(reply_text(what))
        if what in ("drop", "421"):
            self.transport.close()
        return True

    async def smtp_MAIL(self, arg):
        if not await self.fault("mail"):
            await super().smtp_MAIL(arg)

    async def smtp_RCPT(self, arg):
        if not await self.fault("rcpt"):
            await super().smtp_RCPT(arg)

    async def smtp_DATA(self, arg):
        if not await self.fault("data"):
            await super().smtp_DATA(arg)


class BadGreeting(asyncio.Protocol):
    """A server that answers a connection with a refusal, or not at all."""

    def __init__(self, what):
        self.what = what

    def connection_made(self, transport):
        if self.what != "silent":
            transport.write(f"{reply_text(self.what)}\r\n".encode())
            transport.close()


class Handler:
    def __init__(self, maildir, rejects, faults):
        self.maildir = maildir
        self.rejects = rejects
        self.faults = faults
        self.count = 0

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        code = self.rejects.get(address.lower())
        if code is not None:
            return f"{code} rejected by the test server"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        fault = self.faults.take("message")
        if fault is not None and fault != "drop":
            return reply_text(fault)
        self.save(server, session, envelope)
        if fault == "drop":
            server.transport.close()
        return "250 Message accepted"

    def save(self, server, session, envelope):
        self.count += 1
        if self.maildir:
            n = self.count
            raw = envelope.original_content or envelope.content
            write(os.path.join(self.maildir, f"{n}.eml"), raw)
            message = email.message_from_bytes(raw, policy=email.policy.default)
            text = message.get_body(("plain",))
            html = message.get_body(("html",))

            def header(name):
                value = message[name]
                return None if value is None else str(value)

            summary = {
                "mail_from": envelope.mail_from,
                "connection": getattr(server, "connection_number", None),
                "rcpt_tos": envelope.rcpt_tos,
                "tls": server.transport.get_extra_info("ssl_object") is not None,
                "authenticated": bool(session.authenticated),
                "content_type": message.get_content_type(),
                **{
                    name.lower().replace("-", "_"): header(name)
                    for name in (
                        "Subject",
                        "From",
                        "To",
                        "Reply-To",
                        "Date",
                        "Message-ID",
                        "List-Id",
                        "List-Unsubscribe",
                        "List-Unsubscribe-Post",
                    )
                },
                "text": text.get_content() if text else None,
                "html": html.get_content() if html else None,
            }
            write(
                os.path.join(self.maildir, f"{n}.json"),
                json.dumps(summary, ensure_ascii=False, indent=1).encode(),
            )


def write(path, data):
    """Writes through a temporary name, so a reader never sees half a file."""
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(data)
    os.replace(tmp, path)


def authenticator(user, password):
    def check(server, session, envelope, mechanism, auth_data):
        ok = (
            isinstance(auth_data, LoginPassword)
            and auth_data.login.decode() == user
            and auth_data.password.decode() == password
        )
        # handled=False: aiosmtpd then replies 535 itself; with its default
        # (True) a failed login gets no reply at all and the client hangs.
        return AuthResult(success=ok, handled=False)

    return check


async def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--starttls", nargs=2, metavar=("CERT", "KEY"))
    parser.add_argument("--tls", nargs=2, metavar=("CERT", "KEY"))
    parser.add_argument("--timeout", type=float, default=300)
    parser.add_argument("--auth", metavar="USER:PASS")
    parser.add_argument("--maildir")
    parser.add_argument("--reject-rcpt", action="append", default=[], metavar="ADDR:CODE")
    parser.add_argument("--fault", action="append", default=[], metavar="STAGE:WHAT[:N]")
    args = parser.parse_args()
    # Quiet: the test output is for the test's own messages.
    logging.getLogger("mail.log").setLevel(logging.ERROR)
    warnings.filterwarnings("ignore", message="Requiring AUTH while not requiring TLS")

    rejects = {}
    for item in args.reject_rcpt:
        address, _, code = item.rpartition(":")
        rejects[address.lower()] = int(code)
    if args.maildir:
        os.makedirs(args.maildir, exist_ok=True)
    faults = Faults(args.fault)
    handler = Handler(args.maildir, rejects, faults)

    options = {"hostname": "localhost", "timeout": args.timeout}
    implicit = None
    if args.starttls:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(*args.starttls)
        options.update(tls_context=context, require_starttls=True)
    if args.tls:
        implicit = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        implicit.load_cert_chain(*args.tls)
    if args.auth:
        user, _, password = args.auth.partition(":")
        options.update(
            authenticator=authenticator(user, password),
            auth_required=True,
            # aiosmtpd only counts STARTTLS as TLS; implicit TLS is TLS too.
            auth_require_tls=implicit is None,
        )

    # Numbered, so a test can tell one reused connection from several.
    numbers = itertools.count(1)

    def protocol():
        number = next(numbers)
        greeting = faults.take("greeting")
        if greeting is not None:
            return BadGreeting(greeting)
        smtp = FaultySMTP(handler, faults, **options)
        smtp.connection_number = number
        return smtp

    loop = asyncio.get_running_loop()
    server = await loop.create_server(protocol, host="127.0.0.1", port=0, ssl=implicit)
    port = server.sockets[0].getsockname()[1]
    print(f"PORT {port}", flush=True)

    # Stop when the test that started us goes away.
    stdin_closed = loop.create_future()

    def on_stdin():
        if not os.read(sys.stdin.fileno(), 4096):
            loop.remove_reader(sys.stdin.fileno())
            stdin_closed.set_result(None)

    loop.add_reader(sys.stdin.fileno(), on_stdin)
    await stdin_closed
    server.close()


if __name__ == "__main__":
    asyncio.run(main())
