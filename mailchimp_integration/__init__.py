"""Mailchimp: the client wrapper, audiences and groups, their sync, admin pages, the sandbox."""
