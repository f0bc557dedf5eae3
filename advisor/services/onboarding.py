"""Onboarding: sign-up, the wizard's draft between steps, and the submission that creates it all.

A new client signs up (a login, a household and a :class:`~advisor.models.Client` with the
advisor who has the fewest clients), then walks through the wizard. Each step's cleaned values
are kept in an :class:`~advisor.models.OnboardingDraft` (JSON, amounts as strings), so progress
survives a reload or a new session. Submitting creates the risk profile, ESG preferences, tax
details, accounts, cash and tax lots and computes the first recommendation, all in one
transaction: if the optimiser finds the preferences infeasible nothing is written and the draft
records the optimiser's message for the ESG step.

Holdings can also arrive as a CSV file; :func:`holdings_csv_parse` checks every row and reports
every bad one with its line number, and nothing is added to the draft unless all rows are good.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import Count, Q
from django.utils import timezone

from advisor.models import Client, OnboardingDraft, OnboardingStep, RiskProfile, Role, User
from advisor.services.clients import (
    client_create,
    esg_preference_save,
    risk_profile_save,
    user_create,
)
from portfolios.core.errors import Conflict, InfeasibleProblem, InvalidInput, NotFound
from portfolios.core.money import MAX_ENTERED_CASH, ZERO, cash, quantity
from portfolios.ledger import EARLIEST_TRADE_DATE
from portfolios.models import (
    Account,
    AccountType,
    Asset,
    FilingStatus,
    Household,
    LotMethod,
    Recommendation,
)
from portfolios.selectors import latest_prices
from portfolios.services import audit_record, cash_deposit, holding_transfer_in

#: The wizard's steps in order; review comes last and is never "completed" (it submits).
STEPS: tuple[str, ...] = tuple(OnboardingStep.values)
#: Most rows a holdings file may have (a household's lots, not a whole book).
MAX_CSV_ROWS = 2000
#: Column names of a holdings file; ``cost_basis`` or ``price`` gives the basis.
CSV_REQUIRED = ("account", "type", "symbol", "quantity", "acquired_on")
CSV_OPTIONAL = ("cost_basis", "price")
#: A column a holdings file may add: whether the old broker reported the lot's basis to the IRS.
CSV_BASIS_REPORTED = "basis_reported"
#: What a client may say about a lot's basis reporting; empty (or unsure) lets the date decide.
BASIS_REPORTED_ANSWERS: dict[str, bool | None] = {
    "": None,
    "unsure": None,
    "yes": True,
    "y": True,
    "true": True,
    "covered": True,
    "no": False,
    "n": False,
    "false": False,
    "noncovered": False,
    "non-covered": False,
}
_ACCOUNT_TYPE_ALIASES = {
    "taxable": AccountType.TAXABLE,
    "brokerage": AccountType.TAXABLE,
    "ira": AccountType.IRA,
    "traditional ira": AccountType.IRA,
    "traditional_ira": AccountType.IRA,
    "roth": AccountType.ROTH,
    "roth ira": AccountType.ROTH,
    "roth_ira": AccountType.ROTH,
}
_US_DATE = re.compile(r"^(\d{1,2})/(\d{1,2})/(\d{4})$")


# --------------------------------------------------------------------------------------------
# Sign-up
# --------------------------------------------------------------------------------------------


def advisor_with_fewest_clients() -> User | None:
    """The active advisor serving the fewest clients (the longest-serving one on a tie)."""
    return (
        User.objects.filter(role=Role.ADVISOR, is_active=True)
        .annotate(n_clients=Count("advised_clients"))
        .order_by("n_clients", "date_joined", "pk")
        .first()
    )


def _household_name(first_name: str, last_name: str) -> str:
    base = f"{first_name} {last_name} household".strip()
    taken = set(
        Household.objects.filter(Q(name=base) | Q(name__startswith=f"{base} (")).values_list(
            "name", flat=True
        )
    )
    if base not in taken:
        return base
    n = 2
    while f"{base} ({n})" in taken:
        n += 1
    return f"{base} ({n})"


def client_sign_up(
    *, username: str, email: str, password: str, first_name: str, last_name: str
) -> Client:
    """Create a client login, their household and their client record, in one transaction.

    The password must already have passed the validators (the sign-up form runs them); the
    advisor is the one with the fewest clients, or none while the firm has no advisor.
    """
    if User.objects.filter(username__iexact=username).exists():
        raise Conflict(f"the username {username!r} is taken", field="username")
    try:
        with transaction.atomic():
            user = user_create(
                username=username,
                password=password,
                role=Role.CLIENT,
                first_name=first_name,
                last_name=last_name,
                email=email,
            )
            household = Household.objects.create(name=_household_name(first_name, last_name))
            client = client_create(
                household=household,
                first_name=first_name,
                last_name=last_name,
                email=email,
                user=user,
                advisor=advisor_with_fewest_clients(),
            )
            OnboardingDraft.objects.create(user=user, step=OnboardingStep.GOAL, data={})
            audit_record(
                actor_id=user.pk, action="client.signed_up", obj=client, to_state="onboarding"
            )
    except IntegrityError as exc:  # a concurrent sign-up took the username or household name
        raise Conflict("that username was just taken; choose another", field="username") from exc
    return client


# --------------------------------------------------------------------------------------------
# The draft
# --------------------------------------------------------------------------------------------


def onboarding_draft_get(*, user: User) -> OnboardingDraft:
    """The user's draft, created at the first step when there is none yet."""
    draft, _ = OnboardingDraft.objects.get_or_create(
        user=user, defaults={"step": OnboardingStep.GOAL, "data": {}}
    )
    return draft


