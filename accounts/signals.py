"""Events accounts announces to the layers above it (which it must not import)."""

from django.dispatch import Signal

# Sent inside the transaction that creates an Account; kwargs: account. billing opens the account's
# plan and free allowance in response, so the two commit or roll back together.
account_created = Signal()
