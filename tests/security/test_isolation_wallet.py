"""Person isolation on the wallet: Beto naming Ana's account, or a contact only Ana
saved, is answered as for ones that do not exist, and nothing moves; what Beto does with
Ana's public profile id (save her as a contact, pay her) changes nothing of Ana's but
her balance, upwards."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from caja.core.tokens import new_token
from caja.db.engine import Database
from caja.ops.funding import fund
from tests.security.people import WALLET, Person, person
from tests.security.tenants import answer, covers, every_row

pytestmark = pytest.mark.anyio

SEND = f"{WALLET}/profile/send-to-profile"
CONTACT = f"{WALLET}/profile/contact"


@dataclass(frozen=True)
class People:
    ana: Person  # 100.00 COP, has paid Carla 10.00 and saved her as a contact
    beto: Person  # 50.00 COP
    carla: Person


@pytest.fixture
async def people(http: httpx.AsyncClient, database: Database) -> People:
    ana, beto, carla = [await person(http, name) for name in ("Ana", "Beto", "Carla")]
    await fund(database, ana.account_id, "100.00")
    await fund(database, beto.account_id, "50.00")
    saved = await http.post(
        CONTACT,
        json={"profile_id": carla.profile_id, "first_name": "Carlita", "last_name": "D"},
        headers=ana.headers,
    )
    paid = await http.post(SEND, json=_send(ana, carla.profile_id, "10.00"), headers=ana.headers)
    assert (saved.json(), paid.json()) == ({"code": 200, "msg": []},) * 2
    return People(ana, beto, carla)


def _send(sender: Person, to_profile: str, amount: str = "5.00", **overrides: Any) -> Any:
    return {
        "from_account_id": sender.account_id,
        "to_profile_id": to_profile,
        "asset_key": "COP",
        "amount": amount,
        "meta_data": {"notes": "test"},
        **overrides,
    }


async def _balance(http: httpx.AsyncClient, who: Person) -> str:
    response = await http.get(f"{WALLET}/profile/account/{who.account_id}", headers=who.headers)
    assert response.status_code == 200, response.text
    balance: str = response.json()["balances"]["COP"]["balance"]
    return balance


async def _balances(http: httpx.AsyncClient, people: People) -> list[str]:
    return [await _balance(http, who) for who in (people.ana, people.beto, people.carla)]


async def _contacts(http: httpx.AsyncClient, who: Person) -> dict[str, Any]:
    response = await http.get(CONTACT, headers=who.headers)
    assert response.status_code == 200, response.text
    found: dict[str, Any] = response.json()["data"]
    return found


@covers("GET", f"{WALLET}/profile/account/{{account_id}}", "account_id")
@pytest.mark.parametrize("named", ["her account_id", "her profile_id"])
async def test_another_persons_account_reads_as_a_missing_one(
    http: httpx.AsyncClient, database: Database, people: People, named: str
) -> None:
    theirs = people.ana.account_id if named == "her account_id" else people.ana.profile_id
    missing = new_token("wac")
    before = await every_row(database)

    taken, absent = [
        await http.get(f"{WALLET}/profile/account/{token}", headers=people.beto.headers)
        for token in (theirs, missing)
    ]

    assert taken.status_code == 400, taken.text
    assert taken.json() == {"code": 400, "msg": ["record_not_found"]}
    assert answer(taken, theirs) == answer(absent, missing)
    assert await every_row(database) == before


@covers("POST", SEND, "from_account_id")
async def test_sending_from_another_persons_account_answers_as_a_missing_one(
    http: httpx.AsyncClient, database: Database, people: People
) -> None:
    theirs = people.ana.account_id
    missing = new_token("wac")
    body = _send(people.beto, people.beto.profile_id)
    before = await every_row(database)

    answers = []
    for source, target in ((theirs, people.beto), (theirs, people.carla), (missing, people.beto)):
        sent = await http.post(
            SEND,
            json={**body, "from_account_id": source, "to_profile_id": target.profile_id},
            headers=people.beto.headers,
        )
        answers.append(answer(sent, source))

    assert answers[0][:2] == (400, "application/json")
    assert answers[0] == answers[1] == answers[2]
    assert "record_not_found" in answers[0][2]
    assert await every_row(database) == before


@covers("POST", SEND, "to_profile_id")
async def test_paying_another_person_moves_only_the_senders_money(
    http: httpx.AsyncClient, people: People
) -> None:
    paid = await http.post(
        SEND, json=_send(people.beto, people.ana.profile_id, "5.00"), headers=people.beto.headers
    )
    # An account id where a profile id belongs names nobody, as an unknown profile does.
    nobody = new_token("prf")
    wrong, missing = [
        await http.post(SEND, json=_send(people.beto, target), headers=people.beto.headers)
        for target in (people.ana.account_id, nobody)
    ]

    assert paid.json() == {"code": 200, "msg": []}
    assert await _balances(http, people) == ["95.00", "45.00", "10.00"]
    assert answer(wrong, people.ana.account_id) == answer(missing, nobody)
    assert wrong.json() == {"code": 400, "msg": ["record_not_found"]}


@covers("DELETE", f"{CONTACT}/{{profile_id}}", "profile_id")
@pytest.mark.parametrize("named", ["her contact", "her own profile"])
async def test_deleting_a_contact_only_another_person_saved_answers_as_a_missing_one(
    http: httpx.AsyncClient, database: Database, people: People, named: str
) -> None:
    theirs = people.carla.profile_id if named == "her contact" else people.ana.profile_id
    missing = new_token("prf")
    before = await every_row(database)

    taken, absent = [
        await http.delete(f"{CONTACT}/{token}", headers=people.beto.headers)
        for token in (theirs, missing)
    ]

    assert taken.json() == {"code": 400, "msg": ["record_not_found"]}
    assert answer(taken, theirs) == answer(absent, missing)
    assert await every_row(database) == before
    assert list(await _contacts(http, people.ana)) == [people.carla.profile_id]


@covers("POST", CONTACT, "profile_id")
async def test_saving_someone_as_a_contact_changes_nothing_of_anyone_elses(
    http: httpx.AsyncClient, people: People
) -> None:
    ana_before = await _contacts(http, people.ana)
    saved = await http.post(
        CONTACT,
        json={"profile_id": people.carla.profile_id, "first_name": "Mallory", "last_name": "X"},
        headers=people.beto.headers,
    )
    missing = await http.post(
        CONTACT,
        json={"profile_id": new_token("prf"), "first_name": "Mallory", "last_name": "X"},
        headers=people.beto.headers,
    )

    assert saved.json() == {"code": 200, "msg": []}
    assert missing.json() == {"code": 400, "msg": ["record_not_found"]}
    assert await _contacts(http, people.ana) == ana_before
    assert ana_before[people.carla.profile_id]["first_name"] == "Carlita"
    assert await _contacts(http, people.carla) == {}
    found = await http.get(f"{WALLET}/profile/", headers=people.carla.headers)
    assert found.json()["first_name"] == "Carla"


async def test_a_person_lists_only_their_own_payments(
    http: httpx.AsyncClient, people: People
) -> None:
    listed = await http.get(f"{WALLET}/profile/payment_transaction", headers=people.beto.headers)

    assert listed.status_code == 200, listed.text
    assert listed.json() == {"data": [], "next_cursor": None}
    assert await _contacts(http, people.beto) == {}
