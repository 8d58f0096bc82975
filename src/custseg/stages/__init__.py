"""The stages between a source and a customer table: audit, features, quality, customer tables.

Each stage runs its SQL on an engine and hands its result on as a named relation or a small
Python object; none imports another stage's collectors (they are passed to it).
"""
