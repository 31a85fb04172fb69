"""A real SMTP server for the email tests: aiosmtpd on 127.0.0.1.

Modes: `tls` (TLS from the first byte, as smtps:// expects), `starttls`
(plain greeting, STARTTLS offered and required before anything else) and
`plain` (no TLS offered at all). With --user/--password, AUTH (LOGIN,
PLAIN) is required before MAIL and, as aiosmtpd does by default, refused
before TLS. Each accepted message is stored as N.json (envelope, the user
that authenticated) and N.eml (the raw data) in --out; each injected fault
is appended to faults.log there. Once listening it prints `READY PORT`.
"""

import argparse
import json
import os
import signal
import socket
import ssl
import sys

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--mode", choices=["tls", "starttls", "plain"], required=True)
    p.add_argument("--cert")
    p.add_argument("--key")
    p.add_argument("--user")
    p.add_argument("--password")
    p.add_argument("--out", required=True)
    p.add_argument("--fault-on", choices=["rcpt", "data"])
    p.add_argument("--fault-reply", help="e.g. '451 4.3.0 Try again later'")
    p.add_argument("--fault-times", type=int, default=1, help="0: every time")
    a = p.parse_args()

    context = None
    if a.mode != "plain":
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(a.cert, a.key)

    handler = Handler(a)
    kwargs = {"hostname": "127.0.0.1", "port": free_port(), "server_hostname": "localhost"}
    smtp = {"auth_require_tls": True}
    if a.user is not None:
        smtp["authenticator"] = Authenticator(a.user, a.password or "")
        smtp["auth_required"] = True
    if a.mode == "tls":
        kwargs["ssl_context"] = context
        # Every session is encrypted from its first byte, but aiosmtpd only
        # counts STARTTLS as TLS: it would never offer AUTH here.
        smtp["auth_require_tls"] = False
    elif a.mode == "starttls":
        smtp["tls_context"] = context
        smtp["require_starttls"] = True
    controller = Controller(handler, **kwargs, **smtp)
    controller.start()
    print(f"READY {controller.port}", flush=True)
    # Until the test kills it, or its standard input closes (the test died).
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    try:
        sys.stdin.read()
    finally:
        controller.stop()


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Authenticator:
    def __init__(self, user, password):
        self.user, self.password = user.encode(), password.encode()

    def __call__(self, server, session, envelope, mechanism, auth_data):
        ok = isinstance(auth_data, LoginPassword) and (
            auth_data.login == self.user and auth_data.password == self.password
        )
        return AuthResult(success=ok, handled=False, auth_data=auth_data)


def auth_user(session):
    data = session.auth_data
    return data.login.decode() if isinstance(data, LoginPassword) else None


class Handler:
    def __init__(self, args):
        self.out = args.out
        self.fault_on = args.fault_on
        self.fault_reply = args.fault_reply
        self.fault_left = args.fault_times if args.fault_times > 0 else None
        self.count = 0

    def fault(self, stage):
        if stage != self.fault_on or self.fault_left == 0:
            return None
        if self.fault_left is not None:
            self.fault_left -= 1
        with open(os.path.join(self.out, "faults.log"), "a") as f:
            f.write(f"{stage} {self.fault_reply}\n")
        return self.fault_reply

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        reply = self.fault("rcpt")
        if reply:
            return reply
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        reply = self.fault("data")
        if reply:
            return reply
        self.count += 1
        base = os.path.join(self.out, str(self.count))
        with open(base + ".eml", "wb") as f:
            f.write(envelope.original_content or envelope.content)
        meta = {
            "mail_from": envelope.mail_from,
            "rcpt_tos": envelope.rcpt_tos,
            "auth_user": auth_user(session),
            "tls": server.transport.get_extra_info("sslcontext") is not None,
        }
        # Written last, under its final name: a reader sees whole messages.
        with open(base + ".json.tmp", "w") as f:
            json.dump(meta, f)
        os.rename(base + ".json.tmp", base + ".json")
        return "250 Message accepted for delivery"


if __name__ == "__main__":
    main()
