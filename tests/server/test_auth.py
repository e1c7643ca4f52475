import asyncio
import base64
import json
import time
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import httpx
import jwt
import pytest
from argon2 import PasswordHasher
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Mount

import server.auth
from server.auth import AuthService, check_password_policy
from server.config import Settings
from server.db import create_pool, migrate
from server.errors import ApiError
from server.gateway.http import api_error_response
from server.gateway.routes_auth import routes

SECRET = "test-secret-" + "x" * 40
PASSWORD = "Correct-horse-9"
OTHER_PASSWORD = "Battery-staple-7"


@pytest.fixture
async def pool(db_url: str) -> AsyncIterator[asyncpg.Pool]:
    conn = await asyncpg.connect(db_url)
    try:
        await migrate(conn)
    finally:
        await conn.close()
    pool = await create_pool(db_url, min_size=1, max_size=4)
    yield pool
    await pool.close()


@pytest.fixture
def auth(pool: asyncpg.Pool) -> AuthService:
    return AuthService(pool, Settings(jwt_secret=SECRET))


async def _api_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ApiError)
    return api_error_response(exc)


@pytest.fixture
async def client(auth: AuthService) -> AsyncIterator[httpx.AsyncClient]:
    app = Starlette(
        routes=[Mount("/api/v1", routes=routes)], exception_handlers={ApiError: _api_error}
    )
    app.state.auth = auth
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1/api/v1") as c:
        yield c


async def register(client: httpx.AsyncClient, email: str, password: str = PASSWORD) -> str:
    r = await client.post("/auth/register", json={"email": email, "password": password})
    assert r.status_code == 201, r.text
    user_id: str = r.json()["user_id"]
    return user_id


async def login(client: httpx.AsyncClient, email: str, password: str = PASSWORD) -> dict[str, Any]:
    r = await client.post("/auth/login", json={"email": email, "password": password})
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def assert_error(r: httpx.Response, status: int, code: str) -> None:
    assert r.status_code == status, r.text
    assert r.json()["code"] == code


# -- password policy ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("password", "rule"),
    [
        ("Sh0rt!pw", "at least 10 characters"),
        ("Aa1!" + "x" * 253, "at most 256 characters"),
        ("lower-case-only-1", "upper-case letter"),
        ("UPPER-CASE-ONLY-1", "lower-case letter"),
        ("No-Digits-Here", "digit"),
        ("NoSpecials123", "special character"),
    ],
)
def test_password_policy_names_the_broken_rule(password: str, rule: str) -> None:
    message = check_password_policy(password)
    assert message is not None and rule in message


@pytest.mark.parametrize(
    "password", [PASSWORD, "Aa1 " + "x" * 6, "Ünïcödé-pw-1", "Aa1!" + "x" * 252]
)
def test_password_policy_accepts_strong_passwords(password: str) -> None:
    assert check_password_policy(password) is None


# -- register / login -----------------------------------------------------------------


async def test_register_creates_a_user_with_an_empty_account_and_string_id(
    client: httpx.AsyncClient, pool: asyncpg.Pool
) -> None:
    user_id = await register(client, "  Alice@Example.COM ")
    assert isinstance(user_id, str) and user_id.isdigit()
    row = await pool.fetchrow("SELECT email, role FROM users WHERE user_id = $1", int(user_id))
    assert dict(row) == {"email": "alice@example.com", "role": "trader"}
    account = await pool.fetchrow(
        "SELECT available, held FROM accounts WHERE user_id = $1", int(user_id)
    )
    assert dict(account) == {"available": 0, "held": 0}
    password_hash = await pool.fetchval("SELECT password_hash FROM credentials")
    assert password_hash.startswith("$argon2id$") and PASSWORD not in password_hash


async def test_register_rejects_a_duplicate_email_whatever_its_case(
    client: httpx.AsyncClient,
) -> None:
    await register(client, "bob@example.com")
    r = await client.post(
        "/auth/register", json={"email": " BOB@Example.com", "password": PASSWORD}
    )
    assert_error(r, 409, "conflict")


async def test_register_rejects_a_weak_password_with_the_rule_it_broke(
    client: httpx.AsyncClient,
) -> None:
    r = await client.post(
        "/auth/register", json={"email": "c@example.com", "password": "weakpassword1!"}
    )
    assert_error(r, 400, "invalid_message")
    assert "upper-case" in r.json()["message"]


