"""What the facilities app announces to the apps above it, which hold state bound to a facility."""

from django.dispatch import Signal

# Sent inside ``facility_deactivate``'s transaction, with ``facility_id``; each receiver returns
# how many of its reviewers it cut off (accounts ends their sessions).
facility_deactivated = Signal()
