"""Development services: an embedded PostgreSQL and Redis under var/ around a command.

`python -m devservices run -- CMD...` is what `make run` uses, `test` what `make test` uses;
see `devservices.__main__` for the commands and `devservices.layout` for where data lives.
"""
