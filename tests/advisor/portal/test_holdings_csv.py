"""Holdings files: every bad row is reported with its line number, and nothing is saved unless
every row is good."""

import datetime as dt
from decimal import Decimal

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from advisor.models import OnboardingDraft
from advisor.services.onboarding import holdings_csv_parse
from tests.factories import AssetFactory, ClientFactory, PriceBarFactory

TODAY = dt.date(2025, 6, 30)
KNOWN = {"VTI", "BND"}
HEADER = "account,type,symbol,quantity,cost_basis,price,acquired_on\n"


def parse(text, **kwargs):
    kwargs.setdefault("last_prices", {})
    return holdings_csv_parse(text=text, known_symbols=KNOWN, today=TODAY, **kwargs)


def test_a_good_file_gives_every_lot():
    upload = parse(
        HEADER + "Joint,taxable,VTI,25,4810.50,,2021-03-15\n"
        "\n"  # blank lines are skipped
        "Rollover IRA,IRA,bnd,40,,72.15,07/01/2019\n"
    )
    assert upload.ok and upload.errors == ()
    first, second = upload.rows
    assert (first.account, first.account_type, first.symbol) == ("Joint", "taxable", "VTI")
    assert first.quantity == Decimal("25") and first.cost_basis == Decimal("4810.50")
    assert (second.account_type, second.symbol, second.line) == ("ira", "BND", 4)
    assert second.cost_basis == Decimal("2886.00")  # 40 x 72.15
    assert second.acquired_on == dt.date(2019, 7, 1)


def test_every_bad_row_is_reported_with_its_line():
    upload = parse(
        HEADER + "Joint,taxable,VTI,25,4810.50,,2021-03-15\n"  # line 2 is good
        "Joint,taxable,XXXX,10,100,,2021-03-15\n"  # 3: unknown symbol
        "Joint,taxable,VTI,-5,100,,2021-03-15\n"  # 4: negative quantity
        "Joint,taxable,VTI,five,100,,2021-03-15\n"  # 5: not a number
        "Joint,taxable,VTI,5,,,2021-03-15\n"  # 6: no basis or price
        "Joint,taxable,VTI,5,100,,2031-01-01\n"  # 7: future date
        "Joint,taxable,VTI,5,100,,15/15/2020\n"  # 8: not a date
        ",taxable,VTI,5,100,,2021-03-15\n"  # 9: no account
        "Joint,savings,VTI,5,100,,2021-03-15\n"  # 10: unknown type
        "Joint,roth,VTI,5,100,,2021-03-15\n"  # 11: Joint is taxable on line 2
        "Joint,taxable,VTI,5,100,,0001-01-01\n"  # 12: a typo for a year
    )
    assert not upload.ok and upload.rows == ()
    lines = {e.line: e.message for e in upload.errors}
    assert sorted(lines) == list(range(3, 13))
    assert lines[12] == "acquired_on 0001-01-01 is before 1900-01-01"
    assert "XXXX is not in the firm's universe" in lines[3]
    assert "quantity must be positive" in lines[4]
    assert "quantity 'five' is not a number" in lines[5]
    assert "cost_basis" in lines[6] and "price" in lines[6]
    assert "in the future" in lines[7]
    assert "is not a date" in lines[8]
    assert "account is empty" in lines[9]
    assert "'savings' is not one of taxable, ira, roth" in lines[10]
    assert "is taxable on line 2 but roth here" in lines[11]
    assert str(upload.errors[0]).startswith("line 3: ")


def test_header_problems_are_reported_on_line_1():
    assert parse("").errors[0].line == 1
    missing = parse("account,symbol,quantity\nJoint,VTI,5\n")
    assert missing.errors[0].line == 1 and "type" in missing.errors[0].message
    no_basis = parse("account,type,symbol,quantity,acquired_on\nJoint,taxable,VTI,5,2020-01-01\n")
    assert "cost_basis or a price" in no_basis.errors[0].message
    only_header = parse(HEADER)
    assert not only_header.ok and "no holdings" in only_header.errors[0].message


def test_an_existing_account_keeps_its_type():
    upload = parse(
        HEADER + "joint,ira,VTI,5,100,,2021-03-15\n", existing_accounts={"Joint": "taxable"}
    )
    assert upload.errors[0].line == 2
    assert "already exists as taxable" in upload.errors[0].message


@pytest.mark.django_db
def test_an_upload_with_bad_rows_saves_nothing_and_shows_each_error(client):
    AssetFactory(symbol="VTI")
    newcomer = ClientFactory()
    client.force_login(newcomer.user)
    draft = OnboardingDraft.objects.create(
        user=newcomer.user, step="accounts", data={"completed": ["goal", "risk", "tax", "esg"]}
    )
    body = HEADER + "Joint,taxable,VTI,25,4810.50,,2021-03-15\nJoint,taxable,NOPE,1,1,,2021-03-15\n"
    upload = SimpleUploadedFile("holdings.csv", body.encode(), content_type="text/csv")
    url = reverse("onboarding-step", args=["accounts"])
    response = client.post(url, {"action": "upload", "upload-file": upload})
    assert response.status_code == 400
    page = response.content.decode()
    assert "Line 3: symbol NOPE is not in the firm&#x27;s universe" in page
    assert "nothing was added" in page
    draft.refresh_from_db()
    assert draft.data.get("accounts", []) == []

    good = SimpleUploadedFile(
        "holdings.csv", (HEADER + "Joint,taxable,VTI,25,4810.50,,2021-03-15\n").encode()
    )
    response = client.post(url, {"action": "upload", "upload-file": good})
    assert response.status_code == 302
    draft.refresh_from_db()
    (account,) = draft.data["accounts"]
    assert account["name"] == "Joint" and account["account_type"] == "taxable"
    assert account["holdings"][0]["symbol"] == "VTI"
    assert account["holdings"][0]["cost_basis"] == "4810.50"


