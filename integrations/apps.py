from __future__ import annotations

from django.apps import AppConfig


class IntegrationsConfig(AppConfig):
    verbose_name = "Integrations"
    name = "integrations"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        """Audit every sign-in, failed sign-in and sign-out (browser and API token), and drop a
        token's cached user when the user or the token changes."""
        from django.contrib.auth import get_user_model
        from django.contrib.auth.signals import (
            user_logged_in,
            user_logged_out,
            user_login_failed,
        )
        from django.db.models.signals import post_delete, post_save, pre_save
        from rest_framework.authtoken.models import Token

        from advisor.api import authentication
        from integrations import login_audit

        user_logged_in.connect(login_audit.on_logged_in, dispatch_uid="integrations.login_audit")
        user_logged_out.connect(login_audit.on_logged_out, dispatch_uid="integrations.logout_audit")
        user_login_failed.connect(
            login_audit.on_login_failed, dispatch_uid="integrations.login_failed_audit"
        )
        user_model = get_user_model()
        for signal in (post_save, post_delete):
            signal.connect(
                authentication.on_user_changed,
                sender=user_model,
                dispatch_uid=f"integrations.token_cache.user.{signal is post_save}",
            )
        pre_save.connect(
            authentication.on_user_saving,
            sender=user_model,
            dispatch_uid="integrations.token_revoke.password",
        )
        post_delete.connect(
            authentication.on_token_deleted,
            sender=Token,
            dispatch_uid="integrations.token_cache.token",
        )
