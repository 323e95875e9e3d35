"""PostgreSQL only: the one-round-trip append function and the append-only triggers.

Raw SQL triggers, not ``pgtrigger.Protect``: pgtrigger can be switched off from a session, a
plain trigger only by the table's owner (``ALTER TABLE ... DISABLE TRIGGER``) — and production
runs the application under a role that does not own these tables (docs/AUDIT.md).
"""

from django.db import migrations

# Any fixed 64-bit number; every appender takes the same advisory lock.
APPEND_LOCK = 0x7265766965770001

APPEND_FUNCTION = f"""
CREATE OR REPLACE FUNCTION audit_append(
    p_body bytea, p_time timestamptz, p_actor_kind text, p_actor_id text, p_actor_label text,
    p_action text, p_clip_id uuid, p_subject_pseudonym text, p_facility_id integer,
    p_facility_name text, p_client_address text, p_outcome text, p_reason text,
    p_request_id text, p_extra jsonb,
    OUT o_seq bigint, OUT o_prev_hash text, OUT o_hash text
) LANGUAGE plpgsql VOLATILE AS $$
BEGIN
    -- Held until the caller's transaction ends: the next appender reads this row as its head.
    PERFORM pg_advisory_xact_lock({APPEND_LOCK});
    -- A volatile function takes a fresh snapshot per statement (READ COMMITTED), so this sees
    -- the head the previous lock holder committed.
    SELECT seq, hash INTO o_seq, o_prev_hash FROM audit_accessevent ORDER BY seq DESC LIMIT 1;
    IF NOT FOUND THEN
        o_seq := 1;
        o_prev_hash := repeat('0', 64);
    ELSE
        o_seq := o_seq + 1;
    END IF;
    -- reviewsvc/audit/chain.py: SHA-256(0x01 || u64be(seq) || prev_hash || body)
    o_hash := encode(sha256('\\x01'::bytea || int8send(o_seq) || decode(o_prev_hash, 'hex') || p_body), 'hex');
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

REFUSE_FUNCTION = """
CREATE OR REPLACE FUNCTION audit_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'the access log is append-only: % on % refused', TG_OP, TG_TABLE_NAME
        USING ERRCODE = 'insufficient_privilege';
END
$$;
"""

PROTECTED_TABLES = ("audit_accessevent", "audit_checkpoint")


def install(apps, schema_editor) -> None:
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute(APPEND_FUNCTION, params=None)
    schema_editor.execute(REFUSE_FUNCTION, params=None)
    for table in PROTECTED_TABLES:
        schema_editor.execute(
            f"CREATE TRIGGER {table}_no_update_delete BEFORE UPDATE OR DELETE ON {table} "
            "FOR EACH ROW EXECUTE FUNCTION audit_refuse_change()"
        )
        schema_editor.execute(
            f"CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table} "
            "FOR EACH STATEMENT EXECUTE FUNCTION audit_refuse_change()"
        )


def uninstall(apps, schema_editor) -> None:
    if schema_editor.connection.vendor != "postgresql":
        return
    for table in PROTECTED_TABLES:
        schema_editor.execute(f"DROP TRIGGER IF EXISTS {table}_no_update_delete ON {table}")
        schema_editor.execute(f"DROP TRIGGER IF EXISTS {table}_no_truncate ON {table}")
    schema_editor.execute("DROP FUNCTION IF EXISTS audit_refuse_change()")
    schema_editor.execute("DROP FUNCTION IF EXISTS audit_append(bytea, timestamptz, text, text, text, text, uuid, text, integer, text, text, text, text, text, jsonb)")


class Migration(migrations.Migration):
    dependencies = [("audit", "0001_initial")]

    operations = [migrations.RunPython(install, uninstall, elidable=False)]
