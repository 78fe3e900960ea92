"""A node cluster's credential becomes a foreign key (it was a plain uuid)."""

import django.db.models.deletion
from django.db import migrations, models


def link_credentials(apps, schema_editor):
    """Point each cluster at the credential its uuid named, in its own organization."""
    NodeCluster = apps.get_model("nodes", "NodeCluster")
    Credential = apps.get_model("providers", "Credential")
    for cluster in NodeCluster.objects.exclude(credential_uuid=None).iterator():
        credential = Credential.objects.filter(
            organization_id=cluster.organization_id, uuid=cluster.credential_uuid
        ).first()
        if credential is not None:
            NodeCluster.objects.filter(pk=cluster.pk).update(credential=credential)


def unlink_credentials(apps, schema_editor):
    NodeCluster = apps.get_model("nodes", "NodeCluster")
    for cluster in NodeCluster.objects.exclude(credential=None).select_related("credential"):
        NodeCluster.objects.filter(pk=cluster.pk).update(credential_uuid=cluster.credential.uuid)


class Migration(migrations.Migration):
    dependencies = [
        ("nodes", "0005_node_cert_sha256"),
        ("providers", "0003_credential_allowed_options"),
    ]

    operations = [
        migrations.AddField(
            model_name="nodecluster",
            name="credential",
            field=models.ForeignKey(
                blank=True,
                null=True,
                on_delete=django.db.models.deletion.SET_NULL,
                related_name="node_clusters",
                to="providers.credential",
            ),
        ),
        migrations.RunPython(link_credentials, unlink_credentials),
        migrations.RemoveField(model_name="nodecluster", name="credential_uuid"),
    ]
