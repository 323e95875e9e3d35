"""Checkpoints as C2SP signed notes, and the stored Merkle tree nodes proofs are read from."""

from django.db import migrations, models


def protect_tree_nodes(apps, schema_editor) -> None:
    """The nodes are append-only like the rest of the log (the same refusal function)."""
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute(
        "CREATE TRIGGER audit_treenode_no_update_delete BEFORE UPDATE OR DELETE ON audit_treenode "
        "FOR EACH ROW EXECUTE FUNCTION audit_refuse_change()"
    )
    schema_editor.execute(
        "CREATE TRIGGER audit_treenode_no_truncate BEFORE TRUNCATE ON audit_treenode "
        "FOR EACH STATEMENT EXECUTE FUNCTION audit_refuse_change()"
    )


def store_nodes_of_checkpointed_events(apps, schema_editor) -> None:
    """The nodes of the events earlier checkpoints covered, so proofs about them need no full read."""
    import hashlib

    from reviewsvc.audit.verify import STORED_NODE_LEVEL

    Checkpoint = apps.get_model("audit", "Checkpoint")
    AccessEvent = apps.get_model("audit", "AccessEvent")
    TreeNode = apps.get_model("audit", "TreeNode")
    last = Checkpoint.objects.order_by("-size").values_list("size", flat=True).first()
    if not last:
        return
    stack: list[bytes] = []
    nodes = []
    hashes = AccessEvent.objects.filter(seq__lte=last).order_by("seq").values_list("seq", "hash")
    for seq, digest in hashes.iterator(chunk_size=5000):
        node, size, level = bytes.fromhex(digest), seq, 0
        while not size & 1:
            node = hashlib.sha256(b"\x01" + stack.pop() + node).digest()
            size, level = size >> 1, level + 1
            if level >= STORED_NODE_LEVEL:
                nodes.append(TreeNode(level=level, index=(seq >> level) - 1, hash=node.hex()))
        stack.append(node)
    TreeNode.objects.bulk_create(nodes, batch_size=5000)


class Migration(migrations.Migration):

    dependencies = [
        ('audit', '0009_event_mac'),
    ]

    operations = [
        migrations.AddField(
            model_name='checkpoint',
            name='note',
            field=models.TextField(blank=True),
        ),
        migrations.CreateModel(
            name='TreeNode',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('level', models.SmallIntegerField()),
                ('index', models.BigIntegerField()),
                ('hash', models.CharField(max_length=64)),
            ],
            options={
                'constraints': [models.UniqueConstraint(fields=('level', 'index'), name='audit_tree_node_position')],
            },
        ),
        migrations.RunPython(protect_tree_nodes, migrations.RunPython.noop, elidable=False),
        migrations.RunPython(store_nodes_of_checkpointed_events, migrations.RunPython.noop, elidable=False),
    ]