def completed_steps(draft: OnboardingDraft) -> list[str]:
    return [s for s in STEPS if s in set(draft.data.get("completed", []))]


def first_open_step(draft: OnboardingDraft) -> str:
    """The first step not yet completed (review once every other step is)."""
    done = set(draft.data.get("completed", []))
    for step in STEPS:
        if step not in done:
            return step
    return OnboardingStep.REVIEW


def step_is_open(draft: OnboardingDraft, step: str) -> bool:
    """A step may be visited once every step before it is completed."""
    return STEPS.index(step) <= STEPS.index(first_open_step(draft))


def _next_step(step: str) -> str:
    index = STEPS.index(step)
    return STEPS[min(index + 1, len(STEPS) - 1)]


def _jsonable(values: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in values.items():
        if isinstance(value, Decimal):
            out[key] = str(value)
        elif isinstance(value, date):
            out[key] = value.isoformat()
        elif isinstance(value, Mapping):
            out[key] = _jsonable(value)
        elif isinstance(value, list | tuple | set):
            out[key] = [str(v) if isinstance(v, Decimal) else v for v in value]
        else:
            out[key] = value
    return out


def _locked_draft(user: User) -> OnboardingDraft:
    onboarding_draft_get(user=user)
    return OnboardingDraft.objects.select_for_update().get(user=user)


@transaction.atomic
def onboarding_step_save(*, user: User, step: str, values: Mapping[str, Any]) -> OnboardingDraft:
    """Keep a step's cleaned values, mark it completed and move the draft to the next step."""
    if step not in STEPS or step in (OnboardingStep.ACCOUNTS, OnboardingStep.REVIEW):
        raise InvalidInput(f"{step!r} is not a step with its own values", field="step")
    draft = _locked_draft(user)
    if not step_is_open(draft, step):
        raise Conflict(f"complete the earlier steps before {step}", field="step")
    draft.data[step] = _jsonable(values)
    _complete(draft, step)
    if step == OnboardingStep.ESG:
        draft.data.pop("problem", None)
    draft.save(update_fields=["data", "step", "updated_at"])
    return draft


def _complete(draft: OnboardingDraft, step: str) -> None:
    """Mark ``step`` done and move on: to the next step, or back to the first open one (the
    review, once everything is done) when the client was changing an earlier answer."""
    done = set(draft.data.get("completed", []))
    changing = step in done
    done.add(step)
    draft.data["completed"] = [s for s in STEPS if s in done]
    draft.step = first_open_step(draft) if changing else _next_step(step)
    if STEPS.index(draft.step) > STEPS.index(first_open_step(draft)):
        draft.step = first_open_step(draft)


def draft_accounts(draft: OnboardingDraft) -> list[dict[str, Any]]:
    return list(draft.data.get("accounts", []))


def _new_id(draft: OnboardingDraft, prefix: str) -> str:
    counter = int(draft.data.get("next_id", 1))
    draft.data["next_id"] = counter + 1
    return f"{prefix}{counter}"


def _find_account(draft: OnboardingDraft, account_id: str) -> dict[str, Any]:
    for account in draft.data.get("accounts", []):
        if account["id"] == account_id:
            return dict(account)
    raise NotFound(f"no account {account_id!r} in this onboarding", field="account")


def _replace_account(draft: OnboardingDraft, updated: dict[str, Any]) -> None:
    draft.data["accounts"] = [
        updated if a["id"] == updated["id"] else a for a in draft.data.get("accounts", [])
    ]


def _reopen_accounts(draft: OnboardingDraft) -> None:
    """Changing the accounts asks for them to be confirmed again before review."""
    done = [s for s in draft.data.get("completed", []) if s != OnboardingStep.ACCOUNTS]
    draft.data["completed"] = done
    if draft.step == OnboardingStep.REVIEW:
        draft.step = OnboardingStep.ACCOUNTS


@transaction.atomic
def onboarding_account_add(
    *, user: User, name: str, account_type: str, cash_amount: Decimal
) -> OnboardingDraft:
    """Add an account (name unique within the household, any case) with its opening cash."""
    name = name.strip()
    if not name:
        raise InvalidInput("the account needs a name", field="name")
    if account_type not in AccountType.values:
        raise InvalidInput(f"unknown account type {account_type!r}", field="account_type")
    amount = cash(cash_amount, name="cash")
    if amount < 0:
        raise InvalidInput("cash must not be negative", field="cash")
    draft = _locked_draft(user)
    if any(a["name"].lower() == name.lower() for a in draft_accounts(draft)):
        raise InvalidInput(f"there is already an account named {name!r}", field="name")
    draft.data.setdefault("accounts", []).append(
        {
            "id": _new_id(draft, "a"),
            "name": name,
            "account_type": account_type,
            "cash": str(amount),
            "holdings": [],
        }
    )
    _reopen_accounts(draft)
    draft.save(update_fields=["data", "step", "updated_at"])
    return draft


@transaction.atomic
def onboarding_account_remove(*, user: User, account_id: str) -> OnboardingDraft:
    draft = _locked_draft(user)
    _find_account(draft, account_id)
    draft.data["accounts"] = [a for a in draft_accounts(draft) if a["id"] != account_id]
    _reopen_accounts(draft)
    draft.save(update_fields=["data", "step", "updated_at"])
    return draft


@dataclass(frozen=True)
class HoldingRow:
    """One lot a client already holds: typed in, or one good row of a holdings file."""

    account: str
    account_type: str
    symbol: str
    quantity: Decimal
    cost_basis: Decimal
    acquired_on: date
    line: int = 0
    basis_reported: bool | None = None
    """What the old broker's transfer statement says: basis reported to the IRS (a covered
    lot) or not; ``None`` decides it by the acquisition date."""

    def as_json(self, holding_id: str) -> dict[str, str]:
        data = {
            "id": holding_id,
            "symbol": self.symbol,
            "quantity": str(self.quantity),
            "cost_basis": str(self.cost_basis),
            "acquired_on": self.acquired_on.isoformat(),
        }
        if self.basis_reported is not None:
            data["basis_reported"] = "yes" if self.basis_reported else "no"
        return data


@transaction.atomic
def onboarding_holding_add(
    *,
    user: User,
    account_id: str,
    symbol: str,
    quantity_: Decimal,
    cost_basis: Decimal,
    acquired_on: date,
    basis_reported: bool | None = None,
) -> OnboardingDraft:
    """Add one lot to an account of the draft (the symbol must be in the firm's universe).

    ``basis_reported`` is the transfer statement's word on whether the basis was reported to the
    IRS; ``None`` (the usual answer) decides it by the acquisition date."""
    symbol = symbol.strip().upper()
    if not Asset.objects.filter(symbol=symbol, is_active=True).exists():
        raise InvalidInput(f"{symbol} is not in the firm's universe", field="symbol")
    qty = quantity(quantity_)
    basis = cash(cost_basis, name="cost basis")
    if qty <= 0:
        raise InvalidInput("the quantity must be positive", field="quantity")
    if basis < 0:
        raise InvalidInput("the cost basis must not be negative", field="cost_basis")
    draft = _locked_draft(user)
    account = _find_account(draft, account_id)
    row = HoldingRow(
        account["name"],
        account["account_type"],
        symbol,
        qty,
        basis,
        acquired_on,
        basis_reported=basis_reported,
    )
    account["holdings"] = [*account["holdings"], row.as_json(_new_id(draft, "h"))]
    _replace_account(draft, account)
    _reopen_accounts(draft)
    draft.save(update_fields=["data", "step", "updated_at"])
    return draft


@transaction.atomic
def onboarding_holding_remove(*, user: User, account_id: str, holding_id: str) -> OnboardingDraft:
    draft = _locked_draft(user)
    account = _find_account(draft, account_id)
    kept = [h for h in account["holdings"] if h["id"] != holding_id]
    if len(kept) == len(account["holdings"]):
        raise NotFound(f"no holding {holding_id!r} in {account['name']}", field="holding")
    account["holdings"] = kept
    _replace_account(draft, account)
    _reopen_accounts(draft)
    draft.save(update_fields=["data", "step", "updated_at"])
    return draft


@transaction.atomic
def onboarding_accounts_confirm(*, user: User) -> OnboardingDraft:
    """Finish the accounts step: at least one account, and something (cash or lots) to invest."""
    draft = _locked_draft(user)
    accounts = draft_accounts(draft)
    if not accounts:
        raise InvalidInput("add at least one account", field="accounts")
    if not any(Decimal(a["cash"]) > 0 or a["holdings"] for a in accounts):
        raise InvalidInput(
            "add cash or holdings to at least one account: there is nothing to invest yet",
            field="accounts",
        )
    if not step_is_open(draft, OnboardingStep.ACCOUNTS):
        raise Conflict("complete the earlier steps first", field="step")
    _complete(draft, OnboardingStep.ACCOUNTS)
    draft.save(update_fields=["data", "step", "updated_at"])
    return draft


# --------------------------------------------------------------------------------------------
# Holdings files
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RowError:
    line: int
    message: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.message}"


