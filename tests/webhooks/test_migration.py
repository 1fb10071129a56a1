"""The webhook models moved from imaging to their own app with no table or row moved: a database
holding endpoints and deliveries migrates forward and keeps every one."""

from __future__ import annotations

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)

BEFORE = [("imaging", "0005_task_lease"), ("webhooks", None)]


def migrate(targets: list) -> MigrationExecutor:
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(targets)
    return MigrationExecutor(connection)


def test_endpoints_and_deliveries_survive_the_move_to_the_webhooks_app() -> None:
    old = migrate(BEFORE).loader.project_state([BEFORE[0]]).apps
    account = old.get_model("accounts", "Account")._base_manager.create(name="tenant")
    task = old.get_model("imaging", "Task")._base_manager.create(
        account=account, operation="enhance", queue="cpu"
    )
    endpoint = old.get_model("imaging", "WebhookEndpoint")._base_manager.create(
        account=account, url="https://hooks.example.com/x", public_id="we_kept"
    )
    old.get_model("imaging", "WebhookDelivery")._base_manager.create(
        account=account,
        endpoint=endpoint,
        task=task,
        event_type="task.completed",
        payload={"kept": True},
        public_id="msg_kept",
    )

    executor = MigrationExecutor(connection)
    latest = executor.loader.graph.leaf_nodes()
    new = migrate(latest).loader.project_state(latest).apps

    endpoints = new.get_model("webhooks", "WebhookEndpoint")._base_manager
    deliveries = new.get_model("webhooks", "WebhookDelivery")._base_manager
    assert list(endpoints.values_list("public_id", "url")) == [
        ("we_kept", "https://hooks.example.com/x")
    ]
    delivery = deliveries.get()
    assert (delivery.public_id, delivery.payload, delivery.endpoint.public_id) == (
        "msg_kept",
        {"kept": True},
        "we_kept",
    )
