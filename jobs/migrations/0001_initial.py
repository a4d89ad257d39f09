"""Job from records, its table renamed (records_job) with its rows: see records 0014."""

import uuid
from django.db import migrations, models


class Migration(migrations.Migration):

    initial = True

    dependencies = [
        ("records", "0013_key_collections_by_id"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name='Job',
                    fields=[
                        ('id', models.UUIDField(default=uuid.uuid4, editable=False, primary_key=True, serialize=False)),
                        ('kind', models.CharField(choices=[('reembed', 're-embed every photo and rebuild the index'), ('import', 'enrol photos uploaded on the pages')], max_length=20)),
                        ('model_key', models.CharField(help_text='The model the photos are embedded with.', max_length=100)),
                        ('state', models.CharField(choices=[('queued', 'queued'), ('running', 'running'), ('succeeded', 'succeeded'), ('failed', 'failed')], db_index=True, default='queued', max_length=20)),
                        ('done', models.PositiveIntegerField(default=0, help_text='Photos done so far, refused or skipped ones included.')),
                        ('total', models.PositiveIntegerField(default=0, help_text='Photos to do, counted when the job was asked for.')),
                        ('options', models.JSONField(blank=True, default=dict, help_text="What was asked (an import's name, photos, ...).")),
                        ('resume_after', models.CharField(blank=True, max_length=100)),
                        ('result', models.JSONField(blank=True, null=True)),
                        ('error', models.TextField(blank=True)),
                        ('requested_by', models.JSONField(default=dict, help_text="The audit log's actor of the request.")),
                        ('task_id', models.CharField(blank=True, help_text='The django-tasks result running it.', max_length=64)),
                        ('attempts', models.PositiveSmallIntegerField(default=0, help_text='Times a worker started it (resumes included).')),
                        ('worker', models.CharField(blank=True, help_text='host/pid/start time of the process running it.', max_length=200)),
                        ('heartbeat_at', models.DateTimeField(blank=True, help_text='When the worker last wrote its progress.', null=True)),
                        ('created_at', models.DateTimeField(auto_now_add=True)),
                        ('started_at', models.DateTimeField(blank=True, null=True)),
                        ('finished_at', models.DateTimeField(blank=True, null=True)),
                    ],
                    options={
                        'db_table': 'records_job',
                        'ordering': ['-created_at'],
                        'constraints': [models.UniqueConstraint(condition=models.Q(('kind', 'reembed'), ('state__in', ['queued', 'running'])), fields=('model_key',), name='one_active_reembed_per_model_key')],
                    },
                ),
            ],
        ),
        migrations.AlterModelTable(name='job', table=None),
    ]