@dataclass(frozen=True)
class HoldingsUpload:
    """The outcome of parsing a holdings file: the rows when all are good, else every error."""

    rows: tuple[HoldingRow, ...]
    errors: tuple[RowError, ...]

    @property
    def ok(self) -> bool:
        return not self.errors


def _parse_date(text: str) -> date:
    text = text.strip()
    match = _US_DATE.match(text)
    if match:
        month, day, year = (int(g) for g in match.groups())
        return date(year, month, day)
    return date.fromisoformat(text)


#: The most shares a lot may have: 15 digits of whole shares (the ledger's quantity column).
MAX_LOT_SHARES = Decimal("999999999999999")


def last_closes(*, symbols: Collection[str]) -> dict[str, Decimal]:
    """The last close of each of ``symbols`` that has a price, by symbol: what a lot typed in or
    read from a file is valued at (:func:`shares_value_problem`)."""
    asset_ids = list(Asset.objects.filter(symbol__in=set(symbols)).values_list("pk", flat=True))
    if not asset_ids:
        return {}
    return {last.symbol: last.close for last in latest_prices(asset_ids=asset_ids).values()}


def shares_value_problem(*, symbol: str, shares: Decimal, last_price: Decimal | None) -> str | None:
    """Why a lot of ``shares`` cannot be taken, if it cannot: at ``symbol``'s last price it is
    worth more than the money fields hold (no price, no check). The holding form and the holdings
    file both ask, so a lot is refused the same way however it arrives."""
    if last_price is None or last_price * shares <= MAX_ENTERED_CASH:
        return None
    return (
        f"at {symbol}'s last price (${last_price:,.2f}) these shares are worth more than "
        f"${MAX_ENTERED_CASH:,}"
    )


