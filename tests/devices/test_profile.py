"""The DUT profile (bench/devices/profile.py) and the journey it declares (bench/traffic/journey.py):
a malformed profile is one located error; the declared steps run in order with their extracted
values, and an answer the profile does not expect stops the journey naming the step."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.devices.profile import ProfileError, load_profile
from bench.errors import BenchError
from bench.lab.labfile import parse_lab
from bench.traffic.journey import DECLINED_CARD, DeclaredJourney, JourneyError, Reply

GOOD = """name: test router
portal:
  detect:
    url: http://check.example/generate_204
    online: {status: [204]}
    captive: {status: [302], location: '^http://portal\\.example/'}
  accept:
    - {name: page, url: "{portal}", expect: {status: [200]}, extract: {tok: {body_regex: 'tok=(\\w+)'}}}
    - {name: accept, method: POST, url: "http://portal.example/ok", form: {tok: "{tok}"}, expect: {status: [200]}}
  free_tier: {down_kbit: 1000}
  packages:
    day:
      tier: unlimited
      steps:
        - {name: order, method: POST, url: http://portal.example/buy, form: {p: "{package}"}, expect: {status: [200]},
           extract: {checkout: {json: url}, order: {query_of: checkout, param: o}}}
        - {name: pay, method: POST, url: http://pay.example/pay, form: {o: "{order}", card: "{card}"}, expect: {status: [303]}}
"""


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "profile.yaml"
    path.write_text(text)
    return path


@pytest.mark.parametrize(("change", "line", "field", "words"), [
    (("free_tier: {down_kbit: 1000}", "free_tier: {down_kbit: 1000, upp: 3}"), 10, "portal.free_tier.upp", "unknown field"),
    (("location: '^http://portal\\.example/'", "location: '^http://(portal'"), 6, "portal.detect.captive.location",
     "not a regular expression"),
    (("form: {tok: \"{tok}\"}", "form: {tok: \"{token}\"}"), 7, "portal",
     "accept[1] (accept) uses {token} before any step extracts it"),
    (("tier: unlimited", "tier: bundle"), 13, "portal.packages.day", "a bundle needs `bytes`"),
    (("{json: url}", "{json: url, header: location}"), 18, "portal.packages.day.steps[0].extract.checkout",
     "exactly one of json, header, body_regex, query_of"),
])
def test_a_malformed_profile_is_one_located_error(tmp_path: Path, change: tuple[str, str], line: int, field: str,
                                                  words: str) -> None:
    assert change[0] in GOOD
    path = _write(tmp_path, GOOD.replace(change[0], change[1]))
    with pytest.raises(ProfileError) as caught:
        load_profile(path)
    message = caught.value.message
    assert f"{path}:" in message and f"{field}" in message and words in message, message
    assert "how to fix" in message


def test_a_journey_plugin_that_cannot_be_imported_is_refused(tmp_path: Path) -> None:
    path = _write(tmp_path, GOOD.replace("  free_tier:", "  journey: no_such_module:Klas\n  free_tier:"))
    with pytest.raises(ProfileError) as caught:
        load_profile(path)
    assert "portal.journey: " in caught.value.message and "cannot import 'no_such_module'" in caught.value.message


def test_a_lab_file_names_its_profile_and_a_bad_one_is_reported_with_it(tmp_path: Path) -> None:
    _write(tmp_path, GOOD.replace("wan_down_log", "x"))
    lab = parse_lab("kind: embedded\ndut: {profile: profile.yaml}\n", str(tmp_path / "lab.yaml"))
    assert lab.profile.name == "test router" and lab.profile.portal.unlimited() == "day"
    with pytest.raises(BenchError) as caught:
        parse_lab("kind: embedded\ndut: {profile: nothere.yaml}\n", str(tmp_path / "lab.yaml"))
    assert "nothere.yaml" in caught.value.message
    (tmp_path / "bad.yaml").write_text(GOOD.replace("name: test router\n", "name: test router\nwans: {mars: wan9}\n"))
    with pytest.raises(BenchError) as caught:
        parse_lab("kind: embedded\ndut: {profile: bad.yaml}\n", str(tmp_path / "lab.yaml"))
    assert "maps WANs the lab does not have: mars" in caught.value.message


class SendDouble:
    """TEST DOUBLE of a passenger's HTTP: scripted answers per (method, URL), and what was sent."""

    def __init__(self, answers: dict[tuple[str, str], list[Reply]]) -> None:
        self.answers = answers
        self.sent: list[tuple[str, str, bytes | None]] = []

    def __call__(self, step: str, method: str, url: str, body: bytes | None, headers: dict[str, str], ok: object) -> Reply:
        self.sent.append((method, url, body))
        replies = self.answers[(method, url)]
        return replies.pop(0) if len(replies) > 1 else replies[0]


CAPTIVE = Reply(302, {"location": "http://portal.example/?from=x"}, b"")
ONLINE = Reply(204, {}, b"")


def test_declared_steps_run_in_order_with_their_values(tmp_path: Path) -> None:
    journey = DeclaredJourney(load_profile(_write(tmp_path, GOOD)).portal)
    send = SendDouble({
        ("GET", "http://check.example/generate_204"): [CAPTIVE, ONLINE],
        ("POST", "http://portal.example/buy"): [Reply(200, {}, b'{"url": "http://pay.example/c?o=A17"}')],
        ("POST", "http://pay.example/pay"): [Reply(303, {"location": "http://portal.example/back"}, b"")],
    })
    online = journey.go_online(send, package="day")
    assert not online.already and [s[0] for s in online.steps] == ["order", "pay"]
    assert send.sent[1] == ("POST", "http://portal.example/buy", b"p=day")
    assert send.sent[2] == ("POST", "http://pay.example/pay", b"o=A17&card=4242424242424242")


def test_an_unexpected_answer_names_the_step_and_a_declined_card_stays_captive(tmp_path: Path) -> None:
    profile = load_profile(_write(tmp_path, GOOD))
    journey = DeclaredJourney(profile.portal, profile.source, profile.where)
    send = SendDouble({
        ("GET", "http://check.example/generate_204"): [CAPTIVE],
        ("POST", "http://portal.example/buy"): [Reply(200, {}, b'{"url": "http://pay.example/c?o=A17"}')],
        ("POST", "http://pay.example/pay"): [Reply(402, {}, b"declined")],
    })
    with pytest.raises(JourneyError) as caught:
        journey.go_online(send, package="day", card=DECLINED_CARD)
    assert "step 'pay'" in caught.value.message and "HTTP 402, expected 303" in caught.value.message
    assert f"{profile.source}:17: portal.packages.day.steps[1]" in caught.value.message  # the line of the 'pay' step
    with pytest.raises(JourneyError) as caught:
        journey.go_online(SendDouble({("GET", "http://check.example/generate_204"): [Reply(500, {}, b"")]}))
    assert "neither the online nor the captive answer" in caught.value.message
