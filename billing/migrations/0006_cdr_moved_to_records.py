import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    """The call record now belongs to the records app (records 0001, same table): billing forgets it in
    its state only, and a rating points at records.Cdr. Nothing changes in the database."""

    dependencies = [
        ('billing', '0005_cdr_answered_by_segments_supervisions'),
        ('records', '0001_initial'),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(
                    model_name='rating',
                    name='cdr',
                    field=models.OneToOneField(db_constraint=False, on_delete=django.db.models.deletion.CASCADE, primary_key=True, related_name='rating', serialize=False, to='records.cdr'),
                ),
                migrations.DeleteModel(
                    name='Cdr',
                ),
            ],
            database_operations=[],
        ),
    ]
