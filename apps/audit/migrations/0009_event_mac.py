"""Every event carries a MAC under the key provider's event-mac key (reviewsvc/audit/chain.py).

Events written before this migration are MACed here, by the table owner running ``migrate``
with the key provider at hand; on PostgreSQL the append-only row trigger is dropped for that one
update and re-created in the same transaction (DDL is transactional), so no other session ever
sees the table unprotected. The append function gains the MAC argument.
"""

from functools import partial

from django.db import migrations, models

APPEND_LOCK = 0x7265766965770001
OLD_SIGNATURE = "bytea, timestamptz, text, text, text, text, uuid, text, integer, text, text, text, text, text, text"

APPEND_FUNCTION = f"""
CREATE FUNCTION audit_append(
    p_body bytea, p_time timestamptz, p_actor_kind text, p_actor_id text, p_actor_label text,
    p_action text, p_clip_id uuid, p_subject_pseudonym text, p_facility_id integer,
    p_facility_name text, p_client_address text, p_outcome text, p_reason text,
    p_request_id text, p_extra text, p_mac text,
    OUT o_seq bigint, OUT o_prev_hash text, OUT o_hash text
) LANGUAGE plpgsql VOLATILE AS $$
BEGIN
    -- Held until the caller's transaction ends: the next appender reads this row as its head.
    PERFORM pg_advisory_xact_lock({APPEND_LOCK});
    -- This transaction's commit does not wait for the WAL flush, so the lock is released at
    -- once; the caller waits for the flush after the commit (apps/audit/services.py).
    PERFORM set_config('synchronous_commit', 'off', true);
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
        prev_hash, hash, mac
    ) VALUES (
        o_seq, p_time, p_actor_kind, p_actor_id, p_actor_label, p_action, p_clip_id,
        p_subject_pseudonym, p_facility_id, p_facility_name, p_client_address, p_outcome,
        p_reason, p_request_id, p_extra, o_prev_hash, o_hash, p_mac
    );
END
$$;
"""

ROW_TRIGGER = (
    "CREATE TRIGGER audit_accessevent_no_update_delete BEFORE UPDATE OR DELETE ON audit_accessevent "
    "FOR EACH ROW EXECUTE FUNCTION audit_refuse_change()"
)


def mac_existing_events(apps, schema_editor) -> None:
    from apps.common.keys import key_provider
    from reviewsvc.audit import chain

    AccessEvent = apps.get_model("audit", "AccessEvent")
    pending = AccessEvent.objects.filter(mac="").order_by("seq")
    if not pending.exists():
        return
    mac = partial(key_provider().mac, chain.MAC_PURPOSE)
    postgres = schema_editor.connection.vendor == "postgresql"
    if postgres:
        schema_editor.execute("DROP TRIGGER audit_accessevent_no_update_delete ON audit_accessevent")
    for event in pending.iterator(chunk_size=2000):
        fields = {name: getattr(event, name) for name in chain.BODY_FIELDS}
        AccessEvent.objects.filter(seq=event.seq).update(mac=chain.event_mac(mac, chain.encode_body(fields)))
    if postgres:
        schema_editor.execute(ROW_TRIGGER)


def replace_function(apps, schema_editor) -> None:
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(f"DROP FUNCTION audit_append({OLD_SIGNATURE})")
        schema_editor.execute(APPEND_FUNCTION, params=None)


def restore_function(apps, schema_editor) -> None:
    if schema_editor.connection.vendor == "postgresql":
        from importlib import import_module

        previous = import_module("apps.audit.migrations.0005_append_commits_without_waiting_for_the_flush")
        schema_editor.execute(f"DROP FUNCTION audit_append({OLD_SIGNATURE}, text)")
        schema_editor.execute(previous.APPEND_FUNCTION, params=None)


class Migration(migrations.Migration):
    dependencies = [("audit", "0008_action_index_serves_prefixes")]

    operations = [
        migrations.AddField(model_name="accessevent", name="mac", field=models.CharField(default="", max_length=96)),
        migrations.RunPython(mac_existing_events, migrations.RunPython.noop, elidable=False),
        migrations.AlterField(model_name="accessevent", name="mac", field=models.CharField(max_length=96, unique=True)),
        migrations.RunPython(replace_function, restore_function, elidable=False),
    ]
