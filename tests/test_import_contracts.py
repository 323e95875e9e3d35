"""The import contracts in .importlinter hold on this tree, and each refuses a wrong-way import.

``make lint`` runs ``lint-imports``; these tests run it on a copy of the packages with one bad
import added per contract, so a contract that could no longer fail is noticed.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")
PACKAGES = ("apps", "config", "reviewsvc", "tools")

pytestmark = pytest.mark.skipif(not LINT_IMPORTS.exists(), reason="import-linter is not installed")


def lint_imports(tree: Path) -> str:
    result = subprocess.run(
        [str(LINT_IMPORTS), "--no-cache"], cwd=tree, capture_output=True, text=True, timeout=120, check=False
    )
    return result.stdout + result.stderr


def copy_of_the_packages(target: Path) -> Path:
    for package in PACKAGES:
        shutil.copytree(ROOT / package, target / package, ignore=shutil.ignore_patterns("__pycache__", "migrations"))
    shutil.copy(ROOT / ".importlinter", target / ".importlinter")
    return target


# One bad import per contract: (file, code prepended to it, contract name, the line reported).
OFFENCES = [
    (
        "apps/common/offender.py",
        "from apps.privacy import services\n",
        "Each app uses only the apps below it",
        "apps.common.offender -> apps.privacy.services",
    ),
    (
        "apps/audit/offender.py",
        "def f():\n    from apps.accounts.models import ApiKey\n",
        "Each app uses only the apps below it",
        "apps.audit.offender -> apps.accounts.models",
    ),
    (
        "apps/common/health_offender.py",
        "from config.celery import app\n",
        "config wires apps, apps use the framework-free core, never the other way",
        "apps.common.health_offender -> config.celery",
    ),
    (
        "reviewsvc/offender.py",
        "from django.conf import settings\n",
        "reviewsvc is framework-free",
        "reviewsvc.offender -> django",
    ),
    (
        "apps/reviews/offender.py",
        "from apps.clips.audio import clip_audio_chunks\n",
        "Only delivery to the leasing reviewer and the subject's export decrypt clip",
        "apps.reviews.offender -> apps.clips.audio",
    ),
    (
        "apps/reviews/task_offender.py",
        "from apps.reviews.tasks import expire_leases\n",
        "Tasks are imported only by their app's services",
        "apps.reviews.task_offender -> apps.reviews.tasks",
    ),
    (
        "apps/reviews/tasks.py",
        "from apps.reviews.services import assignments_expire_due\n",
        "A tasks module imports the project only inside its tasks' bodies",
        "apps.reviews.tasks imports apps.reviews.services at module level",
    ),
]


@pytest.fixture(scope="module")
def report_with_offences(tmp_path_factory) -> str:
    tree = copy_of_the_packages(tmp_path_factory.mktemp("offended"))
    for module, source, _, _ in OFFENCES:
        path = tree / module
        path.write_text(source + (path.read_text() if path.exists() else ""))
    return lint_imports(tree)


def test_every_contract_is_kept_on_this_tree(tmp_path):
    assert "Contracts: 6 kept, 0 broken." in lint_imports(copy_of_the_packages(tmp_path))


def test_each_contract_breaks_on_its_wrong_way_import(report_with_offences):
    assert "Contracts: 0 kept, 6 broken." in report_with_offences


@pytest.mark.parametrize(("module", "source", "contract", "offence"), OFFENCES, ids=[o[0] for o in OFFENCES])
def test_a_wrong_way_import_is_named_under_its_contract(report_with_offences, module, source, contract, offence):
    broken = report_with_offences.split("Broken contracts")[1]
    section = broken.split(contract)[1]
    for other in {name for _, _, name, _ in OFFENCES} - {contract}:
        section = section.split(other)[0]
    assert offence in section
