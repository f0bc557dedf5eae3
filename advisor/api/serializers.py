"""What goes over the wire: request bodies are parsed and checked here, responses shaped here.

Amounts are strings with their fixed places (cash 2, quantities 9, prices 6), as everywhere in
the ledger; weights and statistics are numbers.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from advisor.core.questionnaire import QUESTIONS
from advisor.models import Client, ESGPreference, RiskProfile
from advisor.webhooks import webhook_url_problem
from integrations.models import DeliveryStatus, WebhookDelivery, WebhookEndpoint, WebhookEvent
from portfolios.clock import firm_today
from portfolios.core.money import MAX_ENTERED_CASH
from portfolios.models import (
    Account,
    ExclusionTag,
    FilingStatus,
    Household,
    ProposalStatus,
    ProposalTrade,
    RebalanceProposal,
    Recommendation,
    TaxLot,
    Transaction,
)
from signals.models import DetectedSignal
from trading.models import Fill, Order, OrderStatus, PreTradeCheck


def Cash(**kwargs: Any) -> serializers.DecimalField:
    kwargs.setdefault("max_value", MAX_ENTERED_CASH)  # as in the portal
    return serializers.DecimalField(max_digits=16, decimal_places=2, **kwargs)


def Quantity(**kwargs: Any) -> serializers.DecimalField:
    return serializers.DecimalField(max_digits=24, decimal_places=9, **kwargs)


def Price(**kwargs: Any) -> serializers.DecimalField:
    return serializers.DecimalField(max_digits=18, decimal_places=6, **kwargs)


class StrictInput:
    """A request body with a field the serializer does not know is refused, naming it: a typo
    (``excluded_category``) would otherwise be dropped and the real field left at its default.
    Mixed into every serializer that reads a request body, before the DRF base class."""

    #: sent by HTML forms (the browsable API), never a field of the body
    IGNORED = frozenset({"csrfmiddlewaretoken"})

    def to_internal_value(self, data: Any) -> Any:
        if isinstance(data, Mapping):
            fields = self.fields  # type: ignore[attr-defined]
            unknown = sorted(set(data) - set(fields) - self.IGNORED)
            if unknown:
                known = ", ".join(name for name, field in fields.items() if not field.read_only)
                raise serializers.ValidationError(
                    {name: [f"unknown field (this body takes {known})"] for name in unknown}
                )
        return super().to_internal_value(data)  # type: ignore[misc]


_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


class Text(serializers.CharField):
    """Text from a request body: a JSON string and nothing else (DRF's ``CharField`` turns the
    number 5 into "5"), without control characters other than tab and line breaks."""

    default_error_messages = {
        "not_text": "must be a string, not {kind}",
        "control": "must not contain control characters",
    }

    def to_internal_value(self, data: Any) -> str:
        if not isinstance(data, str):
            self.fail("not_text", kind=type(data).__name__)
        if _CONTROL.search(data):
            self.fail("control")
        return str(super().to_internal_value(data))


def EnumString(values: Any, name: str, **kwargs: Any) -> serializers.CharField:
    """A string out of a fixed set, documented as the schema component ``name`` (so two sets
    behind fields of the same name, like proposal and order ``status``, never collide)."""

    @extend_schema_field({"type": "string", "enum": list(values)}, component_name=name)
    class _EnumString(serializers.CharField):
        pass

    return _EnumString(**kwargs)


def Rate(**kwargs: Any) -> serializers.DecimalField:
    return serializers.DecimalField(
        max_digits=6, decimal_places=4, min_value=0, max_value=1, **kwargs
    )


# -- auth ------------------------------------------------------------------------------------------


class TokenRequest(StrictInput, serializers.Serializer):
    username = Text(max_length=150)
    password = serializers.CharField(
        max_length=4096, style={"input_type": "password"}, trim_whitespace=False
    )


class TokenResponse(serializers.Serializer):
    token = serializers.CharField()
    expires_at = serializers.DateTimeField(help_text="When the token stops working")
    user_id = serializers.IntegerField()
    username = serializers.CharField()
    role = serializers.CharField()


# -- households and clients ------------------------------------------------------------------------


class HouseholdSerializer(serializers.ModelSerializer):
    class Meta:
        model = Household
        fields = [
            "id",
            "name",
            "filing_status",
            "short_term_rate",
            "long_term_rate",
            "loss_carryforward_short",
            "loss_carryforward_long",
            "is_demo",
            "created_at",
        ]
        read_only_fields = fields


class RiskProfileSerializer(serializers.ModelSerializer):
    class Meta:
        model = RiskProfile
        fields = [
            "score",
            "willingness_score",
            "capacity_score",
            "horizon_years",
            "goal_amount",
            "monthly_contribution",
            "equity_weight",
            "bond_weight",
            "cash_weight",
            "answers",
            "contradictions",
            "explanation",
            "updated_at",
        ]
        read_only_fields = fields


class ESGPreferenceSerializer(serializers.ModelSerializer):
    class Meta:
        model = ESGPreference
        fields = ["min_esg_score", "excluded_categories", "updated_at"]
        read_only_fields = fields


class ClientSerializer(serializers.ModelSerializer):
    household = serializers.IntegerField(source="household_id", read_only=True)
    email = serializers.CharField(read_only=True, help_text="Empty when none was given")
    household_name = serializers.CharField(source="household.name", read_only=True)
    advisor = serializers.IntegerField(source="advisor_id", read_only=True, allow_null=True)
    has_login = serializers.SerializerMethodField()
    risk_profile = serializers.SerializerMethodField()
    esg_preference = serializers.SerializerMethodField()

    class Meta:
        model = Client
        fields = [
            "id",
            "household",
            "household_name",
            "advisor",
            "first_name",
            "last_name",
            "email",
            "date_of_birth",
            "annual_income",
            "has_login",
            "onboarded_at",
            "created_at",
            "risk_profile",
            "esg_preference",
        ]
        read_only_fields = fields

    def get_has_login(self, obj: Client) -> bool:
        return obj.user_id is not None

    def _related(self, obj: Client, name: str) -> Any:
        try:
            return getattr(obj, name)
        except (RiskProfile.DoesNotExist, ESGPreference.DoesNotExist):
            return None

    @staticmethod
    def _nullable(serializer: type[serializers.Serializer], value: Any) -> Any:
        return serializer(value).data if value is not None else None

    @extend_schema_field(RiskProfileSerializer(allow_null=True))
    def get_risk_profile(self, obj: Client) -> dict[str, Any] | None:
        return self._nullable(RiskProfileSerializer, self._related(obj, "risk_profile"))

    @extend_schema_field(ESGPreferenceSerializer(allow_null=True))
    def get_esg_preference(self, obj: Client) -> dict[str, Any] | None:
        return self._nullable(ESGPreferenceSerializer, self._related(obj, "esg_preference"))


class RiskInput(StrictInput, serializers.Serializer):
    """The questionnaire's answers, or a final risk score given directly (exactly one)."""

    answers = serializers.DictField(
        child=Text(max_length=40),
        required=False,
        help_text="Question key to chosen value, for every question: "
        + ", ".join(q.key for q in QUESTIONS),
    )
    risk_score = serializers.IntegerField(
        required=False,
        min_value=1,
        max_value=10,
        help_text="A final score 1-10 from the integration's own suitability process, instead "
        "of answers; stored with the questionnaire's split for that score",
    )
    horizon_years = serializers.IntegerField(min_value=1, max_value=60)
    goal_amount = Cash(required=False, allow_null=True, min_value=Decimal("0.01"))
    monthly_contribution = Cash(required=False, min_value=0)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if ("answers" in attrs) == ("risk_score" in attrs):
            raise serializers.ValidationError(
                {"risk_score": ["give either answers or risk_score, not both"]}
            )
        return attrs