@pytest.mark.parametrize(
    "email",
    [
        "no-at-sign.example.com",
        "two@@example.com",
        "a@b@example.com",
        "@example.com",
        "user@localhost",
        "user@example.",
        "user@.com",
        "us er@example.com",
        "a" * 250 + "@example.com",
    ],
)
async def test_register_rejects_a_malformed_email(client: httpx.AsyncClient, email: str) -> None:
    r = await client.post("/auth/register", json={"email": email, "password": PASSWORD})
    assert_error(r, 400, "invalid_message")


async def test_login_returns_a_bearer_token_pair(client: httpx.AsyncClient) -> None:
    user_id = await register(client, "dora@example.com")
    r = await client.post("/auth/login", json={"email": "DORA@example.com ", "password": PASSWORD})
    assert r.status_code == 200
    assert r.headers["cache-control"] == "no-store"
    body = r.json()
    assert set(body) == {"access_token", "refresh_token", "expires_in", "token_type", "user_id"}
    assert body["token_type"] == "bearer"
    assert body["expires_in"] == 900
    assert body["user_id"] == user_id
    claims = jwt.decode(body["access_token"], SECRET, algorithms=["HS256"])
    assert claims["sub"] == user_id and claims["role"] == "trader" and claims["type"] == "access"
    assert claims["exp"] - claims["iat"] == 900 and claims["jti"]


async def test_wrong_password_and_unknown_email_give_the_same_401(
    client: httpx.AsyncClient,
) -> None:
    await register(client, "erin@example.com")
    wrong = await client.post(
        "/auth/login", json={"email": "erin@example.com", "password": OTHER_PASSWORD}
    )
    unknown = await client.post(
        "/auth/login", json={"email": "nobody@example.com", "password": PASSWORD}
    )
    assert_error(wrong, 401, "unauthorized")
    assert wrong.json() == unknown.json()


async def test_login_with_an_unknown_email_still_verifies_a_password_hash(
    client: httpx.AsyncClient, auth: AuthService, monkeypatch: pytest.MonkeyPatch
) -> None:
    await register(client, "fay@example.com")
    verified: list[str] = []
    real = auth._verify_sync

    def spy(password_hash: str, password: str) -> bool:
        verified.append(password_hash)
        return real(password_hash, password)

    monkeypatch.setattr(auth, "_verify_sync", spy)
    await client.post("/auth/login", json={"email": "ghost@example.com", "password": PASSWORD})
    await client.post("/auth/login", json={"email": "fay@example.com", "password": OTHER_PASSWORD})
    assert len(verified) == 2
    assert all(h.startswith("$argon2id$") for h in verified)
    assert verified[0] != verified[1]


async def test_password_hashing_does_not_block_the_event_loop(auth: AuthService) -> None:
    gaps: list[float] = []

    async def tick() -> None:
        last = time.perf_counter()
        while True:
            await asyncio.sleep(0.002)
            now = time.perf_counter()
            gaps.append(now - last)
            last = now

    ticker = asyncio.create_task(tick())
    started = time.perf_counter()
    await auth._hash_password(PASSWORD)
    took = time.perf_counter() - started
    ticker.cancel()
    assert len(gaps) >= 3 and max(gaps) < took / 2


async def test_login_rehashes_a_password_hashed_with_outdated_parameters(
    client: httpx.AsyncClient, pool: asyncpg.Pool
) -> None:
    await register(client, "gus@example.com")
    weak = PasswordHasher(time_cost=1, memory_cost=8192, parallelism=1).hash(PASSWORD)
    await pool.execute("UPDATE credentials SET password_hash = $1", weak)
    await login(client, "gus@example.com")
    new_hash = await pool.fetchval("SELECT password_hash FROM credentials")
    assert new_hash != weak
    assert not PasswordHasher().check_needs_rehash(new_hash)
    await login(client, "gus@example.com")


# -- access tokens --------------------------------------------------------------------


async def test_access_token_authenticates_me(client: httpx.AsyncClient) -> None:
    user_id = await register(client, "hal@example.com")
    tokens = await login(client, "hal@example.com")
    r = await client.get("/me", headers=bearer(tokens["access_token"]))
    assert r.status_code == 200
    body = r.json()
    assert body["user_id"] == user_id
    assert body["email"] == "hal@example.com"
    assert body["role"] == "trader"
    assert abs(body["created_ts"] - time.time() * 1000) < 60_000


