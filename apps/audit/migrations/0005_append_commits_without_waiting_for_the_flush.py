"""The append function switches its transaction to asynchronous commit, and hashes as a Merkle leaf.

The event hash gains RFC 6962's leaf prefix 0x00 (reviewsvc/audit/chain.py), so it is the
record's leaf hash in the checkpoints' tree and verification hashes each record once.

The append lock is held until the caller's transaction ends; with a synchronous commit that
includes the WAL flush (milliseconds on slow disks), so appends would queue behind each other's
fsync instead of sharing one (group commit). With ``synchronous_commit = off`` for the
transaction, the commit returns — and releases the lock — as soon as the commit record is
written; ``event_record`` then waits for durability after the commit with a flush barrier (a
one-statement transaction that is committed synchronously: its flush covers every earlier
commit, and concurrent barriers share one flush). The caller continues only once its action and
event are on disk, exactly as with a synchronous commit.
"""

from django.db import migrations

APPEND_LOCK = 0x7265766965770001

APPEND_FUNCTION = f"""
CREATE OR REPLACE FUNCTION audit_append(
    p_body bytea, p_time timestamptz, p_actor_kind text, p_actor_id text, p_actor_label text,
    p_action text, p_clip_id uuid, p_subject_pseudonym text, p_facility_id integer,
    p_facility_name text, p_client_address text, p_outcome text, p_reason text,
    p_request_id text, p_extra text,
    OUT o_seq bigint, OUT o_prev_hash text, OUT o_hash text
) LANGUAGE plpgsql VOLATILE AS $$
BEGIN
    -- Held until the caller's transaction ends: the next appender reads this row as its head.
    PERFORM pg_advisory_xact_lock({APPEND_LOCK});
    -- This transaction's commit does not wait for the WAL flush, so the lock is released at
    -- once; the caller waits for the flush after the commit (apps/audit/services.py).
    PERFORM set_config('synchronous_commit', 'off', true);
    -- A volatile function takes a fresh snapshot per statement (READ COMMITTED), so this sees
    -- the head the previous lock holder committed.
    SELECT seq, hash INTO o_seq, o_prev_hash FROM audit_accessevent ORDER BY seq DESC LIMIT 1;
    IF NOT FOUND THEN
        o_seq := 1;
        o_prev_hash := repeat('0', 64);
    ELSE
        o_seq := o_seq + 1;
    END IF;
    -- reviewsvc/audit/chain.py: SHA-256(0x00 || 0x01 || u64be(seq) || prev_hash || body)
    o_hash := encode(sha256('\\x0001'::bytea || int8send(o_seq) || decode(o_prev_hash, 'hex') || p_body), 'hex');
    INSERT INTO audit_accessevent (
        seq, time, actor_kind, actor_id, actor_label, action, clip_id, subject_pseudonym,
        facility_id, facility_name, client_address, outcome, reason, request_id, extra,
        prev_hash, hash
    ) VALUES (
        o_seq, p_time, p_actor_kind, p_actor_id, p_actor_label, p_action, p_clip_id,
        p_subject_pseudonym, p_facility_id, p_facility_name, p_client_address, p_outcome,
        p_reason, p_request_id, p_extra, o_prev_hash, o_hash
    );
END
$$;
"""


def replace_function(apps, schema_editor) -> None:
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(APPEND_FUNCTION, params=None)


def restore_function(apps, schema_editor) -> None:
    if schema_editor.connection.vendor == "postgresql":
        from importlib import import_module

        previous = import_module("apps.audit.migrations.0003_extra_as_canonical_text")
        schema_editor.execute(
            previous.APPEND_FUNCTION.replace("CREATE FUNCTION", "CREATE OR REPLACE FUNCTION"), params=None
        )


class Migration(migrations.Migration):
    dependencies = [("audit", "0004_checkpoint_frontier")]

    operations = [migrations.RunPython(replace_function, restore_function, elidable=False)]