class ESGInput(StrictInput, serializers.Serializer):
    min_esg_score = serializers.IntegerField(min_value=0, max_value=100, default=0)
    excluded_categories = serializers.ListField(
        child=serializers.ChoiceField(choices=ExclusionTag.choices), default=list, max_length=20
    )


class HouseholdInput(StrictInput, serializers.Serializer):
    name = Text(max_length=200)
    filing_status = serializers.ChoiceField(
        choices=FilingStatus.choices, default=FilingStatus.SINGLE
    )
    short_term_rate = Rate(required=False, help_text="Marginal tax rate on short-term gains")
    long_term_rate = Rate(required=False, help_text="Marginal tax rate on long-term gains")


class LoginInput(StrictInput, serializers.Serializer):
    username = serializers.RegexField(r"^[\w.@+-]+\Z", max_length=150)
    password = serializers.CharField(max_length=4096, trim_whitespace=False, write_only=True)


class ClientRegistrationInput(RiskInput):
    """Everything needed for a recommendation, in one request."""

    household = HouseholdInput()
    first_name = Text(max_length=100)
    last_name = Text(max_length=100)
    email = serializers.EmailField(required=False, default="", allow_blank=True)
    date_of_birth = serializers.DateField(required=False, allow_null=True)
    annual_income = Cash(required=False, allow_null=True, min_value=0)
    esg = ESGInput(required=False)
    advisor = serializers.IntegerField(
        required=False,
        min_value=1,
        help_text="The advising user's id: staff must give it; an advisor registers for themself",
    )
    login = LoginInput(
        required=False,
        help_text="A portal login for the client; the password must pass the password rules",
    )

    def validate_date_of_birth(self, value: dt.date | None) -> dt.date | None:
        if value is not None and not dt.date(1900, 1, 1) <= value <= firm_today():
            raise serializers.ValidationError("must be a past date, after 1900")
        return value