@pytest.mark.parametrize(
    "headers", [{}, {"Authorization": "Basic abc"}, {"Authorization": "Bearer "}, bearer("junk")]
)
async def test_me_without_a_valid_bearer_token_is_401(
    client: httpx.AsyncClient, headers: dict[str, str]
) -> None:
    assert_error(await client.get("/me", headers=headers), 401, "unauthorized")


def _claims(user_id: str, **over: object) -> dict[str, object]:
    now = int(time.time())
    claims: dict[str, object] = {
        "sub": user_id,
        "role": "trader",
        "type": "access",
        "iat": now,
        "exp": now + 900,
        "jti": "j",
    }
    claims.update(over)
    return claims


async def test_expired_access_token_is_rejected(client: httpx.AsyncClient) -> None:
    user_id = await register(client, "ivy@example.com")
    past = int(time.time()) - 3600
    token = jwt.encode(_claims(user_id, iat=past - 900, exp=past), SECRET, algorithm="HS256")
    assert_error(await client.get("/me", headers=bearer(token)), 401, "unauthorized")


async def test_access_token_with_tampered_claims_or_signature_is_rejected(
    client: httpx.AsyncClient,
) -> None:
    await register(client, "jay@example.com")
    token = (await login(client, "jay@example.com"))["access_token"]
    header, payload, signature = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims["role"] = "admin"
    escalated = f"{header}.{b64url(json.dumps(claims).encode())}.{signature}"
    mid = len(signature) // 2
    flipped = signature[:mid] + ("A" if signature[mid] != "A" else "B") + signature[mid + 1 :]
    for bad in (escalated, f"{header}.{payload}.{flipped}", f"{header}.{payload}."):
        assert_error(await client.get("/me", headers=bearer(bad)), 401, "unauthorized")


async def test_alg_none_token_is_rejected(client: httpx.AsyncClient) -> None:
    user_id = await register(client, "kim@example.com")
    header = b64url(json.dumps({"alg": "none", "typ": "JWT"}).encode())
    payload = b64url(json.dumps(_claims(user_id, role="admin")).encode())
    for token in (f"{header}.{payload}.", f"{header}.{payload}"):
        assert_error(await client.get("/me", headers=bearer(token)), 401, "unauthorized")


async def test_token_signed_with_another_secret_or_of_another_type_is_rejected(
    client: httpx.AsyncClient,
) -> None:
    user_id = await register(client, "lea@example.com")
    foreign = jwt.encode(_claims(user_id), "another-secret-" + "y" * 40, algorithm="HS256")
    wrong_type = jwt.encode(_claims(user_id, type="refresh"), SECRET, algorithm="HS256")
    no_exp = _claims(user_id)
    del no_exp["exp"]
    for token in (foreign, wrong_type, jwt.encode(no_exp, SECRET, algorithm="HS256")):
        assert_error(await client.get("/me", headers=bearer(token)), 401, "unauthorized")


# -- refresh tokens and logout --------------------------------------------------------


async def refresh(client: httpx.AsyncClient, refresh_token: str) -> httpx.Response:
    return await client.post("/auth/refresh", json={"refresh_token": refresh_token})


async def test_refresh_issues_a_new_pair_and_spends_the_old_token(
    client: httpx.AsyncClient,
) -> None:
    user_id = await register(client, "max@example.com")
    first = await login(client, "max@example.com")
    r = await refresh(client, first["refresh_token"])
    assert r.status_code == 200
    second = r.json()
    assert second["user_id"] == user_id and second["token_type"] == "bearer"
    assert second["refresh_token"] != first["refresh_token"]
    assert (await client.get("/me", headers=bearer(second["access_token"]))).status_code == 200
    assert_error(await refresh(client, first["refresh_token"]), 401, "unauthorized")


