"""The nginx configuration make cluster-test runs: valid for Debian's nginx, round robin, no stickiness."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from tools.cluster import NGINX, NODES, PROXY_SNIPPET, nginx_conf

PORTS = {"a": 18001, "b": 18002, "lb": 18000, "pin-a": 18011, "pin-b": 18012, "folder": 18003, "pin-folder": 18013}


def test_the_balanced_port_spreads_over_both_nodes_and_each_node_has_a_pinned_port():
    conf = nginx_conf(Path("/tmp/cluster"), PORTS, [*NODES, "folder"])

    balanced = re.search(r"upstream reviewsvc_nodes \{(.*?)\}", conf, re.S).group(1)
    assert re.findall(r"server 127\.0\.0\.1:(\d+);", balanced) == ["18001", "18002"]
    for sticky in ("ip_hash", "hash ", "sticky", "least_conn", "random"):
        assert sticky not in balanced
    assert "listen 127.0.0.1:18000;" in conf
    for name in (*NODES, "folder"):
        assert f"upstream reviewsvc_{name} {{ server 127.0.0.1:{PORTS[name]}; }}" in conf
        assert f"listen 127.0.0.1:{PORTS[f'pin-{name}']};" in conf
        assert f"127.0.0.1:{PORTS[name]} {name};" in conf
    assert conf.count(f"include {PROXY_SNIPPET};") == 4


def test_debian_nginx_accepts_it(tmp_path):
    if not Path(NGINX).exists():
        pytest.skip("needs nginx (Debian package nginx-light; .ci/run installs it)")
    (tmp_path / "nginx.conf").write_text(nginx_conf(tmp_path, PORTS, list(NODES)))

    result = subprocess.run(
        [NGINX, "-t", "-c", str(tmp_path / "nginx.conf"), "-p", str(tmp_path)], capture_output=True, text=True
    )

    assert result.returncode == 0, result.stderr
