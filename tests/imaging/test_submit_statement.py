"""A single task's submit on PostgreSQL: its charge and its row in one statement, with the same
rows, refusals and leftovers as the transactional path (which batches and SQLite take)."""

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from PIL import Image

from accounts.models import Account
from accounts.services import user_create, user_personal_account_ensure
from billing.costs import operation_cost
from billing.models import CreditLedgerEntry
from billing.services import credits_charge_with_row, credits_set_balance
from core.errors import InsufficientCredits
from core.operations import Operation
from imaging.models import Task
from imaging.services import TaskInput, task_submit
from tests.conftest import require_postgres

# serialized_rollback: the flush after each test would otherwise delete the seeded plans.
pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)


@pytest.fixture
def funded() -> Account:
    require_postgres("the one-statement submit is PostgreSQL's")
    account = user_personal_account_ensure(user=user_create(email="one@example.com"))
    credits_set_balance(account=account, balance=10, kind="adjustment", idempotency_key="fund")
    return account


def enhance(account: Account) -> Task:
    image = Image.new("RGB", (16, 16), "orange")
    return task_submit(
        account=account,
        operation=Operation.ENHANCE,
        task_input=TaskInput(params={"enhancement_type": "color", "note": "香蕉"}, images=(image,)),
    )


def test_one_statement_writes_the_task_its_charge_and_the_debit(funded: Account) -> None:
    with CaptureQueriesContext(connection) as queries:
        task = enhance(funded)
    writes = [q["sql"] for q in queries if "INSERT" in q["sql"] or "UPDATE" in q["sql"]]
    assert len(writes) == 1 and "BEGIN" not in " ".join(q["sql"] for q in queries)
    stored = Task.objects.for_account(funded).get(pk=task.pk)
    for field in Task._meta.concrete_fields:
        assert getattr(stored, field.attname) == getattr(task, field.attname), field.name
    assert stored.params == {"enhancement_type": "color", "note": "香蕉"}
    assert len(stored.input_files) == 1 and stored.status == Task.Status.PENDING
    charge = CreditLedgerEntry.objects.for_account(funded).get(pk=stored.charge_id)
    cost = operation_cost(Operation.ENHANCE)
    assert (charge.amount, charge.usage, charge.reference) == (-cost, cost, task.public_id)
    assert charge.idempotency_key == f"charge:{task.public_id}"
    assert Account.objects.get(pk=funded.pk).credit_balance == 10 - cost == charge.balance_after
    assert not task._state.adding  # a later save() updates the row


def test_a_short_balance_leaves_no_task_no_charge_and_no_debit(funded: Account) -> None:
    credits_set_balance(account=funded, balance=0, kind="adjustment", idempotency_key="drain")
    entries = CreditLedgerEntry.objects.for_account(funded).count()
    with pytest.raises(InsufficientCredits):
        enhance(funded)
    assert not Task.objects.for_account(funded).exists()
    assert CreditLedgerEntry.objects.for_account(funded).count() == entries
    assert Account.objects.get(pk=funded.pk).credit_balance == 0


def test_inside_a_transaction_it_leaves_the_work_to_the_transactional_path(
    funded: Account,
) -> None:
    task = Task(account=funded, operation=Operation.ENHANCE, queue="cpu", credits=1)
    with transaction.atomic():
        charge = credits_charge_with_row(
            account=funded,
            cost=1,
            idempotency_key="k",
            reference="r",
            row=task,
            charge_field="charge",
        )
    assert charge is None and task.pk is None
    assert Account.objects.get(pk=funded.pk).credit_balance == 10
