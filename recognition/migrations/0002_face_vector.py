from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('recognition', '0001_initial'),
    ]

    operations = [
        migrations.CreateModel(
            name='FaceVector',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('model_key', models.CharField(max_length=200)),
                ('vector_id', models.BigIntegerField()),
                ('owner_id', models.UUIDField(db_index=True)),
                ('generation', models.BigIntegerField()),
                ('embedding', models.BinaryField()),
            ],
            options={
                'indexes': [models.Index(fields=['model_key', 'generation'], name='face_vector_catch_up')],
                'constraints': [models.UniqueConstraint(fields=('model_key', 'vector_id'), name='unique_vector_id_per_model')],
            },
        ),
    ]
