"""The 2FA API client against the sandbox: applications and the OTP lifecycle."""

from __future__ import annotations

import aiohttp
import pytest

from botkit.sandbox import Sandbox
from botkit.tyntec import AuthenticationError, BadRequestError, NotFoundError, TyntecClient
from botkit.tyntec.models import OtpCheckOutcome, TwoFactorApplicationSpec

from .conftest import FAST_RETRY

NUMBER = "+491701234567"


def code_of(sandbox: Sandbox, otp_id: str | None) -> str:
    assert otp_id is not None
    return sandbox.twofa.otps[otp_id].code


async def test_application_lifecycle(api: TyntecClient) -> None:
    names = [a.name for a in await api.two_factor.applications.list()]
    assert names == ["default"]

    created = await api.two_factor.applications.create(
        TwoFactorApplicationSpec(name="shop", pin_length=6, attempts=5, expire=120)
    )
    assert created.application_id
    app_id = created.application_id
    assert (created.pin_length, created.attempts, created.expire) == (6, 5, 120)

    fetched = await api.two_factor.applications.get(app_id)
    assert fetched.name == "shop"

    updated = await api.two_factor.applications.update(app_id, pin_length=8, sender="SHOP")
    assert (updated.pin_length, updated.sender, updated.name) == (8, "SHOP", "shop")

    await api.two_factor.applications.set_language(app_id, "de", "Dein Code: {{OTP}}")
    await api.two_factor.applications.set_language(app_id, "de", "Code {{OTP}}", channel="VOICE")
    await api.two_factor.applications.delete_language(app_id, "de", channel="VOICE")
    with pytest.raises(NotFoundError):
        await api.two_factor.applications.delete_language(app_id, "fr")
    with pytest.raises(ValueError, match="OTP"):
        await api.two_factor.applications.set_language(app_id, "de", "no placeholder")

    await api.two_factor.applications.delete(app_id)
    with pytest.raises(NotFoundError) as caught:
        await api.two_factor.applications.get(app_id)
    assert caught.value.problem.code == "APPLICATION_NOT_FOUND"  # 2FA's ErrorResponse shape


async def test_application_errors(api: TyntecClient) -> None:
    with pytest.raises(BadRequestError) as caught:
        await api.two_factor.applications.delete("default")
    assert "default" in str(caught.value)
    with pytest.raises(BadRequestError):
        await api.two_factor.applications.update("default", pin_length=20)
    with pytest.raises(ValueError, match="reserved"):
        await api.two_factor.applications.update("default", name="default")


async def test_otp_send_status_events_and_check(api: TyntecClient, sandbox: Sandbox) -> None:
    sent = await api.two_factor.otp.send(NUMBER, via="sms", reference_id="order-7")
    assert (sent.number, sent.otp_status, sent.reference_id) == (NUMBER, "ACTIVE", "order-7")
    assert sent.otp_id is not None
    code = code_of(sandbox, sent.otp_id)
    assert len(code) == 4
    assert code.isdigit()

    status = await api.two_factor.otp.status(sent.otp_id)
    assert status.attempt_count == 0
    listed = await api.two_factor.otp.list(NUMBER)
    assert [o.otp_id for o in listed] == [sent.otp_id]
    events = await api.two_factor.otp.events(sent.otp_id)
    assert [(e.type, e.status) for e in events] == [("SMS", "DELIVERED")]

    wrong = "0000" if code != "0000" else "1111"
    check = await api.two_factor.otp.check(sent.otp_id, wrong)
    assert check.outcome is OtpCheckOutcome.WRONG_CODE
    assert check.status is not None
    assert check.status.attempt_count == 1
    assert not check.outcome.is_final

    check = await api.two_factor.otp.check(sent.otp_id, code)
    assert check.valid
    assert check.status is not None
    assert check.status.otp_status == "VERIFIED"

    again = await api.two_factor.otp.check(sent.otp_id, code)
    assert again.outcome is OtpCheckOutcome.GONE


