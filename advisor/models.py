"""People and their preferences: users with roles, clients, risk profiles, ESG preferences."""

from __future__ import annotations

from decimal import Decimal

from django.conf import settings
from django.contrib.auth.models import AbstractUser
from django.db import models
from django.db.models import Q
from django.db.models.functions import Lower

from portfolios.models import CashField, Household


class Role(models.TextChoices):
    CLIENT = "client", "Client"
    ADVISOR = "advisor", "Advisor"
    STAFF = "staff", "Staff"


class User(AbstractUser):
    """A login. ``role`` decides what it may see: its household, its clients, or the firm."""

    role = models.CharField(max_length=8, choices=Role.choices, default=Role.CLIENT, db_index=True)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=~Q(role="staff") | Q(is_staff=True),
                name="user_staff_role_has_admin_access",
            ),
            # "Ada" and "ada" are one username: sign-up and registration check so, and this
            # decides between two that race
            models.UniqueConstraint(
                Lower("username"),
                name="user_username_unique_ignoring_case",
                violation_error_message="A user with that username already exists "
                "(usernames ignore case).",
            ),
        ]

    @property
    def is_client(self) -> bool:
        return self.role == Role.CLIENT

    @property
    def is_advisor(self) -> bool:
        return self.role == Role.ADVISOR

    @property
    def is_firm_staff(self) -> bool:
        return self.role == Role.STAFF


class Client(models.Model):
    """A person the firm advises, a member of one household, served by one advisor."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="client",
        null=True,
        blank=True,
        help_text="Portal login; empty for clients registered by an integration only",
    )
    household = models.ForeignKey(Household, on_delete=models.PROTECT, related_name="clients")
    advisor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="advised_clients",
        null=True,
        blank=True,
        limit_choices_to={"role": Role.ADVISOR},
    )
    first_name = models.CharField(max_length=100)
    last_name = models.CharField(max_length=100)
    email = models.EmailField(blank=True)
    date_of_birth = models.DateField(null=True, blank=True)
    annual_income = CashField(null=True, blank=True)
    onboarded_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["last_name", "first_name"]
        indexes = [
            models.Index(fields=["advisor", "household"], name="client_advisor_household_idx")
        ]

    def __str__(self) -> str:
        return f"{self.first_name} {self.last_name}"

    @property
    def full_name(self) -> str:
        return f"{self.first_name} {self.last_name}"


class RiskProfile(models.Model):
    """The outcome of the risk questionnaire (see ``advisor.core.questionnaire``)."""

    client = models.OneToOneField(Client, on_delete=models.CASCADE, related_name="risk_profile")
    answers = models.JSONField(default=dict)
    willingness_score = models.PositiveSmallIntegerField()
    capacity_score = models.PositiveSmallIntegerField()
    score = models.PositiveSmallIntegerField(help_text="Final risk score, 1 (lowest) to 10")
    horizon_years = models.PositiveSmallIntegerField()
    goal_amount = CashField(null=True, blank=True)
    monthly_contribution = CashField(default=Decimal("0.00"))
    equity_weight = models.DecimalField(max_digits=5, decimal_places=4)
    bond_weight = models.DecimalField(max_digits=5, decimal_places=4)
    cash_weight = models.DecimalField(max_digits=5, decimal_places=4)
    contradictions = models.JSONField(default=list, blank=True)
    explanation = models.JSONField(default=list, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(score__gte=1, score__lte=10), name="riskprofile_score_1_10"
            ),
            models.CheckConstraint(
                condition=Q(willingness_score__gte=1, willingness_score__lte=10),
                name="riskprofile_willingness_1_10",
            ),
            models.CheckConstraint(
                condition=Q(capacity_score__gte=1, capacity_score__lte=10),
                name="riskprofile_capacity_1_10",
            ),
            models.CheckConstraint(
                condition=Q(horizon_years__gte=1, horizon_years__lte=60),
                name="riskprofile_horizon_1_60",
            ),
            models.CheckConstraint(
                condition=Q(equity_weight__gte=0, bond_weight__gte=0, cash_weight__gte=0),
                name="riskprofile_split_nonnegative",
            ),
            models.CheckConstraint(
                condition=Q(goal_amount__isnull=True) | Q(goal_amount__gt=0),
                name="riskprofile_goal_positive",
            ),
            models.CheckConstraint(
                condition=Q(monthly_contribution__gte=0),
                name="riskprofile_contribution_nonnegative",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.client} risk {self.score}/10"


class ESGPreference(models.Model):
    """A client's sustainability constraints: a hard floor and excluded categories."""

    client = models.OneToOneField(Client, on_delete=models.CASCADE, related_name="esg_preference")
    min_esg_score = models.PositiveSmallIntegerField(
        default=0, help_text="Portfolio-weighted floor, 0-100"
    )
    excluded_categories = models.JSONField(default=list, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(min_esg_score__lte=100), name="esgpreference_floor_at_most_100"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.client} ESG >= {self.min_esg_score}"


class DemoMarketState(models.Model):
    """The demo market ticker's saved state (embedded demo only), so a restart continues it."""

    seed = models.BigIntegerField()
    state = models.JSONField()
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"demo market (seed {self.seed}) at {self.updated_at:%Y-%m-%d %H:%M:%S}"


class OnboardingStep(models.TextChoices):
    """The onboarding wizard's steps, in the order a new client goes through them."""

    GOAL = "goal", "Your goal"
    RISK = "risk", "Attitude to risk"
    TAX = "tax", "Tax situation"
    ESG = "esg", "Sustainability"
    ACCOUNTS = "accounts", "Accounts and holdings"
    REVIEW = "review", "Review"


class OnboardingDraft(models.Model):
    """A client's answers while onboarding, kept between steps and across reloads.

    ``data`` holds each completed step's cleaned values as JSON (amounts as strings); ``step``
    is where the client resumes. The draft is deleted once onboarding is submitted.
    """

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="onboarding_draft"
    )
    step = models.CharField(
        max_length=8, choices=OnboardingStep.choices, default=OnboardingStep.GOAL
    )
    data = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"onboarding of {self.user_id} at {self.step}"
