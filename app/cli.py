"""Operator commands: `flask --app app credits grant ...`, `flask --app app ledger check`."""
from __future__ import annotations

import sys
import uuid

import click
from flask import Flask
from flask.cli import AppGroup
from sqlalchemy import select

from billing import accounts, ledger
from billing.money import MoneyError, format_usd, parse_usd

from .extensions import db
from .models import Account


def register_cli(app: Flask) -> None:
    app.cli.add_command(credits)
    app.cli.add_command(ledger_group)


@click.group(cls=AppGroup, help="Customer credit.")
def credits():
    pass


@credits.command("grant", help="Credit an account through the ledger.")
@click.argument("email")
@click.argument("amount_usd")
@click.option("--reason", required=True, help="Why: kept on the ledger transaction.")
@click.option("--reference", default=None, help="Idempotency reference (default: a new one).")
def grant(email: str, amount_usd: str, reason: str, reference: str | None):
    try:
        amount = parse_usd(amount_usd)
    except MoneyError as exc:
        raise click.BadParameter(str(exc), param_hint="AMOUNT_USD") from None
    if amount <= 0:
        raise click.BadParameter("must be positive", param_hint="AMOUNT_USD")
    account = db.session.execute(
        select(Account).where(Account.email == email.strip().lower())).scalar_one_or_none()
    if account is None:
        raise click.ClickException(f"no account with email {email}")
    reference = reference or f"cli:{uuid.uuid4()}"
    applied = accounts.grant(db.session, account.id, amount, reference, reason)
    db.session.commit()
    balance = ledger.balance(db.session, account.id)
    verb = "granted" if applied else "already granted (same reference)"
    click.echo(f"{verb} ${format_usd(amount)} to {email}; balance ${format_usd(balance)}")


@click.group("ledger", cls=AppGroup, help="Ledger checks.")
def ledger_group():
    pass


@ledger_group.command("check", help="Prove every balance equals the sum of its entries.")
def check():
    problems = ledger.check(db.session)
    for problem in problems:
        click.echo(problem, err=True)
    if problems:
        sys.exit(1)
    click.echo("ledger ok: every balance equals the sum of its entries")