def _decimal(text: str) -> Decimal:
    cleaned = text.strip().replace(",", "").removeprefix("$")
    value = Decimal(cleaned)
    if not value.is_finite():
        raise ValueError(text)
    return value


def holdings_csv_parse(
    *,
    text: str,
    known_symbols: Collection[str],
    last_prices: Mapping[str, Decimal],
    today: date,
    existing_accounts: Mapping[str, str] | None = None,
) -> HoldingsUpload:
    """Check every row of a holdings file; return its lots, or every error with its line.

    The header names the columns (any order, any case): ``account``, ``type`` (taxable, ira or
    roth), ``symbol``, ``quantity``, ``acquired_on`` (YYYY-MM-DD or MM/DD/YYYY) and either
    ``cost_basis`` (the lot's total) or ``price`` (per share), and optionally ``basis_reported``
    (yes or no: whether the old broker reported the basis to the IRS; empty lets the acquisition
    date decide, :func:`portfolios.services.basis_reported_by_type`). Line 1 is the header; blank lines
    are skipped. ``last_prices`` (:func:`last_closes` of the symbols) values each row's shares as
    the holding form does. ``existing_accounts`` maps the draft's account names (lower case) to
    their types, so a row cannot give an existing account another type.
    """
    errors: list[RowError] = []
    known = {s.upper() for s in known_symbols}
    prices = {s.upper(): p for s, p in last_prices.items()}
    existing = {k.lower(): v for k, v in (existing_accounts or {}).items()}
    reader = csv.reader(io.StringIO(text.lstrip("\ufeff")))
    try:
        header = next(reader)
    except StopIteration:
        return HoldingsUpload((), (RowError(1, "the file is empty"),))
    except csv.Error as exc:
        return HoldingsUpload((), (RowError(1, f"not a CSV file ({exc})"),))
    columns = [h.strip().lower().replace(" ", "_") for h in header]
    missing = [c for c in CSV_REQUIRED if c not in columns]
    if missing:
        return HoldingsUpload(
            (),
            (
                RowError(
                    1,
                    f"missing column(s) {', '.join(missing)}; the header must name "
                    f"{', '.join(CSV_REQUIRED)} and cost_basis or price",
                ),
            ),
        )
    if not any(c in columns for c in CSV_OPTIONAL):
        return HoldingsUpload((), (RowError(1, "the header needs a cost_basis or a price column"),))
    position = {
        c: columns.index(c)
        for c in (*CSV_REQUIRED, *CSV_OPTIONAL, CSV_BASIS_REPORTED)
        if c in columns
    }
    rows: list[HoldingRow] = []
    types_in_file: dict[str, tuple[str, int]] = {}
    count = 0
    try:
        for cells in reader:
            line = reader.line_num
            if not any(cell.strip() for cell in cells):
                continue
            count += 1
            if count > MAX_CSV_ROWS:
                errors.append(RowError(line, f"more than {MAX_CSV_ROWS} rows; split the file"))
                break
            row, problems = _holding_row(
                cells,
                position,
                line=line,
                known=known,
                prices=prices,
                today=today,
                existing=existing,
            )
            if row is not None:
                seen = types_in_file.get(row.account.lower())
                if seen is not None and seen[0] != row.account_type:
                    problems.append(
                        f"account {row.account!r} is {seen[0]} on line {seen[1]} but "
                        f"{row.account_type} here"
                    )
                else:
                    types_in_file.setdefault(row.account.lower(), (row.account_type, line))
            if problems:
                errors.extend(RowError(line, p) for p in problems)
            elif row is not None:
                rows.append(row)
    except csv.Error as exc:
        errors.append(RowError(reader.line_num, f"unreadable CSV ({exc})"))
    if not errors and not rows:
        errors.append(RowError(2, "the file has a header but no holdings"))
    if errors:
        return HoldingsUpload((), tuple(errors))
    return HoldingsUpload(tuple(rows), ())


