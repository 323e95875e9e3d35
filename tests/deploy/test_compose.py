"""The shipped stack matches the documented roles: checked by reading docker-compose.yml, the
database init script and the Dockerfile (no container engine runs in the suite)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import yaml
from django.core.management import call_command
from django.db import connection

from apps.audit.management.commands.grant_app_role import app_role_grants
from tests.conftest import requires_postgres

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
SERVICES = COMPOSE["services"]
INIT_SCRIPT = ROOT / "deploy" / "postgres" / "10-roles.sh"
APP_SERVICES = ("web", "worker", "beat", "sealer")


def database_user(service: str) -> str:
    return urlsplit(SERVICES[service]["environment"]["DATABASE_URL"]).username


def documented_grants() -> list[str]:
    """The GRANT and REVOKE statements of docs/AUDIT.md's role block, one line each."""
    text = (ROOT / "docs" / "AUDIT.md").read_text()
    block = text.split("```sql", 1)[1].split("```", 1)[0]
    statements = " ".join(line for line in block.splitlines() if not line.strip().startswith("--")).split(";")
    return [" ".join(s.split()) for s in statements if s.strip().startswith(("GRANT", "REVOKE"))]


def test_migrations_run_as_the_owner_and_web_and_worker_as_the_app_role():
    assert database_user("migrate") == "reviewsvc_owner"
    assert {database_user(name) for name in APP_SERVICES} == {"reviewsvc_app"}
    for name in ("migrate", *APP_SERVICES):
        environment = SERVICES[name]["environment"]
        secret = environment["DATABASE_PASSWORD_FILE"].removeprefix("/run/secrets/")
        assert secret in SERVICES[name]["secrets"]
        assert ":" not in urlsplit(environment["DATABASE_URL"]).netloc.split("@")[0]  # no password in the URL
    assert "db_owner_password" not in SERVICES["web"]["secrets"]


def test_the_migrate_step_grants_the_app_role_after_migrating():
    command = " ".join(SERVICES["migrate"]["command"])
    assert re.search(r"manage\.py migrate --noinput && python manage\.py grant_app_role reviewsvc_app", command)
    for name in APP_SERVICES:
        assert SERVICES[name]["depends_on"]["migrate"] == {"condition": "service_completed_successfully"}


def test_the_database_creates_both_roles_and_trusts_no_connection_without_a_password():
    db = SERVICES["db"]
    assert "POSTGRES_HOST_AUTH_METHOD" not in db["environment"]
    assert "scram-sha-256" in db["environment"]["POSTGRES_INITDB_ARGS"]
    assert "./deploy/postgres/10-roles.sh:/docker-entrypoint-initdb.d/10-roles.sh:ro" in db["volumes"]
    script = INIT_SCRIPT.read_text()
    assert os.access(INIT_SCRIPT, os.X_OK)
    assert "CREATE ROLE reviewsvc_owner LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE" in script
    assert "CREATE ROLE reviewsvc_app LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOINHERIT" in script
    assert "ALTER SCHEMA public OWNER TO reviewsvc_owner;" in script
    assert 'ALTER DATABASE :"db" OWNER TO reviewsvc_owner;' in script


def test_every_grant_docs_audit_lists_is_applied_to_the_app_role():
    applied = [statement.replace('"', "") for statement in app_role_grants("reviewsvc_app")]
    applied_text = " ".join(applied) + " " + " ".join(INIT_SCRIPT.read_text().split())
    for statement in documented_grants():
        if statement.startswith(("GRANT EXECUTE ON FUNCTION audit_append", "GRANT EXECUTE ON FUNCTION audit_seal")):
            assert "GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA public TO reviewsvc_app" in applied
            continue
        assert statement in applied_text, statement


def test_an_unusual_role_name_is_refused():
    with pytest.raises(ValueError, match="plain role name"):
        app_role_grants('app"; DROP TABLE x; --')


@requires_postgres
@pytest.mark.django_db
def test_after_grant_app_role_the_app_role_reads_and_appends_to_the_log_and_nothing_more():
    # CREATE ROLE is transactional: the test's transaction rolls the role back with everything else.
    with connection.cursor() as cursor:
        cursor.execute("CREATE ROLE rs_test_app_role NOLOGIN")
    call_command("grant_app_role", "rs_test_app_role", stdout=open(os.devnull, "w"))  # noqa: SIM115
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT has_table_privilege('rs_test_app_role', 'audit_accessevent', 'INSERT'),"
            " has_table_privilege('rs_test_app_role', 'audit_accessevent', 'UPDATE'),"
            " has_table_privilege('rs_test_app_role', 'audit_accessevent', 'DELETE'),"
            " has_table_privilege('rs_test_app_role', 'audit_checkpoint', 'TRUNCATE'),"
            " has_table_privilege('rs_test_app_role', 'clips_clip', 'UPDATE')"
        )
        assert cursor.fetchone() == (True, False, False, False, True)
        cursor.execute(
            "SELECT has_table_privilege('rs_test_app_role', 'audit_pendingevent', 'INSERT'),"
            " has_table_privilege('rs_test_app_role', 'audit_pendingevent', 'UPDATE'),"
            " has_table_privilege('rs_test_app_role', 'audit_pendingevent', 'DELETE'),"
            " has_table_privilege('rs_test_app_role', 'audit_rejectedevent', 'SELECT'),"
            " has_table_privilege('rs_test_app_role', 'audit_rejectedevent', 'INSERT'),"
            " has_function_privilege('rs_test_app_role', 'audit_seal(bigint[], bigint[])', 'EXECUTE'),"
            " has_function_privilege('public', 'audit_seal(bigint[], bigint[])', 'EXECUTE')"
        )
        # The sealer runs as the app role: it calls audit_seal, which alone moves pending rows.
        assert cursor.fetchone() == (True, False, False, True, False, True, False)


def test_the_web_healthcheck_asks_for_readyz_on_the_internal_port_with_an_allowed_host():
    check = SERVICES["web"]["healthcheck"]["test"]
    assert check[:3] == ["CMD", "python", "-c"]
    assert "http://127.0.0.1:8000/readyz" in check[3]
    assert "os.environ['ALLOWED_HOSTS'].split(',')[0]" in check[3]


def test_under_production_settings_the_health_endpoints_answer_plain_http_with_the_compose_host(tmp_path):
    host = re.search(r"\$\{ALLOWED_HOSTS:-([^}]+)\}", (ROOT / "docker-compose.yml").read_text()).group(1)
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings.production",
        "SECRET_KEY": "compose-healthcheck-test-" + "x" * 40,
        "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
        "ALLOWED_HOSTS": host,
        "REVIEWSVC_KEY_FILE": str(tmp_path / "keys.json"),
        "REVIEWSVC_VAR_DIR": str(tmp_path),
    }
    env.pop("REDIS_URL", None)
    probe = (
        "import django, json; django.setup(); from django.test import Client; c = Client();"
        f"print(json.dumps([c.get(p, HTTP_HOST={host!r}).status_code for p in ('/healthz', '/readyz', '/login/')]))"
    )
    done = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    healthz, readyz, login = json.loads(done.stdout.strip().splitlines()[-1])
    assert healthz == 200
    assert readyz in {200, 503}  # answered, not redirected (503: no database or keys in this probe)
    assert login == 301  # everything else still goes to https


def test_the_image_serves_through_the_shipped_launcher():
    dockerfile = (ROOT / "Dockerfile").read_text()
    command = json.loads(re.search(r"^CMD (\[.*?\])$", dockerfile, re.S | re.M).group(1).replace("\\\n", ""))
    assert command[:3] == ["python", "-m", "config.server"]
