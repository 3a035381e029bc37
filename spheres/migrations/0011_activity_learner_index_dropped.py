"""The activity's own index on the learner goes: the unique constraint on (learner,
date) and the covering index on the same columns serve those lookups, and the activity
import writes every index of every row."""

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("spheres", "0010_support_views_school_holidays"),
    ]

    operations = [
        migrations.AlterField(
            model_name="dailyactivity",
            name="learner",
            field=models.ForeignKey(
                db_index=False,
                on_delete=django.db.models.deletion.CASCADE,
                related_name="activity",
                to="spheres.learner",
                verbose_name="apprenant",
            ),
        ),
    ]