def _holding_row(
    cells: list[str],
    position: Mapping[str, int],
    *,
    line: int,
    known: set[str],
    prices: Mapping[str, Decimal],
    today: date,
    existing: Mapping[str, str],
) -> tuple[HoldingRow | None, list[str]]:
    def cell(name: str) -> str:
        index = position.get(name)
        return cells[index].strip() if index is not None and index < len(cells) else ""

    problems: list[str] = []
    account = cell("account")
    if not account:
        problems.append("account is empty")
    elif len(account) > 120:
        problems.append("account name is longer than 120 characters")
    raw_type = cell("type").lower()
    account_type = _ACCOUNT_TYPE_ALIASES.get(raw_type)
    if account_type is None:
        problems.append(f"type {cell('type')!r} is not one of taxable, ira, roth")
    elif account and existing.get(account.lower(), account_type) != account_type:
        problems.append(
            f"account {account!r} already exists as {existing[account.lower()]}, not {account_type}"
        )
    symbol = cell("symbol").upper()
    if not symbol:
        problems.append("symbol is empty")
    elif symbol not in known:
        problems.append(f"symbol {symbol} is not in the firm's universe")
    qty: Decimal | None = None
    try:
        shares = _decimal(cell("quantity"))
    except (ArithmeticError, ValueError):
        problems.append(f"quantity {cell('quantity')!r} is not a number")
    else:
        if shares <= 0:
            problems.append(f"quantity must be positive, got {cell('quantity')}")
        elif shares > MAX_LOT_SHARES:
            problems.append(f"quantity {cell('quantity')} is more than {MAX_LOT_SHARES:,} shares")
        else:
            qty = quantity(shares)
            if symbol in known:
                problem = shares_value_problem(
                    symbol=symbol, shares=qty, last_price=prices.get(symbol)
                )
                if problem is not None:
                    problems.append(f"quantity {cell('quantity')}: {problem}")
    basis: Decimal | None = None
    basis_text, price_text = cell("cost_basis"), cell("price")
    if basis_text:
        try:
            amount = _decimal(basis_text)
        except (ArithmeticError, ValueError):
            problems.append(f"cost_basis {basis_text!r} is not a number")
        else:
            if amount < 0:
                problems.append(f"cost_basis must not be negative, got {basis_text}")
            elif amount > MAX_ENTERED_CASH:
                problems.append(f"cost_basis {basis_text} is more than ${MAX_ENTERED_CASH:,}")
            else:
                basis = cash(amount)
    elif price_text:
        try:
            per_share = _decimal(price_text)
        except (ArithmeticError, ValueError):
            problems.append(f"price {price_text!r} is not a number")
        else:
            if per_share <= 0:
                problems.append(f"price must be positive, got {price_text}")
            elif qty is not None and per_share * qty > MAX_ENTERED_CASH:
                problems.append(
                    f"price {price_text} times {qty.normalize():f} shares is a cost basis of "
                    f"more than ${MAX_ENTERED_CASH:,}"
                )
            elif qty is not None:
                basis = cash(per_share * qty)
    else:
        problems.append("give cost_basis (the lot's total) or price (per share)")
    acquired: date | None = None
    text = cell("acquired_on")
    if not text:
        problems.append("acquired_on is empty")
    else:
        try:
            acquired = _parse_date(text)
            if acquired > today:
                problems.append(f"acquired_on {text} is in the future")
                acquired = None
            elif acquired < EARLIEST_TRADE_DATE:
                problems.append(f"acquired_on {text} is before {EARLIEST_TRADE_DATE}")
                acquired = None
        except ValueError:
            problems.append(f"acquired_on {text!r} is not a date (YYYY-MM-DD or MM/DD/YYYY)")
    answer = cell(CSV_BASIS_REPORTED)
    if answer.lower() not in BASIS_REPORTED_ANSWERS:
        problems.append(
            f"basis_reported {answer!r} is not yes, no or empty (empty: by the date acquired)"
        )
    reported = BASIS_REPORTED_ANSWERS.get(answer.lower())
    if problems or qty is None or basis is None or acquired is None or account_type is None:
        return None, problems
    row = HoldingRow(
        account, account_type, symbol, qty, basis, acquired, line, basis_reported=reported
    )
    return row, problems


