"""The service layer: the queries and the audited writes the routers and the CLI share.

One module per resource, as in FastAPI's full-stack template. Routers parse the request, call a
service and shape the answer; CLI commands do the same from the command line. Services take a
database session and plain values, raise :mod:`geo.errors` exceptions (stable codes, zh/en messages)
and never import FastAPI routing.

* :mod:`api.services.resources` — the registry's reads (lookup, filtered pages, skills) and the admin
  API's audited resource writes;
* :mod:`api.services.events` — the class and evaluation listings and the admin API's audited writes;
* :mod:`api.services.console` — the web console's queries;
* :mod:`api.services.skillcodes` — the 技能码 listing with health and scans, the zip export (admin API
  and CLI) and the scan report;
* :mod:`api.services.coverage` — cached coverage models and answers, the grid-cost check.

Every audited write, here, in the console's :mod:`geo.editing` and in :mod:`geo.skillcodes`, goes
through :class:`geo.audit.AuditedWrite` with one snapshot function per kind of row.
"""
