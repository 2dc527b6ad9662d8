"""A local, stateful Mailchimp Marketing API 3.0 for tests, benches and `make run` (no Django)."""
from pathlib import Path

# The contract the sandbox is checked against, shipped in the package (see spec/README.md).
OPENAPI_SPEC = Path(__file__).with_name("spec") / (
    "mailchimp-marketing-3.0.85.openapi.mergefields-any.json")
