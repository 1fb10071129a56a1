"""What imaging tells the layers above it, without importing them."""

from django.dispatch import Signal

# Sent once a task's completion or failure is committed, with `task_id` and `task` (its row as
# read after the commit; webhooks listens).
task_finished = Signal()
