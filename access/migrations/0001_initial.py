"""ScopedAPIKey from records, its table renamed (records_scopedapikey) with its rows: see records 0014."""

import access.models
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
                    name='ScopedAPIKey',
                    fields=[
                        ('id', models.CharField(editable=False, max_length=150, primary_key=True, serialize=False, unique=True)),
                        ('prefix', models.CharField(editable=False, max_length=8, unique=True)),
                        ('hashed_key', models.CharField(editable=False, max_length=150)),
                        ('created', models.DateTimeField(auto_now_add=True, db_index=True)),
                        ('name', models.CharField(default=None, help_text='A free-form name for the API key. Need not be unique. 50 characters max.', max_length=50)),
                        ('revoked', models.BooleanField(blank=True, default=False, help_text='If the API key is revoked, clients cannot use it anymore. (This cannot be undone.)')),
                        ('expiry_date', models.DateTimeField(blank=True, help_text='Once API key expires, clients cannot use it anymore.', null=True, verbose_name='Expires')),
                        ('scopes', models.JSONField(default=list, help_text='What the key may do: match, read, enrol, manage, admin, or all.', validators=[access.models.validate_scopes])),
                        ('allowed_networks', models.JSONField(blank=True, default=list, help_text='Client networks the key is accepted from, e.g. 10.1.2.0/24; empty: anywhere.', validators=[access.models.validate_networks])),
                        ('collections', models.JSONField(blank=True, default=list, help_text='Ids of the collections the key may match, read and enrol in; empty: all of them.', validators=[access.models.validate_collection_ids])),
                        ('last_used_at', models.DateTimeField(blank=True, editable=False, null=True)),
                    ],
                    options={
                        'db_table': 'records_scopedapikey',
                        'verbose_name': 'API key',
                        'verbose_name_plural': 'API keys',
                        'ordering': ('-created',),
                        'abstract': False,
                    },
                ),
            ],
        ),
        migrations.AlterModelTable(name='scopedapikey', table=None),
    ]
