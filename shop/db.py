"""Database helpers Django lacks: a bulk update whose cost does not grow with rows × fields,
and a view that needs no health check before its one write.

Django's `QuerySet.bulk_update` builds a `CASE WHEN pk = … THEN …` expression for every field
of every row and resolves each one in Python (Django ticket #31202). For a page of a thousand
subscriptions and sixteen fields, that Python work took four fifths of the Celery worker's
time while it applied Mailchimp's webhook events (py-spy on bench/webhooks.py). On PostgreSQL
this module sends the same update as one `UPDATE … FROM (VALUES …)` per batch. Each value is
prepared by its model field exactly as `save()` and `bulk_update` prepare it. On any other
database (SQLite, `make run`'s default) it is Django's own `bulk_update`.

It has `bulk_update`'s semantics: the given fields of the given saved objects, matched by
primary key, with no signals and no `auto_now`.
"""
from __future__ import annotations

from collections.abc import Iterable
from functools import wraps

from django.db import (
    DEFAULT_DB_ALIAS,
    InterfaceError,
    OperationalError,
    connections,
    router,
    transaction,
)

# PostgreSQL's wire protocol takes at most 65,535 parameters in one statement.
MAX_PARAMETERS = 65_535


def bulk_update(model, objs: Iterable, fields: list[str], *, batch_size: int = 1000) -> int:
    """Write `fields` of each of `objs` (saved instances of `model`); the rows updated."""
    objs = list(objs)
    if not objs:
        return 0
    alias = router.db_for_write(model)
    connection = connections[alias]
    if connection.vendor != "postgresql":
        return model._default_manager.db_manager(alias).bulk_update(objs, fields,
                                                                    batch_size=batch_size)
    opts = model._meta
    pk = opts.pk
    columns = [opts.get_field(name) for name in fields]
    if any(not f.concrete or f.many_to_many or f.primary_key for f in columns):
        raise ValueError("bulk_update() can only write concrete fields other than the key.")
    if any(obj.pk is None for obj in objs):
        raise ValueError("bulk_update() needs saved objects.")
    quote = connection.ops.quote_name
    names = [quote(f.column) for f in [pk, *columns]]
    casts = [f"%s::{db_type}" if (db_type := f.db_type(connection)) else "%s"
             for f in [pk, *columns]]
    row = "(" + ", ".join(casts) + ")"
    table = quote(opts.db_table)
    assignments = ", ".join(f"{name} = v.{name}" for name in names[1:])
    size = max(1, min(batch_size, MAX_PARAMETERS // len(names)))
    updated = 0
    with transaction.atomic(using=alias, savepoint=False), connection.cursor() as cursor:
        for start in range(0, len(objs), size):
            batch = objs[start:start + size]
            params: list = []
            for obj in batch:
                params.append(pk.get_db_prep_value(obj.pk, connection))
                params.extend(f.get_db_prep_save(getattr(obj, f.attname), connection)
                              for f in columns)
            cursor.execute(
                f"UPDATE {table} SET {assignments} FROM (VALUES "
                f"{', '.join([row] * len(batch))}) AS v({', '.join(names)}) "
                f"WHERE {table}.{names[0]} = v.{names[0]}",
                params,
            )
            updated += cursor.rowcount
    return updated


def retried_on_a_dead_connection(view):
    """For a view whose database work is safe to do twice (Mailchimp's webhook POST: one
    INSERT; an event stored twice is applied once): no health check before it, and a dead
    connection is instead caught when it is used.

    With CONN_HEALTH_CHECKS, Django sends a `SELECT 1` before the first query of every
    request. Under load, that round trip took as long as the view's one INSERT (py-spy on
    bench/webhooks.py). Here the view runs without it. If the connection turns out dead
    (the database restarted, the socket dropped), it is closed and the view runs once more
    on a new one. Any other database error is raised as it came.
    """
    @wraps(view)
    def wrapper(request, *args, **kwargs):
        connection = connections[DEFAULT_DB_ALIAS]
        connection.health_check_done = True  # Django's own flag: checked for this request
        try:
            return view(request, *args, **kwargs)
        except (InterfaceError, OperationalError):
            if connection.in_atomic_block or (connection.connection is not None
                                              and connection.is_usable()):
                raise
            connection.close()
            return view(request, *args, **kwargs)

    return wrapper
