"""The ``pilot metrics`` reports: each one a JSON document built by SQL aggregates, and a table drawn from it.

``query`` owns the filter, ``timezones`` the local calendar, ``render`` the tables; one module per report
family builds its document. Nothing here is imported until a report runs.
"""
