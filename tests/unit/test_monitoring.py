"""The Grafana dashboard and the alert rules name only metrics the service exports; the rules
pass `promtool check rules` (Debian package prometheus)."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import yaml
from prometheus_client import REGISTRY

import orderline.metrics  # noqa: F401  (registers every metric)

from ..helpers.tools import require

DEPLOY = Path(__file__).parents[2] / "deploy"
ALERTS = DEPLOY / "prometheus" / "alerts.yml"
DASHBOARD = DEPLOY / "grafana" / "orderline.json"
NAME = re.compile(r"\b(orderline_[a-z_]+)")


def exported() -> set[str]:
    """Every series name the process can export (labelled metrics have no samples until used)."""
    suffixes = {"counter": ("_total",), "histogram": ("_bucket", "_sum", "_count"), "gauge": ("",)}
    return {
        family.name + suffix
        for family in REGISTRY.collect()
        for suffix in suffixes.get(family.type, ("",))
    }


def test_the_alert_rules_pass_promtool() -> None:
    promtool = require("promtool", package="prometheus")["promtool"]
    checked = subprocess.run(
        [promtool, "check", "rules", str(ALERTS)], capture_output=True, text=True, check=False
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_the_alert_rules_cover_the_failures_and_name_real_metrics() -> None:
    rules = [
        rule for group in yaml.safe_load(ALERTS.read_text())["groups"] for rule in group["rules"]
    ]
    used = {name for rule in rules for name in NAME.findall(rule["expr"])}
    assert used <= exported(), used - exported()
    for needed in ("outbox_oldest", "projection_lag", "throttled", "5..", "outbox_parked"):
        assert any(needed in rule["expr"] for rule in rules), needed


def test_the_dashboard_names_real_metrics_and_covers_each_area() -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    exprs = [t["expr"] for p in dashboard["panels"] for t in p.get("targets", [])]
    used = {name for expr in exprs for name in NAME.findall(expr)}
    assert used <= exported(), used - exported()
    for needed in (
        "http_request_duration",
        "reads_total",
        "dynamodb_calls",
        "dynamodb_call_duration",
        "throttled",
        "outbox_backlog",
        "outbox_oldest",
        "projection_lag",
        "consumer_lag",
        "live_subscribers",
        "live_events_delivered",
    ):
        assert any(needed in expr for expr in exprs), needed
    ids = [panel["id"] for panel in dashboard["panels"]]
    assert len(ids) == len(set(ids))