class RegistrationResponse(serializers.Serializer):
    client = ClientSerializer()
    household = HouseholdSerializer()
    recommendation_url = serializers.CharField()


# -- ledger ----------------------------------------------------------------------------------------


class AccountSerializer(serializers.ModelSerializer):
    household = serializers.IntegerField(source="household_id", read_only=True)

    class Meta:
        model = Account
        fields = [
            "id",
            "household",
            "name",
            "account_type",
            "lot_method",
            "cash",
            "is_active",
            "created_at",
        ]
        read_only_fields = fields


class LotSerializer(serializers.ModelSerializer):
    account = serializers.IntegerField(source="account_id", read_only=True)
    symbol = serializers.CharField(source="asset.symbol", read_only=True)

    class Meta:
        model = TaxLot
        fields = [
            "id",
            "account",
            "symbol",
            "quantity",
            "original_quantity",
            "cost_basis",
            "acquired_on",
            "holding_period_start",
            "wash_sale_adjustment",
            "acquisition_id",
            "basis_reported",
            "closed_on",
        ]
        read_only_fields = fields


class TransactionSerializer(serializers.ModelSerializer):
    account = serializers.IntegerField(source="account_id", read_only=True)
    symbol = serializers.CharField(source="asset.symbol", read_only=True, allow_null=True)

    class Meta:
        model = Transaction
        fields = [
            "id",
            "account",
            "kind",
            "symbol",
            "trade_date",
            "executed_at",
            "quantity",
            "price",
            "fees",
            "amount",
            "external_id",
            "description",
        ]
        read_only_fields = fields


class TransactionImportInput(StrictInput, serializers.Serializer):
    household = serializers.IntegerField(min_value=1, help_text="The household to import into")
    file = serializers.FileField(help_text="The CSV file (see the import format), at most 5 MB")


class TransactionImportResponse(serializers.Serializer):
    household = serializers.IntegerField()
    already_imported = serializers.BooleanField()
    key = serializers.CharField()
    accounts_created = serializers.ListField(child=serializers.CharField())
    applied = serializers.DictField(child=serializers.IntegerField())
    rows_applied = serializers.IntegerField()
    funding_deposits = serializers.IntegerField()
    funding_total = Cash()
    realised_lots = serializers.IntegerField()
    wash_sales = serializers.IntegerField()
    first_date = serializers.DateField(allow_null=True)
    last_date = serializers.DateField(allow_null=True)


class LotOut(serializers.Serializer):
    id = serializers.IntegerField()
    quantity = Quantity()
    cost_basis = Cash()
    acquired_on = serializers.DateField()
    market_value = Cash()
    unrealized_gain = Cash()


class PositionOut(serializers.Serializer):
    account_id = serializers.IntegerField()
    symbol = serializers.CharField()
    name = serializers.CharField()
    asset_class = serializers.CharField()
    quantity = Quantity()
    price = Price()
    market_value = Cash()
    cost_basis = Cash()
    unrealized_gain = Cash()
    lots = LotOut(many=True)


# -- recommendations, proposals, orders ------------------------------------------------------------


class RecommendationSerializer(serializers.ModelSerializer):
    household = serializers.IntegerField(source="household_id", read_only=True)
    weights = serializers.DictField(child=serializers.FloatField(), read_only=True)
    explanation = serializers.ListField(child=serializers.CharField(), read_only=True)
    diagnostics = serializers.DictField(read_only=True)
    views = serializers.ListField(child=serializers.DictField(), read_only=True)

    class Meta:
        model = Recommendation
        fields = [
            "id",
            "household",
            "risk_score",
            "method",
            "weights",
            "expected_return",
            "volatility",
            "esg_score",
            "explanation",
            "views",
            "diagnostics",
            "fallback",
            "is_current",
            "created_at",
        ]
        read_only_fields = fields


