"""A local, stateful Mailchimp Marketing API 3.0 for tests, benches and `make run` (no Django)."""
