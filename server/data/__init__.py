"""Data access: the queries and upserts of every API resource, one module per resource.

Every function that reads for a caller takes the caller's ``Scope`` as an argument and applies it
in its own ``WHERE`` clause, so the scope rule of each resource can be read where its query is.
Views (``*_view``) select exactly the fields of the resource's response model, labelled with the
model's field names, so the API builds its answers with ``Model.model_validate(row)``.
"""
