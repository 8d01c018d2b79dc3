"""The root `orderline` command and its groups; each topic module adds its commands."""

from __future__ import annotations

import typer

app = typer.Typer(
    help="Orderline: order service with a PostgreSQL write model and DynamoDB reads.",
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode="rich",
    pretty_exceptions_show_locals=False,  # locals may hold secrets
)
db_app = typer.Typer(help="Write-model database (PostgreSQL) operations.", no_args_is_help=True)
app.add_typer(db_app, name="db")
tables_app = typer.Typer(help="Read-model tables (DynamoDB) operations.", no_args_is_help=True)
app.add_typer(tables_app, name="tables")
outbox_app = typer.Typer(
    help="The outbox: what the relay still has to publish.", no_args_is_help=True
)
app.add_typer(outbox_app, name="outbox")