class ProposalSerializer(serializers.ModelSerializer):
    status = EnumString(ProposalStatus.values, "ProposalStatus", read_only=True)
    account = serializers.IntegerField(source="account_id", read_only=True)
    household = serializers.IntegerField(source="account.household_id", read_only=True)
    decided_by = serializers.IntegerField(source="decided_by_id", read_only=True, allow_null=True)

    class Meta:
        model = RebalanceProposal
        fields = [
            "id",
            "account",
            "household",
            "status",
            "reason",
            "total_value",
            "drift_before",
            "drift_after",
            "realized_gain_short",
            "realized_gain_long",
            "estimated_tax",
            "estimated_tax_saving",
            "estimated_costs",
            "auto_approved",
            "decided_by",
            "decided_at",
            "created_at",
        ]
        read_only_fields = fields


class ProposalTradeSerializer(serializers.ModelSerializer):
    symbol = serializers.CharField(source="asset.symbol", read_only=True)
    client_order_id = serializers.CharField(read_only=True)
    lots = serializers.ListField(child=serializers.DictField(), read_only=True)

    class Meta:
        model = ProposalTrade
        fields = [
            "sequence",
            "symbol",
            "side",
            "quantity",
            "estimated_price",
            "notional",
            "estimated_cost",
            "estimated_gain",
            "purpose",
            "lots",
            "client_order_id",
        ]
        read_only_fields = fields


class CheckSerializer(serializers.ModelSerializer):
    order = serializers.CharField(source="order.client_order_id", read_only=True)

    class Meta:
        model = PreTradeCheck
        fields = [
            "order",
            "check_name",
            "outcome",
            "message",
            "limit_value",
            "observed_value",
            "round",
            "limits_version",
            "checked_at",
        ]
        read_only_fields = fields


class ProposalDetailSerializer(ProposalSerializer):
    target_weights = serializers.DictField(child=serializers.FloatField(), read_only=True)
    weights_before = serializers.DictField(child=serializers.FloatField(), read_only=True)
    weights_after = serializers.DictField(child=serializers.FloatField(), read_only=True)
    prices = serializers.DictField(child=serializers.CharField(), read_only=True)
    risk_before = serializers.DictField(read_only=True)
    risk_after = serializers.DictField(read_only=True)
    explanation = serializers.ListField(child=serializers.CharField(), read_only=True)
    execution_summary = serializers.DictField(read_only=True)
    trades = ProposalTradeSerializer(many=True, read_only=True)
    checks = serializers.SerializerMethodField()

    class Meta(ProposalSerializer.Meta):
        fields = [
            *ProposalSerializer.Meta.fields,
            "target_weights",
            "weights_before",
            "weights_after",
            "prices",
            "priced_at",
            "risk_before",
            "risk_after",
            "explanation",
            "advisor_comment",
            "execution_summary",
            "trades",
            "checks",
        ]
        read_only_fields = fields

    @extend_schema_field(CheckSerializer(many=True))
    def get_checks(self, obj: RebalanceProposal) -> list[dict[str, Any]]:
        checks = PreTradeCheck.objects.filter(order__proposal=obj).select_related("order")
        return list(
            CheckSerializer(checks.order_by("order_id", "checked_at", "id"), many=True).data
        )


class DecisionInput(StrictInput, serializers.Serializer):
    comment = Text(max_length=2000, required=False, default="", allow_blank=True)


class RejectionInput(StrictInput, serializers.Serializer):
    comment = Text(max_length=2000, help_text="Why the proposal is rejected")


class OrderSerializer(serializers.ModelSerializer):
    status = EnumString(OrderStatus.values, "OrderStatus", read_only=True)
    symbol = serializers.CharField(source="asset.symbol", read_only=True)
    account = serializers.IntegerField(source="account_id", read_only=True)
    household = serializers.IntegerField(source="account.household_id", read_only=True)
    proposal = serializers.IntegerField(source="proposal_id", read_only=True, allow_null=True)
    parent = serializers.IntegerField(source="parent_id", read_only=True, allow_null=True)  # type: ignore[assignment]

    class Meta:
        model = Order
        fields = [
            "id",
            "client_order_id",
            "proposal",
            "parent",
            "account",
            "household",
            "symbol",
            "side",
            "order_type",
            "algo",
            "quantity",
            "limit_price",
            "status",
            "filled_quantity",
            "average_fill_price",
            "fees",
            "scheduled_at",
            "submitted_at",
            "completed_at",
            "created_at",
        ]
        read_only_fields = fields


