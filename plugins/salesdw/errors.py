"""Errors that mean "this delivery will not be loaded as it is": retrying does not help, a corrected
delivery does. The DAG fails such a task at once (no retries) and records the delivery as refused;
`salesdw land` exits non-zero. The message names the source, the delivered file, the line and what
was expected."""


class RefusedDeliveryError(ValueError):
    """A delivered file or record set the pipeline refuses; the previous batch of its day stays."""