@transaction.atomic
def onboarding_holdings_import(*, user: User, upload: HoldingsUpload) -> OnboardingDraft:
    """Add a checked file's lots to the draft, creating accounts it names; all or nothing."""
    if not upload.ok:
        raise InvalidInput(
            f"{len(upload.errors)} bad row(s); nothing was added",
            field="file",
            details=[str(e) for e in upload.errors],
        )
    draft = _locked_draft(user)
    accounts = draft_accounts(draft)
    by_name = {a["name"].lower(): dict(a) for a in accounts}
    order = [a["name"].lower() for a in accounts]
    for row in upload.rows:
        key = row.account.lower()
        if key not in by_name:
            by_name[key] = {
                "id": _new_id(draft, "a"),
                "name": row.account,
                "account_type": row.account_type,
                "cash": str(ZERO.quantize(Decimal("0.01"))),
                "holdings": [],
            }
            order.append(key)
        account = by_name[key]
        if account["account_type"] != row.account_type:
            raise InvalidInput(
                f"line {row.line}: account {row.account!r} is {account['account_type']}",
                field="file",
            )
        account["holdings"] = [*account["holdings"], row.as_json(_new_id(draft, "h"))]
    draft.data["accounts"] = [by_name[k] for k in order]
    _reopen_accounts(draft)
    draft.save(update_fields=["data", "step", "updated_at"])
    return draft


