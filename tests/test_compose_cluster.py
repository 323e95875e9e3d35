"""docker-compose.yml's production shape: an object store and two stateless web replicas behind nginx."""

from __future__ import annotations

from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
SERVICES = COMPOSE["services"]


def test_every_app_container_stores_blobs_in_the_s3_bucket_of_the_object_store():
    for name in ("web", "worker", "beat", "migrate"):
        environment = SERVICES[name]["environment"]
        assert environment["REVIEWSVC_STORAGE"] == "storages.backends.s3.S3Storage", name
        assert environment["AWS_S3_ENDPOINT_URL"] == "http://objects:8333", name
        assert environment["AWS_STORAGE_BUCKET_NAME"] == "reviewsvc", name
    # The others wait for migrate, which waits for the bucket.
    assert SERVICES["migrate"]["depends_on"]["objects-bucket"] == {"condition": "service_completed_successfully"}


def test_the_object_store_is_seaweedfs_with_a_signed_s3_identity_and_its_bucket_made_before_the_app():
    objects = SERVICES["objects"]
    assert objects["image"].startswith("chrislusf/seaweedfs:")
    assert "-s3.config=/run/secrets/s3.json" in objects["command"]
    assert "ports" not in objects  # reachable from the app network only
    assert "s3.bucket.create -name reviewsvc" in " ".join(SERVICES["objects-bucket"]["entrypoint"])
    assert COMPOSE["secrets"]["s3.json"] == {"file": "./secrets/s3.json"}


def test_two_web_replicas_sit_behind_nginx_which_alone_publishes_a_port():
    assert SERVICES["web"]["deploy"]["replicas"] == 2
    assert "ports" not in SERVICES["web"]
    proxy = SERVICES["proxy"]
    assert proxy["image"].startswith("nginx:")
    assert proxy["ports"] == ["8000:8000"]
    assert proxy["depends_on"]["web"] == {"condition": "service_healthy"}
    mounted = proxy["volumes"][0].split(":")[0]
    nginx = (ROOT / mounted).read_text()
    assert "server web:8000;" in nginx
    # Round robin: no replica owns a client.
    assert "ip_hash" not in nginx
    assert "sticky" not in nginx
    assert "proxy_buffering off;" in nginx
    assert [name for name, service in SERVICES.items() if "ports" in service] == ["proxy"]
