"""The web app's smaller limits: equal work for every sign-up, Redis down, token ids, body size."""

from __future__ import annotations

import re
import socket
import uuid

import pytest
from sqlalchemy import event, select

from helpers import free_port, make_env
from webserver import serving
from digest import tokens
from digest.config import load_settings
from digest.db import get_engine, session_factory
from digest.models import Subscriber
from digest.web import create_app
from digest.web.limits import MAX_FORM_BYTES
from test_web import FORM, make_web, subscribe, web_any_db  # noqa: F401 (a fixture)


# --- the same work for a new and a known address ------------------------------------------------


def statements_of(web, client, email: str) -> tuple[list[str], int]:
    """The SQL verbs one sign-up runs, and how many mails it sends."""
    seen: list[str] = []

    def record(conn, cursor, statement, parameters, context, executemany):
        seen.append(statement.split(None, 1)[0].upper())

    engine = get_engine(web.settings.database_url)
    mails = len(web.smtp.messages)
    event.listen(engine, "before_cursor_execute", record)
    try:
        assert subscribe(client, email=email).status_code == 200
    finally:
        event.remove(engine, "before_cursor_execute", record)
    return seen, len(web.smtp.messages) - mails


def test_new_pending_active_and_unsubscribed_addresses_cost_the_same_statements_and_mails(web_any_db):
    web = web_any_db
    web.add("active@example.org")
    web.add("pending@example.org", status="pending")
    web.add("gone@example.org", status="unsubscribed")
    client = web.client()
    subscribe(client, email="warm-up@example.org")  # the first request loads templates and opens the pool
    costs = {email: statements_of(web, client, email)
             for email in ("new@example.org", "pending@example.org", "active@example.org", "gone@example.org")}
    assert costs["new@example.org"][0][:3] == ["INSERT", "SELECT", "UPDATE"]
    assert len(set(map(repr, costs.values()))) == 1, costs
    assert web.row("active@example.org").status == "active" and web.row("active@example.org").confirm_nonce is None


# --- Redis down ---------------------------------------------------------------------------------


def test_sign_ups_answer_503_and_change_nothing_while_redis_is_down(tmp_path, sqlite_url, smtp_server):
    handler, port = smtp_server
    closed = free_port()
    settings = load_settings(make_env(tmp_path, sqlite_url, DIGEST_SMTP_URL=f"smtp://127.0.0.1:{port}",
                                      DIGEST_BROKER_URL=f"redis://127.0.0.1:{closed}/0"), read_dotenv=False)
    client = create_app(settings).test_client()
    token = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/").text).group(1)
    page = client.post("/", data={**FORM, "csrf_token": token})
    assert page.status_code == 503 and "Sign-ups are paused" in page.text
    assert handler.messages == []
    with session_factory(settings.database_url)() as session:
        assert session.scalars(select(Subscriber)).all() == []


# --- token ids -------------------------------------------------------------------------------------


def forged(web, purpose: str, sid: str, mac_for: int) -> str:
    """A token whose MAC is valid for `mac_for` but whose id is spelled `sid`."""
    return f"{sid}.{tokens._link_mac(web.settings.secret_key, purpose, mac_for)}"


@pytest.mark.parametrize("purpose", ["unsubscribe", "preferences"])
def test_token_ids_with_a_leading_zero_or_other_digits_are_not_valid(web_any_db, purpose):
    web = web_any_db
    subscriber = web.add("ada@example.org")
    sid = subscriber.id
    client = web.client()
    assert client.get(f"/{purpose}/{forged(web, purpose, str(sid), sid)}").status_code == 200
    arabic_indic = "".join(chr(0x660 + int(d)) for d in str(sid))  # ٣ for 3: int() reads it as 3
    for spelling in (f"0{sid}", f"00{sid}", arabic_indic, f"+{sid}", f" {sid}"):
        assert client.get(f"/{purpose}/{forged(web, purpose, spelling, sid)}").status_code == 400, spelling
    assert web.row("ada@example.org").status == "active"


@pytest.mark.parametrize("sid", [2**31, 99999999999999999, 10**18])
def test_a_forged_valid_mac_for_an_id_beyond_the_column_is_a_bad_link_not_a_500(tmp_path, pg_database_url,
                                                                                 smtp_server, sid):
    from digest.db import ensure_schema

    ensure_schema(pg_database_url)
    web = make_web(tmp_path, pg_database_url, smtp_server)
    client = web.client()
    for purpose in ("unsubscribe", "preferences"):
        assert client.get(f"/{purpose}/{forged(web, purpose, str(sid), sid)}").status_code == 400
        assert client.post(f"/{purpose}/{forged(web, purpose, str(sid), sid)}",
                           data={"List-Unsubscribe": "One-Click"}).status_code == 400
    confirm = tokens._serializer(web.settings.secret_key, "confirm").dumps([sid, "x" * 20])
    assert client.get(f"/confirm/{confirm}").status_code == 400


# --- body size, whatever the transfer encoding ------------------------------------------------------


@pytest.fixture
def served(tmp_path, sqlite_url, smtp_server):
    """The app behind werkzeug's real server on a loopback port; yields the port."""
    handler, smtp_port = smtp_server
    port = free_port()
    settings = load_settings(make_env(tmp_path, sqlite_url, DIGEST_SMTP_URL=f"smtp://127.0.0.1:{smtp_port}"),
                             read_dotenv=False)
    app = create_app(settings)
    app.extensions["digest"].limiter.prefix = f"digest-test:{uuid.uuid4().hex}"
    with serving(app, port):
        yield port


def raw_post(port: int, body: bytes, chunked: bool) -> int:
    """POST / over a plain socket; the status code of the answer."""
    with socket.create_connection(("127.0.0.1", port), timeout=20) as sock:
        head = "POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/x-www-form-urlencoded\r\n"
        head += "Transfer-Encoding: chunked\r\n" if chunked else f"Content-Length: {len(body)}\r\n"
        sock.sendall((head + "Connection: close\r\n\r\n").encode())
        try:
            if chunked:
                for i in range(0, len(body), 65536):
                    piece = body[i : i + 65536]
                    sock.sendall(f"{len(piece):x}\r\n".encode() + piece + b"\r\n")
                sock.sendall(b"0\r\n\r\n")
            else:
                sock.sendall(body)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the server may answer and close before reading everything
        answer = b""
        while b"\r\n" not in answer:
            data = sock.recv(4096)
            if not data:
                break
            answer += data
    return int(answer.split(b" ", 2)[1])


@pytest.mark.parametrize("chunked", [False, True])
def test_a_body_over_the_cap_is_refused_with_413_whatever_the_transfer_encoding(served, chunked):
    body = b"email=ada%40example.org&topics=" + b"a" * (2 * 1024 * 1024)
    assert raw_post(served, body, chunked) == 413


@pytest.mark.parametrize("chunked", [False, True])
def test_a_body_just_over_the_cap_is_refused_and_one_under_is_read(served, chunked):
    over = b"topics=" + b"a" * MAX_FORM_BYTES
    under = b"topics=" + b"a" * 1000
    assert raw_post(served, over, chunked) == 413
    assert raw_post(served, under, chunked) == 400  # read, then refused for its missing CSRF token