async def test_reusing_a_spent_refresh_token_revokes_its_whole_family(
    client: httpx.AsyncClient,
) -> None:
    await register(client, "ned@example.com")
    stolen = await login(client, "ned@example.com")
    other_session = await login(client, "ned@example.com")
    rotated = (await refresh(client, stolen["refresh_token"])).json()
    assert_error(await refresh(client, stolen["refresh_token"]), 401, "unauthorized")
    # The legitimate holder's newer token of that family is dead too ...
    assert_error(await refresh(client, rotated["refresh_token"]), 401, "unauthorized")
    # ... but the user's other sessions are not.
    assert (await refresh(client, other_session["refresh_token"])).status_code == 200


async def test_expired_unknown_or_garbled_refresh_tokens_are_rejected(
    client: httpx.AsyncClient, pool: asyncpg.Pool
) -> None:
    await register(client, "oli@example.com")
    tokens = await login(client, "oli@example.com")
    token_id, secret = tokens["refresh_token"].split(".")
    wrong_secret = secret[:-1] + ("A" if secret[-1] != "A" else "B")
    for bad in (f"{token_id}.{wrong_secret}", f"{'0' * 32}.{secret}", "no-dot", ".", "a."):
        assert_error(await refresh(client, bad), 401, "unauthorized")
    assert_error(await refresh(client, "a" * 600), 400, "invalid_message")
    await pool.execute("UPDATE refresh_tokens SET expires_ts = 1")
    assert_error(await refresh(client, tokens["refresh_token"]), 401, "unauthorized")


async def test_logout_with_a_refresh_token_revokes_only_its_family(
    client: httpx.AsyncClient,
) -> None:
    await register(client, "pam@example.com")
    a = await login(client, "pam@example.com")
    b = await login(client, "pam@example.com")
    r = await client.post(
        "/auth/logout",
        json={"refresh_token": a["refresh_token"]},
        headers=bearer(a["access_token"]),
    )
    assert r.status_code == 204
    assert_error(await refresh(client, a["refresh_token"]), 401, "unauthorized")
    assert (await refresh(client, b["refresh_token"])).status_code == 200


async def test_logout_without_a_body_revokes_every_session_of_the_user(
    client: httpx.AsyncClient,
) -> None:
    await register(client, "quinn@example.com")
    a = await login(client, "quinn@example.com")
    b = await login(client, "quinn@example.com")
    r = await client.post("/auth/logout", headers=bearer(a["access_token"]))
    assert r.status_code == 204
    for tokens in (a, b):
        assert_error(await refresh(client, tokens["refresh_token"]), 401, "unauthorized")


async def test_logout_needs_a_bearer_token_and_the_callers_own_refresh_token(
    client: httpx.AsyncClient,
) -> None:
    await register(client, "ray@example.com")
    await register(client, "sue@example.com")
    ray = await login(client, "ray@example.com")
    sue = await login(client, "sue@example.com")
    assert_error(await client.post("/auth/logout"), 401, "unauthorized")
    r = await client.post(
        "/auth/logout",
        json={"refresh_token": sue["refresh_token"]},
        headers=bearer(ray["access_token"]),
    )
    assert_error(r, 401, "unauthorized")
    assert (await refresh(client, sue["refresh_token"])).status_code == 200


# -- API keys -------------------------------------------------------------------------


async def create_key(
    client: httpx.AsyncClient, access_token: str, name: str = "bot"
) -> dict[str, Any]:
    r = await client.post("/me/api-keys", json={"name": name}, headers=bearer(access_token))
    assert r.status_code == 201, r.text
    body: dict[str, Any] = r.json()
    return body


async def test_api_key_is_shown_once_works_as_bearer_and_stops_when_revoked(
    client: httpx.AsyncClient, pool: asyncpg.Pool
) -> None:
    user_id = await register(client, "tom@example.com")
    access = (await login(client, "tom@example.com"))["access_token"]
    created = await create_key(client, access, "market maker")
    assert set(created) == {"key_id", "name", "secret", "created_ts"}
    assert created["name"] == "market maker"
    key, key_id = created["secret"], created["key_id"]
    assert key.startswith(f"lfg_{key_id}_")
    stored = await pool.fetchval("SELECT secret_hash FROM api_keys")
    assert key.split("_", 2)[2].encode() not in bytes(stored)

    listed = await client.get("/me/api-keys", headers=bearer(access))
    assert listed.json() == {
        "api_keys": [
            {
                "key_id": key_id,
                "name": "market maker",
                "created_ts": created["created_ts"],
                "last_used_ts": None,
            }
        ]
    }
    assert key.split("_", 2)[2] not in listed.text

    me = await client.get("/me", headers=bearer(key))
    assert me.status_code == 200 and me.json()["user_id"] == user_id
    assert (await client.get("/me/api-keys", headers=bearer(key))).json()["api_keys"][0][
        "last_used_ts"
    ] is not None

    assert (
        await client.delete(f"/me/api-keys/{key_id}", headers=bearer(access))
    ).status_code == 204
    assert_error(await client.get("/me", headers=bearer(key)), 401, "unauthorized")
    assert (await client.get("/me/api-keys", headers=bearer(access))).json() == {"api_keys": []}


