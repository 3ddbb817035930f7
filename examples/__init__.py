"""Example products served by the platform (``TENANT_APP=examples.guestbook:app``)."""
