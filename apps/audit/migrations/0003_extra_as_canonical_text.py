"""``extra`` becomes the canonical JSON text the hash covers; the append function takes text."""

import apps.audit.models
from django.db import migrations

APPEND_LOCK = 0x7265766965770001

APPEND_FUNCTION = f"""
CREATE FUNCTION audit_append(
    p_body bytea, p_time timestamptz, p_actor_kind text, p_actor_id text, p_actor_label text,
    p_action text, p_clip_id uuid, p_subject_pseudonym text, p_facility_id integer,
    p_facility_name text, p_client_address text, p_outcome text, p_reason text,
    p_request_id text, p_extra text,
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

OLD_SIGNATURE = "bytea, timestamptz, text, text, text, text, uuid, text, integer, text, text, text, text, text, jsonb"
NEW_SIGNATURE = OLD_SIGNATURE.replace("jsonb", "text")


def replace_function(apps, schema_editor) -> None:
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute(f"DROP FUNCTION audit_append({OLD_SIGNATURE})", params=None)
    schema_editor.execute(APPEND_FUNCTION, params=None)


def restore_function(apps, schema_editor) -> None:
    if schema_editor.connection.vendor != "postgresql":
        return
    from importlib import import_module

    previous = import_module("apps.audit.migrations.0002_append_function_and_triggers")
    schema_editor.execute(f"DROP FUNCTION audit_append({NEW_SIGNATURE})", params=None)
    schema_editor.execute(previous.APPEND_FUNCTION, params=None)


class Migration(migrations.Migration):
    dependencies = [("audit", "0002_append_function_and_triggers")]

    operations = [
        migrations.AlterField(
            model_name="accessevent",
            name="extra",
            field=apps.audit.models.CanonicalJSONField(blank=True, default=dict),
        ),
        migrations.RunPython(replace_function, restore_function, elidable=False),
    ]