# --------------------------------------------------------------------------------------------
# Submission
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class OnboardingProblem:
    """Why a submission was refused, and the step where the client can fix it."""

    step: str
    message: str


def _require(draft: OnboardingDraft) -> None:
    missing = [s for s in STEPS[:-1] if s not in set(draft.data.get("completed", []))]
    if missing:
        labels = ", ".join(OnboardingStep(s).label.lower() for s in missing)
        raise InvalidInput(f"complete these steps first: {labels}", field=missing[0])


def onboarding_submit(*, user: User, as_of: date, today: date) -> Recommendation:
    """Create everything the draft describes and the first recommendation, in one transaction.

    Raises
    ------
    InfeasibleProblem
        The optimiser cannot meet the preferences; nothing is written and the draft keeps the
        message for the ESG step (``draft.data["problem"]``).
    InvalidInput, Conflict
        A step is incomplete, the client is already onboarded, or the data cannot be stored.
    """
    from advisor.services.recommendations import recommendation_for_household

    try:
        with transaction.atomic():
            draft = _locked_draft(user)
            _require(draft)
            client = Client.objects.select_related("household").filter(user=user).first()
            if client is None:
                raise NotFound("this login has no client record", field="user")
            household = client.household
            if (
                client.onboarded_at is not None
                or RiskProfile.objects.filter(client__household=household).exists()
            ):
                raise Conflict("onboarding is already complete", field="user")
            _store_profile(client, draft.data)
            _store_tax(household, draft.data["tax"])
            _store_accounts(household, draft_accounts(draft), today=today)
            client.onboarded_at = timezone.now()
            client.save(update_fields=["onboarded_at"])
            recommendation = recommendation_for_household(household=household, as_of=as_of)
            audit_record(
                actor_id=user.pk,
                action="client.onboarded",
                obj=client,
                from_state="onboarding",
                to_state="onboarded",
                data={"accounts": len(draft_accounts(draft)), "recommendation": recommendation.pk},
            )
            draft.delete()
    except InfeasibleProblem as exc:
        _record_problem(user, OnboardingProblem(OnboardingStep.ESG, exc.message))
        raise
    except InvalidInput as exc:
        if exc.field in ("prices", "universe"):
            _record_problem(user, OnboardingProblem(OnboardingStep.REVIEW, exc.message))
        raise
    return recommendation


