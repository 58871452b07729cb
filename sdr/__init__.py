"""sdr: the domain of an AI sales-development rep for WhatsApp.

This package holds the business logic and imports neither `tasks` nor `web`, nor Flask or
Celery. Services are typed functions that take their session and collaborators as arguments.
"""