async def test_api_key_with_a_wrong_secret_or_bad_shape_is_rejected(
    client: httpx.AsyncClient,
) -> None:
    await register(client, "uma@example.com")
    access = (await login(client, "uma@example.com"))["access_token"]
    key = (await create_key(client, access))["secret"]
    assert (await client.get("/me", headers=bearer(key))).status_code == 200  # now cached
    wrong = key[:-1] + ("A" if key[-1] != "A" else "B")
    for bad in (wrong, key + "x", "lfg_", "lfg_abc", "lfg_abc_", "lfg__secret"):
        assert_error(await client.get("/me", headers=bearer(bad)), 401, "unauthorized")


async def test_revoking_another_users_api_key_is_not_found(client: httpx.AsyncClient) -> None:
    await register(client, "vic@example.com")
    await register(client, "wes@example.com")
    vic = (await login(client, "vic@example.com"))["access_token"]
    wes = (await login(client, "wes@example.com"))["access_token"]
    key = await create_key(client, vic)
    r = await client.delete(f"/me/api-keys/{key['key_id']}", headers=bearer(wes))
    assert_error(r, 404, "not_found")
    assert_error(await client.delete("/me/api-keys/nope", headers=bearer(vic)), 404, "not_found")
    assert (await client.get("/me", headers=bearer(key["secret"]))).status_code == 200


@pytest.mark.parametrize("name", ["", "x" * 65])
async def test_api_key_name_must_be_1_to_64_characters(
    client: httpx.AsyncClient, name: str
) -> None:
    await register(client, "xia@example.com")
    access = (await login(client, "xia@example.com"))["access_token"]
    r = await client.post("/me/api-keys", json={"name": name}, headers=bearer(access))
    assert_error(r, 400, "invalid_message")