async def test_a_code_that_is_not_ascii_is_a_wrong_code(api: TyntecClient) -> None:
    # A user types anything where the code goes: the sandbox's check answered 500
    # (secrets.compare_digest takes no non-ASCII str), and the flow said on_error.
    sent = await api.two_factor.otp.send(NUMBER)
    assert sent.otp_id is not None
    check = await api.two_factor.otp.check(sent.otp_id, "ünï")
    assert check.outcome is OtpCheckOutcome.WRONG_CODE


async def test_otp_resend_keeps_the_code(api: TyntecClient, sandbox: Sandbox) -> None:
    sent = await api.two_factor.otp.send(NUMBER)
    assert sent.otp_id is not None
    code = code_of(sandbox, sent.otp_id)
    await api.two_factor.otp.resend(sent.otp_id, via="voice")
    events = await api.two_factor.otp.events(sent.otp_id)
    assert [e.type for e in events] == ["SMS", "VOICE"]
    assert code_of(sandbox, sent.otp_id) == code
    assert (await api.two_factor.otp.check(sent.otp_id, code)).valid
    with pytest.raises(AuthenticationError) as caught:  # 401: "OTP is not valid anymore"
        await api.two_factor.otp.resend(sent.otp_id)
    assert caught.value.problem.code == "OTP_NOT_VALID"


async def test_too_many_wrong_attempts_exhaust_the_otp(api: TyntecClient, sandbox: Sandbox) -> None:
    sent = await api.two_factor.otp.send(NUMBER, otp_code="424242")
    assert sent.otp_id is not None
    outcomes = [(await api.two_factor.otp.check(sent.otp_id, "1")).outcome for _ in range(3)]
    assert outcomes == [OtpCheckOutcome.WRONG_CODE] * 3
    final = await api.two_factor.otp.check(sent.otp_id, "424242")
    assert final.outcome is OtpCheckOutcome.EXHAUSTED
    assert final.outcome.is_final


async def test_expired_otp_is_exhausted(api: TyntecClient, sandbox: Sandbox) -> None:
    sent = await api.two_factor.otp.send(NUMBER)
    assert sent.otp_id is not None
    code = code_of(sandbox, sent.otp_id)
    sandbox.clock.advance(301)  # the default application's OTPs live 300 s
    check = await api.two_factor.otp.check(sent.otp_id, code)
    assert check.outcome is OtpCheckOutcome.EXHAUSTED
    assert check.status is not None
    assert check.status.otp_status == "EXPIRED"


async def test_unknown_and_deleted_otps(api: TyntecClient) -> None:
    unknown = await api.two_factor.otp.check("no-such-otp", "1234")
    assert unknown.outcome is OtpCheckOutcome.NOT_FOUND
    sent = await api.two_factor.otp.send(NUMBER)
    assert sent.otp_id is not None
    await api.two_factor.otp.delete(sent.otp_id)
    with pytest.raises(NotFoundError):
        await api.two_factor.otp.status(sent.otp_id)
    assert await api.two_factor.otp.list("+4915100000000") == []  # 204: none


async def test_invalid_number_is_a_bad_request(api: TyntecClient) -> None:
    with pytest.raises(BadRequestError) as caught:
        await api.two_factor.otp.send("12")
    assert caught.value.problem.code == "INVALID_NUMBER"


async def test_check_with_a_wrong_key_is_not_a_wrong_code(sandbox_url: str) -> None:
    async with TyntecClient(api_key="wrong", base_url=sandbox_url, retry=FAST_RETRY) as api:
        with pytest.raises(AuthenticationError):
            await api.two_factor.otp.check("any", "1234")


async def test_codes_are_listed_for_people_and_tests(api: TyntecClient, sandbox_url: str) -> None:
    sent = await api.two_factor.otp.send(NUMBER)
    async with (
        aiohttp.ClientSession() as session,
        session.get(f"{sandbox_url}/sandbox/otps", params={"number": NUMBER}) as response,
    ):
        listed = await response.json()
    assert [o["otpId"] for o in listed] == [sent.otp_id]
    assert listed[0]["code"].isdigit()
