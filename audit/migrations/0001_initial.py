"""AuditEvent from records, its table renamed (records_auditevent) with its rows: see records 0014."""

import django.utils.timezone
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
                    name='AuditEvent',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('at', models.DateTimeField(db_index=True, default=django.utils.timezone.now)),
                        ('actor_type', models.CharField(choices=[('api_key', 'API key'), ('user', 'user'), ('command', 'command'), ('anonymous', 'anonymous')], max_length=20)),
                        ('actor', models.CharField(blank=True, help_text='API key name (prefix), username or command', max_length=200)),
                        ('remote_addr', models.GenericIPAddressField(blank=True, null=True)),
                        ('action', models.CharField(choices=[('enrol', 'enrol a person'), ('add_photo', 'add a photo'), ('match', 'match a photo'), ('verify', 'verify a photo against a person or a photo'), ('delete_person', 'delete a person'), ('delete_photo', 'delete a photo'), ('create_key', 'create an API key'), ('rebuild', 'rebuild the index'), ('repair', 'repair (check_integrity)'), ('import', 'import photos'), ('revoke_key', 'revoke an API key'), ('list', 'list people'), ('read', 'read a person'), ('read_photo', 'download a photo or thumbnail'), ('export', "export a person's data"), ('update_person', 'change a person'), ('bulk_read', 'many people or photos read in a minute'), ('purge', 'purge expired audit events and probes'), ('login', 'log in'), ('login_failed', 'failed login'), ('lockout', 'login refused: locked out'), ('create_collection', 'create a collection'), ('delete_collection', 'delete a collection'), ('start_job', 'start a background job (re-embed, import)')], db_index=True, max_length=20)),
                        ('target', models.CharField(blank=True, db_index=True, help_text='id of the person, photo or key', max_length=100)),
                        ('status', models.PositiveSmallIntegerField(help_text='HTTP-style: 200/201 done, 4xx refused')),
                        ('detail', models.JSONField(blank=True, default=dict)),
                        ('probe_sha256', models.CharField(blank=True, max_length=64)),
                        ('probe', models.FileField(blank=True, max_length=255, upload_to='audit/probes/%Y/%m/')),
                    ],
                    options={
                        'db_table': 'records_auditevent',
                        'ordering': ['-at', '-id'],
                    },
                ),
            ],
        ),
        migrations.AlterModelTable(name='auditevent', table=None),
    ]