async def test_api_key_revoked_elsewhere_keeps_working_here_only_within_the_cache_window(
    client: httpx.AsyncClient,
    auth: AuthService,
    pool: asyncpg.Pool,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    user_id = int(await register(client, "yan@example.com"))
    access = (await login(client, "yan@example.com"))["access_token"]
    key = await create_key(client, access)
    elsewhere = AuthService(pool, Settings(jwt_secret=SECRET))  # another gateway process
    assert (await elsewhere.authenticate_token(key["secret"])).kind == "api_key"
    await auth.revoke_api_key(user_id, key["key_id"])
    assert (await elsewhere.authenticate_token(key["secret"])).kind == "api_key"
    later = time.monotonic() + server.auth.API_KEY_CACHE_S + 1
    monkeypatch.setattr(server.auth, "monotonic", lambda: later)
    with pytest.raises(ApiError) as err:
        await elsewhere.authenticate_token(key["secret"])
    assert err.value.code == "unauthorized"


async def test_api_key_last_used_is_written_at_most_once_a_minute(
    client: httpx.AsyncClient,
    auth: AuthService,
    pool: asyncpg.Pool,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    await register(client, "zed@example.com")
    access = (await login(client, "zed@example.com"))["access_token"]
    key = (await create_key(client, access))["secret"]
    clock = [1_000_000_000_000]
    monkeypatch.setattr(server.auth, "now_ms", lambda: clock[0])

    async def last_used() -> int | None:
        value: int | None = await pool.fetchval("SELECT last_used_ts FROM api_keys")
        return value

    await auth.authenticate_token(key)
    assert await last_used() == clock[0]
    clock[0] += 59_000
    await auth.authenticate_token(key)
    await AuthService(pool, Settings(jwt_secret=SECRET)).authenticate_token(key)
    assert await last_used() == 1_000_000_000_000
    clock[0] += 2_000
    await auth.authenticate_token(key)
    assert await last_used() == clock[0]


# -- admin ----------------------------------------------------------------------------


async def test_admin_users_is_forbidden_to_traders(client: httpx.AsyncClient) -> None:
    await register(client, "trader@example.com")
    access = (await login(client, "trader@example.com"))["access_token"]
    assert_error(await client.get("/admin/users", headers=bearer(access)), 403, "forbidden")
    assert_error(await client.get("/admin/users"), 401, "unauthorized")


async def test_admin_finds_users_by_email_and_pages_through_all(
    client: httpx.AsyncClient, auth: AuthService
) -> None:
    admin_id = await auth.ensure_admin("Root@Example.com", PASSWORD)
    ids = [await register(client, f"user{i}@example.com") for i in range(3)]
    access = (await login(client, "root@example.com"))["access_token"]
    r = await client.get(
        "/admin/users", params={"email": "USER1@example.com"}, headers=bearer(access)
    )
    assert r.json() == {
        "users": [{"user_id": ids[1], "email": "user1@example.com", "role": "trader"}],
        "next_cursor": None,
    }
    seen, cursor = [], None
    while True:
        params = {"limit": "2"} | ({"cursor": cursor} if cursor else {})
        page = (await client.get("/admin/users", params=params, headers=bearer(access))).json()
        seen += [u["user_id"] for u in page["users"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == [str(admin_id), *ids]
    for bad in ({"limit": "0"}, {"limit": "501"}, {"cursor": "x"}):
        r = await client.get("/admin/users", params=bad, headers=bearer(access))
        assert_error(r, 400, "invalid_message")


async def test_ensure_admin_promotes_an_existing_user_and_resets_the_password(
    client: httpx.AsyncClient, auth: AuthService
) -> None:
    user_id = await register(client, "boss@example.com")
    old_session = await login(client, "boss@example.com")
    assert await auth.ensure_admin("boss@example.com", OTHER_PASSWORD) == int(user_id)
    assert_error(
        await client.post("/auth/login", json={"email": "boss@example.com", "password": PASSWORD}),
        401,
        "unauthorized",
    )
    assert_error(await refresh(client, old_session["refresh_token"]), 401, "unauthorized")
    tokens = await login(client, "boss@example.com", OTHER_PASSWORD)
    assert (await client.get("/me", headers=bearer(tokens["access_token"]))).json()[
        "role"
    ] == "admin"
    # Same password again: nothing changes, sessions survive.
    await auth.ensure_admin("boss@example.com", OTHER_PASSWORD)
    assert (await refresh(client, tokens["refresh_token"])).status_code == 200
    with pytest.raises(ValueError, match="special character"):
        await auth.ensure_admin("boss@example.com", "NoSpecials123")


# -- bad bodies -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "content",
    [
        b"not json",
        b'{"email": "a@example.com", "password": "Correct-horse-9", "admin": true}',
        b'{"email": "a@example.com", "password": 12345678901}',
        b'{"email": "a@example.com"}',
        b"[]",
        b'{"email": "a@example.com", "password": "' + b"x" * 70_000 + b'"}',
    ],
    ids=["not-json", "unknown-field", "wrong-type", "missing-field", "not-an-object", "huge"],
)
@pytest.mark.parametrize("path", ["/auth/register", "/auth/login"])
async def test_bad_bodies_are_invalid_message(
    client: httpx.AsyncClient, path: str, content: bytes
) -> None:
    r = await client.post(path, content=content, headers={"Content-Type": "application/json"})
    assert_error(r, 400, "invalid_message")


async def test_bad_refresh_and_api_key_bodies_are_invalid_message(
    client: httpx.AsyncClient,
) -> None:
    await register(client, "body@example.com")
    access = (await login(client, "body@example.com"))["access_token"]
    for r in (
        await client.post("/auth/refresh", json={"refresh_token": 5}),
        await client.post("/auth/refresh", json={"token": "a.b"}),
        await client.post(
            "/me/api-keys", json={"name": "k", "scope": "all"}, headers=bearer(access)
        ),
        await client.post(
            "/auth/logout", json={"refresh_token": None, "x": 1}, headers=bearer(access)
        ),
    ):
        assert_error(r, 400, "invalid_message")
