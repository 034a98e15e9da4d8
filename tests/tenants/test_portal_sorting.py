"""Sorting the portals' lists by column: ?sort=field / -field among each list's allowed columns, the
header links that say which way (aria-sort), kept with search and the next page; anything else ignored."""

from __future__ import annotations

import re

import pytest

from tests.conftest import T0
from tests.tenants.test_dashboard import redis_cleared, register  # noqa: F401 (a fixture)


def column(response, index: int) -> list[str]:
    """The text of one column of the page's last table, row by row (tags dropped)."""
    body = response.content.decode().rsplit("<tbody>", 1)[1].split("</tbody>", 1)[0]
    rows = re.findall(r"<tr>(.*?)</tr>", body, re.S)
    cells = [re.findall(r"<td[^>]*>(.*?)</td>", row, re.S) for row in rows]
    return [re.sub(r"<[^>]+>", "", c[index]).strip() for c in cells if len(c) > index]


def header(response, label: str) -> str:
    """The <th ...> of the column with this label, with its link."""
    match = re.search(
        rf"<th[^>]*>(?:(?!</th>).)*?{re.escape(label)}(?:(?!</th>).)*?</th>", response.content.decode(), re.S
    )
    return match.group(0) if match else ""


def test_users_sort_by_a_column_both_ways(world, portal):
    http = portal(world.client_a1_op)
    by_email = http.get("/users/?sort=email")
    assert column(by_email, 2) == sorted(column(by_email, 2))
    assert column(http.get("/users/?sort=-email"), 2) == sorted(column(by_email, 2), reverse=True)
    assert column(http.get("/users/?sort=-number"), 0) == ["103", "102", "101"]
    # The header says how the list is sorted and links to the other way, keeping the search.
    searched = http.get("/users/?q=client-a1&sort=email")
    th = header(searched, "E-mail")
    assert 'aria-sort="ascending"' in th and "sort=-email" in th and "q=client-a1" in th
    assert "aria-sort" not in header(searched, "Extension")
    assert 'name="sort" value="email"' in searched.content.decode()  # a new search keeps the order
    assert 'aria-sort="descending"' in header(http.get("/users/?sort=-email"), "E-mail")


@pytest.mark.parametrize(
    "value",
    ["password", "-account__password", "account__password", "ha1_md5", "?", "-", "--number", "number;drop",
     "x" * 5000, "number\x00", "__class__", "pk"],
)  # fmt: skip
def test_a_sort_outside_the_allow_list_is_ignored(world, portal, value):
    http = portal(world.client_a1_op)
    plain = http.get("/users/")
    response = http.get("/users/", {"sort": value})
    assert response.status_code == 200
    assert column(response, 0) == column(plain, 0)
    assert "aria-sort" not in response.content.decode()


def test_the_next_page_keeps_the_order(world, portal, cdr_factory):
    for minute in range(30):
        cdr_factory(number=f"44207{minute:07d}", minutes=minute, seconds=minute)
    http = portal(world.client_a1_op)
    first = http.get("/calls/?sort=-talk")
    assert column(first, 4)[:3] == ["29 s", "28 s", "27 s"]
    next_link = re.search(r'href="(\?[^"]*page=2[^"]*)"', first.content.decode()).group(1).replace("&amp;", "&")
    assert "sort=-talk" in next_link
    second = http.get("/calls/" + next_link)
    assert column(second, 4) == [f"{s} s" for s in range(4, -1, -1)]
    by_start = column(http.get("/calls/?sort=started"), 0)
    assert by_start == sorted(by_start) and by_start[0].startswith(T0.strftime("%Y-%m-%d %H:%M"))


@pytest.mark.parametrize(
    ("account", "url", "label", "index"),
    [
        ("god", "/clients/?sort=-name", "Name", 0),
        ("god", "/brands/?sort=-name", "Name", 0),
        ("god", "/operators/?sort=-email", "E-mail", 0),
        ("god", "/numbers/?sort=-number", "E.164", 1),
        ("god", "/rating/carriers/?sort=-name", "Carrier", 0),
        ("brand_a_op", "/clients/?sort=-name", "Name", 0),
        ("client_a1_op", "/operators/?sort=-email", "E-mail", 0),
    ],
)
def test_each_main_list_sorts(world, portal, account, url, label, index):
    http = portal(getattr(world, account))
    response = http.get(url)
    assert response.status_code == 200, url
    assert 'aria-sort="descending"' in header(response, label), url
    values = column(response, index)
    assert values == sorted(values, reverse=True), url


@pytest.mark.usefixtures("redis_cleared")
def test_users_filter_by_a_phone_registered_now(world, portal):
    register(world.client_a1, "102", "sip:102@192.0.2.10:5060")
    register(world.client_a1, "103", "sip:103@192.0.2.11:5060", seconds=-10)  # expired: not registered
    register(world.client_b1, "101", "sip:101@192.0.2.12:5060")  # another client's 101
    http = portal(world.client_a1_op)
    assert column(http.get("/users/?registered=yes"), 0) == ["102"]
    assert column(http.get("/users/?registered=no&sort=-number"), 0) == ["103", "101"]
    assert column(http.get("/users/?registered=maybe"), 0) == ["101", "102", "103"]  # unknown: no filter
    page = http.get("/users/?registered=yes&sort=email").content.decode()
    assert 'name="sort" value="email"' in page and '<option value="yes" selected>' in page


def test_calls_filter_by_direction(world, portal, cdr_factory):
    cdr_factory(number="442070000001", direction="outbound")
    cdr_factory(number="442070000002", direction="inbound", minutes=1)
    cdr_factory(number="102", direction="internal", minutes=2)
    http = portal(world.client_a1_op)
    inbound = column(http.get("/calls/?direction=inbound"), 2)
    assert len(inbound) == 1 and inbound[0].startswith("442070000002")
    assert len(column(http.get("/calls/?direction=sideways"), 2)) == 3
    assert '<option value="internal" selected>' in http.get("/calls/?direction=internal").content.decode()
