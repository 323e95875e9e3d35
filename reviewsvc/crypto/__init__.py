"""Encryption at rest: segmented AES-256-GCM blobs, envelope keys and key providers."""
