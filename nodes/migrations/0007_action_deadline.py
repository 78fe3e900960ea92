from datetime import timedelta

from django.db import migrations, models
from django.db.models import F


def running_actions_get_a_deadline(apps, schema_editor):
    """Actions running when this is applied get the longest deadline any verb has: the reaper
    then fails them too if no worker finishes them."""
    Action = apps.get_model("nodes", "Action")
    Action.objects.filter(
        state__in=["In progress", "Canceling"], deadline=None, start_date__isnull=False
    ).update(deadline=F("start_date") + timedelta(hours=1))


class Migration(migrations.Migration):
    dependencies = [
        ("nodes", "0006_nodecluster_credential_fk"),
    ]

    operations = [
        migrations.AddField(
            model_name="action",
            name="deadline",
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.RunPython(running_actions_get_a_deadline, migrations.RunPython.noop),
    ]