class FillSerializer(serializers.ModelSerializer):
    order = serializers.IntegerField(source="order_id", read_only=True)
    client_order_id = serializers.CharField(source="order.client_order_id", read_only=True)
    symbol = serializers.CharField(source="order.asset.symbol", read_only=True)
    side = serializers.CharField(source="order.side", read_only=True)

    class Meta:
        model = Fill
        fields = [
            "id",
            "order",
            "client_order_id",
            "symbol",
            "side",
            "execution_id",
            "quantity",
            "price",
            "fee",
            "executed_at",
        ]
        read_only_fields = fields


class OrderDetailSerializer(OrderSerializer):
    checks = CheckSerializer(many=True, read_only=True)
    fills = FillSerializer(many=True, read_only=True)
    cost_analysis = serializers.DictField(read_only=True)

    class Meta(OrderSerializer.Meta):
        fields = [*OrderSerializer.Meta.fields, "last_error", "cost_analysis", "checks", "fills"]
        read_only_fields = fields


# -- signals ---------------------------------------------------------------------------------------


class SignalSerializer(serializers.ModelSerializer):
    symbol = serializers.CharField(source="asset.symbol", read_only=True)
    details = serializers.DictField(read_only=True)

    class Meta:
        model = DetectedSignal
        fields = [
            "id",
            "symbol",
            "kind",
            "value",
            "confidence",
            "as_of",
            "window_start",
            "window_end",
            "details",
            "run",
        ]
        read_only_fields = fields


class SentimentInput(StrictInput, serializers.Serializer):
    texts = serializers.ListField(
        child=Text(max_length=2000, trim_whitespace=False),
        min_length=1,
        max_length=64,
        help_text="1-64 headlines or short texts",
    )


class SentimentScoreOut(serializers.Serializer):
    label = serializers.ChoiceField(choices=["negative", "neutral", "positive"])  # type: ignore[assignment]
    score = serializers.FloatField(help_text="p(positive) - p(negative), in [-1, 1]")
    negative = serializers.FloatField()
    neutral = serializers.FloatField()
    positive = serializers.FloatField()


class SentimentResponse(serializers.Serializer):
    backend = serializers.CharField()
    scores = SentimentScoreOut(many=True)


# -- webhooks --------------------------------------------------------------------------------------


class WebhookEndpointSerializer(StrictInput, serializers.ModelSerializer):
    events = serializers.ListField(
        child=serializers.ChoiceField(choices=WebhookEvent.choices), min_length=1, max_length=10
    )
    secret = Text(
        min_length=32,
        max_length=128,
        required=False,
        write_only=True,
        help_text="The signing key; generated when left out (and returned once, on creation)",
    )
    owner = serializers.IntegerField(source="owner_id", read_only=True)
    description = Text(max_length=200, required=False, allow_blank=True)

    class Meta:
        model = WebhookEndpoint
        fields = [
            "id",
            "owner",
            "url",
            "events",
            "secret",
            "description",
            "is_active",
            "created_at",
        ]
        read_only_fields = ["id", "owner", "created_at"]

    def validate_url(self, value: str) -> str:
        problem = webhook_url_problem(value)
        if problem:
            raise serializers.ValidationError(problem)
        return value


class WebhookEndpointCreated(serializers.Serializer):
    id = serializers.IntegerField()
    owner = serializers.IntegerField()
    url = serializers.URLField()
    events = serializers.ListField(child=serializers.CharField())
    description = serializers.CharField()
    is_active = serializers.BooleanField()
    created_at = serializers.DateTimeField()
    secret = serializers.CharField(help_text="Shown only now: store it to verify signatures")


class WebhookDeliverySerializer(serializers.ModelSerializer):
    status = EnumString(DeliveryStatus.values, "DeliveryStatus", read_only=True)
    event = EnumString(WebhookEvent.values, "WebhookEvent", read_only=True)

    class Meta:
        model = WebhookDelivery
        fields = [
            "id",
            "event",
            "event_id",
            "household_id",
            "status",
            "attempts",
            "last_response_code",
            "last_error",
            "last_duration_ms",
            "last_attempt_at",
            "next_attempt_at",
            "delivered_at",
            "created_at",
        ]
        read_only_fields = fields
