"""Planners' analytics: the population surface, coverage, access (2SFCA), site selection and exports.

Built on the travel-time engine: data flows ``geo`` → ``isochrones`` → ``planning`` → ``api``; nothing
here imports ``api``, and nothing in ``geo`` or ``isochrones`` imports ``planning``.
"""