def _record_problem(user: User, problem: OnboardingProblem) -> None:
    with transaction.atomic():
        draft = _locked_draft(user)
        draft.data["problem"] = {"step": problem.step, "message": problem.message}
        draft.save(update_fields=["data", "updated_at"])


def onboarding_problem(draft: OnboardingDraft) -> OnboardingProblem | None:
    """The reason the last submission was refused, if it was."""
    problem = draft.data.get("problem")
    if not problem:
        return None
    return OnboardingProblem(problem["step"], problem["message"])


def _store_profile(client: Client, data: Mapping[str, Any]) -> None:
    goal = data["goal"]
    risk_profile_save(
        client=client,
        answers=data["risk"]["answers"],
        horizon_years=int(goal["horizon_years"]),
        goal_amount=Decimal(goal["goal_amount"]) if goal.get("goal_amount") else None,
        monthly_contribution=Decimal(goal.get("monthly_contribution") or "0"),
    )
    esg = data["esg"]
    esg_preference_save(
        client=client,
        min_esg_score=int(esg["min_esg_score"]),
        excluded_categories=list(esg.get("excluded_categories", [])),
    )


def _store_tax(household: Household, tax: Mapping[str, Any]) -> None:
    if tax["filing_status"] not in FilingStatus.values:
        raise InvalidInput(f"unknown filing status {tax['filing_status']!r}", field="filing_status")
    household.filing_status = tax["filing_status"]
    household.short_term_rate = Decimal(tax["short_term_rate"])
    household.long_term_rate = Decimal(tax["long_term_rate"])
    household.loss_carryforward_short = Decimal(tax.get("loss_carryforward_short") or "0")
    household.loss_carryforward_long = Decimal(tax.get("loss_carryforward_long") or "0")
    household.save(
        update_fields=[
            "filing_status",
            "short_term_rate",
            "long_term_rate",
            "loss_carryforward_short",
            "loss_carryforward_long",
        ]
    )


def _store_accounts(
    household: Household, accounts: list[dict[str, Any]], *, today: date
) -> list[Account]:
    symbols = {h["symbol"] for a in accounts for h in a["holdings"]}
    assets = {a.symbol: a for a in Asset.objects.filter(symbol__in=symbols)}
    unknown = sorted(symbols - set(assets))
    if unknown:
        raise InvalidInput(
            f"no longer in the firm's universe: {', '.join(unknown)}", field="accounts"
        )
    created = []
    for spec in accounts:
        account = Account.objects.create(
            household=household,
            name=spec["name"],
            account_type=spec["account_type"],
            lot_method=LotMethod.TAX_MIN
            if spec["account_type"] == AccountType.TAXABLE
            else LotMethod.FIFO,
        )
        amount = Decimal(spec["cash"])
        if amount > 0:
            cash_deposit(account=account, amount=amount, on=today)
        for holding in spec["holdings"]:
            holding_transfer_in(
                account=account,
                asset=assets[holding["symbol"]],
                quantity_=Decimal(holding["quantity"]),
                cost_basis=Decimal(holding["cost_basis"]),
                acquired_on=date.fromisoformat(holding["acquired_on"]),
                basis_reported=BASIS_REPORTED_ANSWERS.get(holding.get("basis_reported", "")),
            )
        created.append(account)
    return created
