"""The access log's cryptography, free of any framework: encoding, chain, Merkle tree, checks.

``verify_audit_log --export FILE --checkpoint FILE`` runs on this package alone, so an outside
auditor needs the export, a checkpoint and the public key — not the database or Django.
"""
