"""What the facilities app announces to the apps above it, which hold state bound to a facility."""

from django.dispatch import Signal

# Sent inside ``facility_deactivate``'s transaction, with ``facility_id``; each receiver returns
# how many of its reviewers it cut off (accounts ends their sessions).
facility_deactivated = Signal()

# Sent inside ``facility_sign_in_change``'s transaction when the accepted second factor changes,
# with ``facility_id``: a session signed in with a factor that no longer counts must not go on.
facility_second_factor_changed = Signal()