@pytest.mark.django_db
def test_a_file_that_is_not_text_is_refused_at_the_field(client):
    newcomer = ClientFactory()
    client.force_login(newcomer.user)
    OnboardingDraft.objects.create(
        user=newcomer.user, step="accounts", data={"completed": ["goal", "risk", "tax", "esg"]}
    )
    upload = SimpleUploadedFile("holdings.csv", b"\xff\xfe\x00bad", content_type="text/csv")
    response = client.post(
        reverse("onboarding-step", args=["accounts"]), {"action": "upload", "upload-file": upload}
    )
    assert response.status_code == 400
    assert "not UTF-8 text" in response.content.decode()


def test_values_too_large_for_a_lot_are_named_as_such():
    upload = parse(
        HEADER + "Joint,taxable,VTI,1e20,100,,2021-03-15\n"  # 2: shares past the column
        "Joint,taxable,VTI,5,1e30,,2021-03-15\n"  # 3: a basis past the money fields
        "Joint,taxable,VTI,999999999,,999999999,2021-03-15\n"  # 4: price x shares too
    )
    assert not upload.ok and upload.rows == ()
    lines = {e.line: e.message for e in upload.errors}
    assert lines[2] == "quantity 1e20 is more than 999,999,999,999,999 shares"
    assert lines[3] == "cost_basis 1e30 is more than $999,999,999,999.99"
    assert lines[4] == (
        "price 999999999 times 999999999 shares is a cost basis of more than $999,999,999,999.99"
    )


def test_shares_worth_more_than_the_money_fields_hold_are_refused_as_the_form_refuses_them():
    # within the share cap and with a small basis, but worth $10 trillion at the last price
    upload = parse(
        HEADER + "Joint,taxable,VTI,100000000000,1000,,2021-03-15\n"  # 2: too many at $100
        "Joint,taxable,BND,100000000000,1000,,2021-03-15\n"  # 3: BND has no price: unchecked
        "Joint,taxable,VTI,9999999999,1000,,2021-03-15\n",  # 4: $999,999,999,900: fits
        last_prices={"VTI": Decimal("100")},
    )
    assert [(e.line, e.message) for e in upload.errors] == [
        (
            2,
            "quantity 100000000000: at VTI's last price ($100.00) these shares are worth more "
            "than $999,999,999,999.99",
        )
    ]


@pytest.mark.django_db
def test_an_upload_is_valued_at_the_last_price(client):
    vti = AssetFactory(symbol="VTI")
    PriceBarFactory(asset=vti, date=dt.date(2025, 6, 26), close=Decimal("1"))
    PriceBarFactory(asset=vti, date=dt.date(2025, 6, 27), close=Decimal("250.00"))
    newcomer = ClientFactory()
    client.force_login(newcomer.user)
    draft = OnboardingDraft.objects.create(
        user=newcomer.user, step="accounts", data={"completed": ["goal", "risk", "tax", "esg"]}
    )
    body = (
        HEADER
        + "Joint,taxable,VTI,25,4810.50,,2021-03-15\nJoint,taxable,VTI,4000000000,1,,2021-03-15\n"
    )
    upload = SimpleUploadedFile("holdings.csv", body.encode(), content_type="text/csv")
    response = client.post(
        reverse("onboarding-step", args=["accounts"]), {"action": "upload", "upload-file": upload}
    )
    assert response.status_code == 400
    page = response.content.decode()
    assert (
        "Line 3: quantity 4000000000: at VTI&#x27;s last price ($250.00) these shares are worth "
        "more than $999,999,999,999.99" in page
    )
    draft.refresh_from_db()
    assert draft.data.get("accounts", []) == []


def test_an_optional_column_says_whether_the_basis_was_reported():
    """yes or no is the old broker's word; empty leaves it to the date acquired; anything else
    is named as wrong."""
    header = "account,type,symbol,quantity,cost_basis,acquired_on,Basis Reported\n"
    upload = parse(
        header + "Joint,taxable,VTI,1,100,2021-03-15,yes\n"
        "Joint,taxable,VTI,1,100,2015-03-15,No\n"
        "Joint,taxable,VTI,1,100,2009-03-15,\n"
    )
    assert upload.ok and [row.basis_reported for row in upload.rows] == [True, False, None]
    assert [row.as_json("h").get("basis_reported") for row in upload.rows] == ["yes", "no", None]
    bad = parse(
        header
        + "Joint,taxable,VTI,1,100,2021-03-15,yes\nJoint,taxable,VTI,1,100,2009-03-15,maybe\n"
    )
    assert [e.line for e in bad.errors] == [3] and bad.rows == ()
    assert "basis_reported 'maybe' is not yes, no or empty" in bad.errors[0].message
    plain = parse(HEADER + "Joint,taxable,VTI,1,100,,2021-03-15\n")
    assert plain.ok and plain.rows[0].basis_reported is None
